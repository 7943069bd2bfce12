"""How the command is reached: the ``blerun`` script, ``python -m blerun``, and a wheel.

blerun is a namespace package (no blerun/__init__.py); ``blerun/__main__.py`` comes from
main/ in the repository. These tests check it reaches the installed packages in the
strict editable install CI uses, and in a wheel with nothing else of ours on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import blerun.cli

from clikit import run_child

ROOT = Path(__file__).resolve().parents[2]


def test_python_dash_m_blerun_runs_the_command() -> None:
    ran = run_child("--help")

    assert ran.code == 0, ran.err
    assert ran.out.startswith("usage: blerun ")


def test_the_installed_script_runs_the_command() -> None:
    script = Path(sys.executable).parent / "blerun"

    done = subprocess.run(
        [str(script), "monitor", "--help"], capture_output=True, text=True, timeout=30, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "usage: blerun monitor" in done.stdout


def test_a_wheel_carries_the_command_and_keeps_blerun_a_namespace(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    # Every folder the build maps into the blerun namespace, as pyproject.toml says.
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    skip = shutil.ignore_patterns("__pycache__")
    for folder in {Path(d).parts[0] for d in package_dirs.values()}:
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("blerun-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
    assert "blerun/__main__.py" in names
    assert {"blerun/cli/__init__.py", "blerun/cli/py.typed"} <= names
    assert "blerun/__init__.py" not in names
    assert b"blerun = blerun.cli:main" in entry_points

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    # -S: no site processing, so the editable install's path hook is not loaded; the
    # dependencies come from site-packages, every blerun module from the wheel.
    path = os.pathsep.join([str(unpacked), sysconfig.get_paths()["purelib"]])
    probe = (
        "import runpy, sys, blerun.cli; print(blerun.cli.__file__, file=sys.stderr); "
        "sys.argv = ['blerun', '--help']; runpy.run_module('blerun', run_name='__main__')"
    )
    ran = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.startswith("usage: blerun ")
    assert ran.stderr.strip().startswith(str(unpacked))
    assert str(unpacked) not in blerun.cli.__file__  # this process uses the editable install
