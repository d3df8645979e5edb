"""The package as a package: a wheel that stands alone, its metadata, and mypy on the sources.

The wheel is built from a copy of the project's files (not the checkout, so no build files land
in it) and installed into a fresh virtual environment outside the checkout. Its dependencies come
from this environment's site-packages through a .pth file, so no registry is asked for them; the
digitnet code, static page, type marker and licence all come from the wheel alone.
"""

import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel .` of a copy of pyproject.toml, README.md, LICENSE and src/."""
    project = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    dist = tmp_path_factory.mktemp("dist")
    # No build isolation: the test extra's setuptools builds it, without asking a registry.
    pip_wheel = ["pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "--wheel-dir"]
    subprocess.run(
        [sys.executable, "-m", *pip_wheel, str(dist), str(project)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = dist.glob("digitnet-*.whl")
    return built


def test_the_wheel_carries_the_page_the_type_marker_and_the_licence(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        licence = archive.read(next(n for n in names if n.endswith(".dist-info/licenses/LICENSE")))
    assert {
        "digitnet/web/static/index.html",
        "digitnet/py.typed",
        "digitnet/onnx_export.py",
    } <= names
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    assert licence == (ROOT / "LICENSE").read_bytes() and b"MIT License" in licence
    assert "Provides-Extra: onnx" in metadata
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment outside the checkout with the wheel installed; returns its bin."""
    venv = tmp_path_factory.mktemp("elsewhere") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip_install = ["pip", "--python", str(python), "install", "-q", "--no-index", "--no-deps"]
    subprocess.run(
        [sys.executable, "-m", *pip_install, str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies (NumPy, SciPy, FastAPI, ...) from this environment, after the venv's own
    # site-packages; .pth files in that folder are not run, so nothing of this checkout comes in.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def clean_env(home: Path) -> dict:
    """No PYTHONPATH (which points at the checkout while testing), a home of its own."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "MPLBACKEND": "Agg"}


def test_the_installed_wheel_runs_from_elsewhere(installed, tmp_path):
    env = clean_env(tmp_path)
    where = subprocess.run(
        [installed / "python", "-c", "import digitnet, json; print(json.dumps(digitnet.__file__))"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert Path(json.loads(where.stdout)).is_relative_to(installed.parent)
    result = subprocess.run(
        [installed / "digitnet", "selftest"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok ") == 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_installed_wheel_serves_its_page(installed, tmp_path):
    env = clean_env(tmp_path)
    train = subprocess.run(
        [installed / "digitnet", "train", "--max-iter", "5", "--out", "m.npz"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr
    port = free_port()
    server = subprocess.Popen(
        [installed / "digitnet", "serve", "m.npz", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    assert json.load(response) == {"status": "ok"}
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer /healthz: {server.stderr.read()}")
                time.sleep(0.3)
        with urllib.request.urlopen(url + "/", timeout=5) as response:
            page = response.read().decode()
        shipped = (ROOT / "src" / "digitnet" / "web" / "static" / "index.html").read_text()
        assert page == shipped
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mypy_passes_on_the_package():
    # Default settings; pyproject's [tool.mypy] only marks libraries without type information.
    # The cache in .mypy_cache makes a second run take seconds.
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "src/digitnet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_changelog_starts_with_this_release():
    from digitnet import __version__

    changelog = (ROOT / "CHANGELOG.md").read_text()
    first = next(line for line in changelog.splitlines() if line.startswith("## "))
    assert first.startswith(f"## {__version__}")
