"""The README's steps run in order, as written, in a fresh folder with ../shared beside it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA, shared_file

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(section: str, language: str) -> list[str]:
    """The ```language code blocks of the README section titled ``section``."""
    text = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture
def clone(tmp_path):
    """A folder laid out like a clone: examples/ in it, shared/ beside it."""
    shared_file("mnist20-5000.mat")  # skips with the reason when the shared data is absent
    (tmp_path / "shared").symlink_to(SHARED_DATA.parent)
    folder = tmp_path / "clone"
    folder.mkdir()
    (folder / "examples").symlink_to(ROOT / "examples")
    return folder


def test_the_command_line_steps_run_in_order(clone):
    steps = [line for line in blocks("The command line", "bash")[0].splitlines() if line.strip()]
    assert len(steps) >= 10
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for step in steps:
        result = subprocess.run(
            ["bash", "-c", step], cwd=clone, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{step}\n{result.stderr}"
    for written in ("course.npz", "mnist.npz", "ex4.npz", "Theta.mat", "report.html"):
        assert (clone / written).is_file(), written


def test_the_python_example_runs():
    namespace = {}
    exec(blocks("Python", "python")[0], namespace)
    assert namespace["Theta1"].shape == (25, 65) and namespace["Theta2"].shape == (10, 26)
