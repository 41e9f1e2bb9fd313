"""`pip install .` (not only -e) must work: the wheel carries spa_vl (with spa_vl.analysis) and the taxonomy data."""

import shutil
import subprocess
import sys
import zipfile

from helpers import REPO


def test_wheel_contains_packages_data_and_console_script(tmp_path):
    # build from a clean copy: setuptools' build/ folder keeps stale files of earlier layouts
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "out", ".cache", "__pycache__", "*.egg-info"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("spa_vl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "spa_vl/data/taxonomy.json" in names
    assert "spa_vl/builder.py" in names and "spa_vl/analysis/__init__.py" in names and "spa_vl/py.typed" in names
    assert not [n for n in names if n.startswith("analysis/")]  # nothing generic at the top of site-packages
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "spa-vl = spa_vl.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
