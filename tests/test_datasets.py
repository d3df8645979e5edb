"""Data sets that download themselves, against a local HTTP server on 127.0.0.1 (never the internet).

The server serves small IDX files made here; the tests inject their SHA-256s in place of the
published ones. The command-line tests run the installed `digitnet` with a `sitecustomize` that
does the same injection in the child process.
"""

import contextlib
import gzip
import hashlib
import http.server
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from digitnet import data, datasets

DIGITNET = str(Path(sys.executable).with_name("digitnet"))
NAMES = [f.name for f in datasets.DATASETS["mnist"].files]
SRC = Path(datasets.__file__).parents[1]


def idx_gz(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, gzip-compressed: magic 0x0000 08 ndim, then big-endian sizes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture(scope="module")
def idx_files():
    """Four small MNIST-shaped files: 40 training and 20 test images of every label 0..9."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (40, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(40) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(20) % 10,
    }
    return {name: (array, idx_gz(array)) for name, array in arrays.items()}


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /<dataset>/<file>: the bytes in server.files, whole or (server.cut) half of them."""

    def do_GET(self):
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.path in self.server.cut else body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(files, cut=()):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.files, server.cut, server.requests = files, set(cut), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once it is closed


def served(idx_files, dataset="mnist", **replace):
    return {f"/{dataset}/{name}": replace.get(name, body) for name, (_, body) in idx_files.items()}


def injected(idx_files, name="mnist"):
    """The data set with the test files' sizes and SHA-256s in place of the published ones."""
    files = tuple(
        datasets.RemoteFile(f, len(idx_files[f][1]), hashlib.sha256(idx_files[f][1]).hexdigest())
        for f in NAMES
    )
    return datasets.RemoteDataset(name, datasets.DATASETS[name].base_url, files)


@pytest.fixture
def cache(tmp_path, monkeypatch, idx_files):
    """An empty cache in DIGITNET_DATA and the test files' checksums injected for mnist."""
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path / "cache"))
    monkeypatch.setitem(datasets.DATASETS, "mnist", injected(idx_files))
    return tmp_path / "cache"


def leftovers(folder: Path):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- the library ---------------------------------------------------------------------------------


def test_downloads_checks_and_loads(cache, idx_files, monkeypatch):
    with serve(served(idx_files)) as url:
        monkeypatch.setenv("DIGITNET_MIRROR", url + "/{name}")
        folder = datasets.fetch("mnist")
        test = data.load("mnist", split="test")
    assert folder == cache / "mnist" and leftovers(folder) == sorted(NAMES)
    images, labels = (
        idx_files["t10k-images-idx3-ubyte.gz"][0],
        idx_files["t10k-labels-idx1-ubyte.gz"][0],
    )
    np.testing.assert_allclose(test.X, images.reshape(20, 784) / 255)
    np.testing.assert_array_equal(test.y, labels)
    assert test.name == "mnist/test" and test.pixel_order == "C"

    # The server is gone: the cache serves, checked again.
    monkeypatch.setenv("DIGITNET_MIRROR", closed_port_url())
    assert len(data.load("mnist").y) == 40


@pytest.mark.parametrize("broken", NAMES)
def test_wrong_bytes_are_refused_and_not_kept(cache, idx_files, monkeypatch, broken):
    bad = bytearray(idx_files[broken][1])
    bad[len(bad) // 2] ^= 0xFF  # same size, one byte off
    with serve(served(idx_files, **{broken: bytes(bad)})) as url:
        monkeypatch.setenv("DIGITNET_MIRROR", url + "/mnist")
        with pytest.raises(data.DataError) as error:
            datasets.fetch("mnist")
    message = str(error.value)
    assert f"{url}/mnist/{broken}: not the published file: its SHA-256 is not" in message
    assert "nothing was kept" in message and f"in {cache / 'mnist'} by hand" in message
    # The files before it are checked and kept; the bad one and any temporary file are gone.
    assert leftovers(cache) == sorted(NAMES[: NAMES.index(broken)])


def test_a_connection_cut_mid_file_leaves_nothing(cache, idx_files, monkeypatch):
    name = "train-images-idx3-ubyte.gz"
    size = len(idx_files[name][1])
    with serve(served(idx_files), cut={f"/mnist/{name}"}) as url:
        monkeypatch.setenv("DIGITNET_MIRROR", url + "/mnist/")
        with pytest.raises(data.DataError, match=rf"was cut short \({size // 2} of {size} bytes\)"):
            datasets.fetch("mnist")
    assert leftovers(cache) == []


def test_a_whole_but_other_file_is_not_called_a_cut_download(cache, idx_files, monkeypatch):
    # A mirror's error page served with status 200: smaller than the published file, but all of
    # what the server announced arrived.
    name = "train-images-idx3-ubyte.gz"
    page = b"<html>Not here any more</html>"
    with serve(served(idx_files, **{name: page})) as url:
        monkeypatch.setenv("DIGITNET_MIRROR", url + "/mnist/")
        with pytest.raises(data.DataError) as error:
            datasets.fetch("mnist")
    size = len(idx_files[name][1])
    assert f"not the published file ({len(page)} bytes, not {size})" in str(error.value)
    assert "cut short" not in str(error.value)
    assert leftovers(cache) == []


def test_no_server_or_a_missing_file_says_what_to_do(cache, monkeypatch, idx_files):
    monkeypatch.setenv("DIGITNET_MIRROR", closed_port_url())
    with pytest.raises(
        data.DataError, match=r"cannot download .*train-images-idx3-ubyte.gz \(.*refused"
    ) as error:
        datasets.fetch("mnist")
    assert "set DIGITNET_MIRROR to another copy, or put the files train-images" in str(error.value)
    with serve({}) as url:
        monkeypatch.setenv("DIGITNET_MIRROR", url)
        with pytest.raises(data.DataError, match="HTTP 404"):
            datasets.fetch("mnist")
    assert leftovers(cache) == []


def test_a_damaged_cached_file_is_reported_not_replaced(cache, idx_files, monkeypatch):
    folder = cache / "mnist"
    folder.mkdir(parents=True)
    for name, (_, body) in idx_files.items():
        (folder / name).write_bytes(body)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the file")
    monkeypatch.setenv("DIGITNET_MIRROR", closed_port_url())
    with pytest.raises(data.DataError, match=r"not the published mnist file .* delete it"):
        datasets.fetch("mnist")
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == b"not the file"


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.cache_folder("mnist") == tmp_path / "home" / ".cache" / "digitnet" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.cache_folder("mnist") == tmp_path / "xdg" / "digitnet" / "mnist"
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path / "mine"))
    assert datasets.cache_folder("fashion-mnist") == tmp_path / "mine" / "fashion-mnist"


