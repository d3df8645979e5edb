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


def test_every_library_module_has_a_reference_page():
    """A new module needs docs/api/<module>.md and a line in mkdocs.yml's nav."""
    nav = (ROOT / "mkdocs.yml").read_text()
    modules = sorted(
        path.stem
        for path in (ROOT / "src" / "digitnet").glob("*.py")
        if not path.stem.startswith("_") and path.stem != "cli"  # cli: the command, not an API
    )
    for module in modules:
        page = ROOT / "docs" / "api" / f"{module}.md"
        assert page.exists(), f"missing {page.relative_to(ROOT)}"
        assert f"::: digitnet.{module}" in page.read_text()
        assert f"api/{module}.md" in nav, f"mkdocs.yml nav lacks api/{module}.md"
