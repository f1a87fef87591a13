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


def run_once(argv: list[str], paths: pathlib.Path, out: pathlib.Path) -> float:
    with paths.open("rb") as stdin, out.open("wb") as stdout:
        started = time.perf_counter()
        subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started


def python_timer(argv: list[str], paths: pathlib.Path, out: pathlib.Path, runs: int) -> list[float]:
    run_once(argv, paths, out)  # warm the page cache
    return [run_once(argv, paths, out) for _ in range(runs)]


def hyperfine(argv: list[str], paths: pathlib.Path, out: pathlib.Path, runs: int) -> list[float]:
    shell = " ".join(f"'{part}'" for part in argv) + f" < '{paths}' > '{out}' 2>/dev/null"
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        subprocess.run(["hyperfine", "--style", "none", "--warmup", "1", "--runs", str(runs),
                        "--export-json", export.name, shell], check=True, stdout=subprocess.DEVNULL)
        return json.loads(pathlib.Path(export.name).read_text())["results"][0]["times"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--python-timer", action="store_true", help="time with Python even if hyperfine exists")
    args = parser.parse_args()
    timer = python_timer if args.python_timer or not shutil.which("hyperfine") else hyperfine
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs (shared), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; timer: "
          f"{'hyperfine' if timer is hyperfine else 'Python over subprocess'}, {args.runs} runs after 1 warm-up\n")
    print("| case | paths | mean s | min s | max s | target | met | sha256 of output |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for label, corpus, flags, target in CASES:
            paths = CORPORA / corpus / "paths.txt"
            out = pathlib.Path(tmp) / "out"
            times = timer(command(corpus, flags), paths, out, args.runs)
            digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
            count = sum(1 for line in paths.open("rb") if line.strip())
            mean = statistics.mean(times)
            met = mean < target
            failed |= not met
            print(f"| {label} | {count:,} | {mean:.2f} | {min(times):.2f} | {max(times):.2f} | < {target:.0f} s "
                  f"| {'yes' if met else 'NO'} | `{digest}` |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
