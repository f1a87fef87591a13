"""A plain `pip install .` (a wheel, no source tree beside it) must carry what the handlers read at run time."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_built_package_carries_the_builtin_defaults_and_templates(tmp_path):
    # build_py is the step that decides which files a wheel gets; no network and no wheel package needed
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "build_py", "--build-lib",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True,
                   timeout=60)
    built = tmp_path / "bot"
    assert (built / "defaults.yml").read_bytes() == (ROOT / "config" / "defaults.yml").read_bytes()
    assert (built / "templates" / "pull.html").is_file()
    # and the handlers read them from inside the package, where an installed copy finds them
    code = ("from bot.handlers.configs import builtin_defaults; import sys; "
            "sys.stdout.buffer.write(builtin_defaults().text)")
    shown = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)},
                           capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr.decode()
    assert shown.stdout == (ROOT / "config" / "defaults.yml").read_bytes()
