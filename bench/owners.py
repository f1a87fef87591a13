"""Whole-process time of `release-coordinator owners` over the real corpora (issue 11: nuttx < 1 s, GitLab < 3 s).

Each case runs the installed console script as a user would (a fresh Python, imports, parse, resolve, write),
paths on standard input, output to a file whose sha256 is printed so a faster version must answer identically.
With hyperfine on PATH (`apt-get install hyperfine`) it does the timing (warm-up, statistics); otherwise a
Python timer over subprocess runs. Run: `.venv/bin/python bench/owners.py [--runs N]`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora" / "codeowners"
SCRIPT = pathlib.Path(sys.executable).with_name("release-coordinator")
# (label, corpus, extra flags, target seconds)
CASES = [
    ("nuttx --json", "apache-nuttx", ["--json"], 1.0),
    ("nuttx text", "apache-nuttx", [], 1.0),
    ("gitlab-org --gitlab --json", "gitlab-org-gitlab", ["--gitlab", "--json"], 3.0),
    ("gitlab-org --gitlab text", "gitlab-org-gitlab", ["--gitlab"], 3.0),
]


def command(corpus: str, flags: list[str]) -> list[str]:
    return [str(SCRIPT), "owners", "--codeowners", str(CORPORA / corpus / "CODEOWNERS"), *flags]


def run_once(argv: list[str], paths: pathlib.Path, out: pathlib.Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with paths.open("rb") as stdin, out.open("wb") as stdout:
        started = time.perf_counter()
        subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def python_timer(argv: list[str], paths: pathlib.Path, out: pathlib.Path, runs: int) -> tuple[list[float], float]:
    """(wall times, mean CPU seconds)."""
    run_once(argv, paths, out)  # warm the page cache
    results = [run_once(argv, paths, out) for _ in range(runs)]
    return [wall for wall, _ in results], statistics.mean(cpu for _, cpu in results)


def hyperfine(argv: list[str], paths: pathlib.Path, out: pathlib.Path, runs: int) -> tuple[list[float], float]:
    shell = " ".join(f"'{part}'" for part in argv) + f" < '{paths}' > '{out}' 2>/dev/null"
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        subprocess.run(["hyperfine", "--style", "none", "--warmup", "1", "--runs", str(runs),
                        "--export-json", export.name, shell], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # its outlier warnings: the table shows min and max
        result = json.loads(pathlib.Path(export.name).read_text())["results"][0]
        return result["times"], result["user"] + result["system"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--python-timer", action="store_true", help="time with Python even if hyperfine exists")
    args = parser.parse_args()
    timer = python_timer if args.python_timer or not shutil.which("hyperfine") else hyperfine
    load = os.getloadavg()[0]
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs (shared, load "
          f"{load:.1f}), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; timer: "
          f"{'hyperfine' if timer is hyperfine else 'Python over subprocess'}, {args.runs} runs after 1 warm-up\n")
    # CPU seconds (user + system, whole process) hardly move with other load on the machine; wall time does.
    print("| case | paths | median s | mean s | min s | max s | CPU s | target | met | sha256 of output |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for label, corpus, flags, target in CASES:
            paths = CORPORA / corpus / "paths.txt"
            out = pathlib.Path(tmp) / "out"
            times, cpu = timer(command(corpus, flags), paths, out, args.runs)
            digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
            count = sum(1 for line in paths.open("rb") if line.strip())
            mean, median = statistics.mean(times), statistics.median(times)
            met = median < target  # the median: one run stalled by another process's burst does not decide it
            failed |= not met
            print(f"| {label} | {count:,} | {median:.2f} | {mean:.2f} | {min(times):.2f} | {max(times):.2f} | {cpu:.2f} | < {target:.0f} s "
                  f"| {'yes' if met else 'NO'} | `{digest}` |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
