"""The API reference builds from the docstrings in strict mode: a broken reference fails here."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_in_strict_mode(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "api" / "network" / "index.html").read_text()
    assert "cost_and_gradient" in page and "The regularized cost" in page
    assert (tmp_path / "api" / "grade" / "index.html").exists()