def test_a_system_folder_is_used_without_a_download(cache, idx_files, monkeypatch, tmp_path):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    for name, (_, body) in idx_files.items():
        (system / name).write_bytes(body)
    monkeypatch.setitem(datasets.SYSTEM_FOLDERS, "fashion-mnist", system)
    monkeypatch.setenv("DIGITNET_MIRROR", closed_port_url())
    assert datasets.fetch("fashion-mnist") == system
    assert data.load("fashion-mnist", split="test").name == f"{system.name}/test"
    assert leftovers(cache) == []


def test_progress_bar_on_request(cache, idx_files, monkeypatch, capsys):
    with serve(served(idx_files)) as url:
        monkeypatch.setenv("DIGITNET_MIRROR", url + "/mnist")
        datasets.fetch("mnist", progress=True)
    assert "mnist/train-images-idx3-ubyte.gz: 100%" in capsys.readouterr().err


def test_unknown_name():
    with pytest.raises(data.DataError, match="digitnet can fetch mnist, fashion-mnist"):
        datasets.fetch("emnist-digits")


def test_the_published_checksums_are_well_formed():
    for dataset in datasets.DATASETS.values():
        assert [f.name for f in dataset.files] == NAMES
        for f in dataset.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 4000


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, idx_files):
    """Environment for the installed `digitnet`: an empty cache, and the test files' checksums
    injected by a sitecustomize module that the child imports at start-up."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (tmp_path / "home").mkdir()
    files = {
        name: (len(body), hashlib.sha256(body).hexdigest()) for name, (_, body) in idx_files.items()
    }
    (inject / "sitecustomize.py").write_text(
        "from digitnet import datasets\n"
        f"files = {files!r}\n"
        "datasets.DATASETS['mnist'] = datasets.RemoteDataset('mnist', 'https://example.invalid/', "
        "tuple(datasets.RemoteFile(n, *files[n]) for n in "
        f"{NAMES!r}))\n"
    )
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": f"{inject}:{SRC}",
        "DIGITNET_DATA": str(tmp_path / "cache"),
    }


def digitnet(*args, env, cwd=None):
    return subprocess.run(
        [DIGITNET, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_cli_trains_on_downloaded_mnist_then_works_offline(cli_env, idx_files, tmp_path):
    with serve(served(idx_files)) as url:
        env = {**cli_env, "DIGITNET_MIRROR": url + "/{name}/"}
        result = digitnet(
            "train", "--data", "mnist", "--max-iter", "3", "--out", tmp_path / "m.npz", env=env
        )
    assert result.returncode == 0, result.stderr
    assert "on mnist/train (40 examples)" in result.stderr and "test accuracy:" in result.stdout
    assert "%|" not in result.stderr  # no progress bar off a terminal
    assert leftovers(tmp_path / "cache") == sorted(NAMES)
    env = {**cli_env, "DIGITNET_MIRROR": closed_port_url()}
    result = digitnet("evaluate", tmp_path / "m.npz", "--data", "mnist", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert '"n": 20' in result.stdout


@pytest.mark.parametrize("failure", ["no server", "wrong bytes", "cut"])
def test_cli_download_failures_are_one_line_and_leave_nothing(
    cli_env, idx_files, tmp_path, failure
):
    name = "t10k-images-idx3-ubyte.gz"
    wrong = {name: b"\0" * len(idx_files[name][1])} if failure == "wrong bytes" else {}
    with serve(
        served(idx_files, **wrong), cut={f"/mnist/{name}"} if failure == "cut" else ()
    ) as url:
        mirror = closed_port_url() if failure == "no server" else url + "/mnist"
        env = {**cli_env, "DIGITNET_MIRROR": mirror}
        result = digitnet(
            "show", "data", "--data", "mnist", "--split", "test", env=env, cwd=tmp_path
        )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("digitnet: error: ")
    expected = {
        "no server": "cannot download",
        "wrong bytes": "not the published file: its SHA-256 is not",
        "cut": "cut short",
    }
    assert expected[failure] in line
    cached = leftovers(Path(cli_env["DIGITNET_DATA"]))
    assert name not in cached and not any(n.endswith(".partial") for n in cached)


def test_cli_uses_debians_fashion_mnist_without_a_download(cli_env, tmp_path):
    if not all((data.FASHION_MNIST_DIR / n).is_file() for n in NAMES):
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    env = {**cli_env, "DIGITNET_MIRROR": closed_port_url()}
    out = tmp_path / "fashion.png"
    result = digitnet("show", "data", "--data", "fashion-mnist", "--out", out, env=env)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000 and leftovers(tmp_path / "cache") == []
