"""Data sets that download themselves: MNIST and Fashion-MNIST, fetched on first use.

``--data mnist`` and ``--data fashion-mnist`` (:func:`digitnet.data.load`) find their four IDX
files here (:func:`fetch`):

1. Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package
   (:data:`digitnet.data.FASHION_MNIST_DIR`) when it is installed: no download. Debian
   recompressed the files, so their checksums differ from the published ones; the package
   manager has verified them.
2. Otherwise the cache folder ``<cache>/<name>/``: ``$DIGITNET_DATA`` if set, else
   ``$XDG_CACHE_HOME/digitnet``, else ``~/.cache/digitnet``. Missing files are downloaded from
   the data set's home (``base_url`` below), or from ``$DIGITNET_MIRROR``, a base URL holding the
   standard file names (``{name}`` in it becomes the data set's name, so one setting can serve
   both data sets).

Every file is checked against its published SHA-256 before it is used, also when it is already
in the cache. A download goes to a temporary file beside the target, renamed into place only
after the check, so a failed, cut or wrong download leaves nothing behind. Every problem is a
:class:`~digitnet.data.DataError` whose one line says what to do. A progress bar shows on a
terminal.

EMNIST is not offered: NIST publishes it only as one zip of all its splits (over 500 MB), whose
address has moved, with no published checksum for the digits files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from digitnet.data import FASHION_MNIST_DIR, DataError

__all__ = ["DATASETS", "SYSTEM_FOLDERS", "RemoteDataset", "RemoteFile", "cache_folder", "fetch"]

_CHUNK = 1 << 16
_TIMEOUT_S = 30


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One published file: its standard name, size in bytes and SHA-256 (hex)."""

    name: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class RemoteDataset:
    """A data set's home and its published files."""

    name: str
    base_url: str
    files: tuple[RemoteFile, ...]


# The SHA-256s of the standard gzip files, as published with the data sets' loaders (MNIST:
# TensorFlow Datasets' checksums and many mirrors' manifests; Fashion-MNIST: the same, alongside
# the MD5s in Zalando's README, which they confirm).
DATASETS: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset(
        "mnist",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                9_912_422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                28_881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                1_648_877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                4_542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        ),
    ),
    "fashion-mnist": RemoteDataset(
        "fashion-mnist",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                26_421_880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                29_515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                4_422_102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                5_148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        ),
    ),
}
"""The data sets ``--data`` can fetch, by name."""

SYSTEM_FOLDERS: dict[str, Path] = {"fashion-mnist": FASHION_MNIST_DIR}
"""Folders a system package installs a data set into; used as they are, without a download."""


def cache_folder(name: str) -> Path:
    """``<cache>/<name>``: ``$DIGITNET_DATA``, ``$XDG_CACHE_HOME/digitnet`` or ``~/.cache/digitnet``."""
    if os.environ.get("DIGITNET_DATA"):
        root = Path(os.environ["DIGITNET_DATA"])
    elif os.environ.get("XDG_CACHE_HOME"):
        root = Path(os.environ["XDG_CACHE_HOME"]) / "digitnet"
    else:
        root = Path.home() / ".cache" / "digitnet"
    return root / name


def _base_url(dataset: RemoteDataset) -> str:
    mirror = os.environ.get("DIGITNET_MIRROR")
    base = mirror.replace("{name}", dataset.name) if mirror else dataset.base_url
    return base if base.endswith("/") else base + "/"


def fetch(name: str, *, progress: bool | None = None) -> Path:
    """The folder holding data set ``name``'s four IDX files, downloading what is missing.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`: ``"mnist"`` or ``"fashion-mnist"``.
    progress : bool, optional
        Show a progress bar while downloading; by default when standard error is a terminal.

    Returns
    -------
    Path
        A folder with ``train-images-idx3-ubyte.gz`` and the three other standard files, every
        one checked against its published SHA-256 (except a system package's folder).

    Raises
    ------
    DataError
        No network, a server error, a cut transfer or a wrong checksum; the message says what to
        do, and nothing half-downloaded is left behind.
    """
    if name not in DATASETS:
        raise DataError(f"{name}: unknown data set; digitnet can fetch {', '.join(DATASETS)}")
    dataset = DATASETS[name]
    system = SYSTEM_FOLDERS.get(name)
    if system is not None and all((system / f.name).is_file() for f in dataset.files):
        return system
    folder = cache_folder(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"{folder}: cannot create the data folder ({exc.strerror}); set DIGITNET_DATA to a "
            "writable folder"
        ) from exc
    show = sys.stderr.isatty() if progress is None else progress
    for remote in dataset.files:
        path = folder / remote.name
        if path.is_file():
            _check_cached(path, remote, dataset)
        else:
            _download(dataset, remote, path, show)
    return folder


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _by_hand(dataset: RemoteDataset, folder: Path) -> str:
    """The closing advice of every download error."""
    return (
        f"check the network, or set DIGITNET_MIRROR to another copy, or put the files "
        f"{', '.join(f.name for f in dataset.files)} from {dataset.base_url} in {folder} by hand"
    )


def _check_cached(path: Path, remote: RemoteFile, dataset: RemoteDataset) -> None:
    if _sha256_of(path) != remote.sha256:
        raise DataError(
            f"{path}: not the published {dataset.name} file (SHA-256 differs from "
            f"{remote.sha256}); delete it to download it again, or replace it with the original "
            f"from {dataset.base_url}{remote.name}"
        )


def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The response body in chunks; a connection that breaks off (or times out) ends it early,
    which the size check then reports."""
    while True:
        try:
            chunk = response.read(_CHUNK)
        except (OSError, http.client.HTTPException):
            return
        if not chunk:
            return
        yield chunk


def _download(dataset: RemoteDataset, remote: RemoteFile, path: Path, progress: bool) -> None:
    """Download ``remote`` to ``path`` through a temporary file renamed after the SHA-256 check."""
    from tqdm import tqdm

    url = _base_url(dataset) + remote.name
    temp = path.parent / f".{path.name}.{secrets.token_hex(4)}.partial"
    digest, received = hashlib.sha256(), 0
    try:
        try:
            response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            raise DataError(
                f"cannot download {url}: HTTP {exc.code} {exc.reason}; {_by_hand(dataset, path.parent)}"
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"cannot download {url} ({reason}); {_by_hand(dataset, path.parent)}"
            ) from exc
        with (
            response,
            temp.open("wb") as file,
            tqdm(
                total=remote.size,
                unit="B",
                unit_scale=True,
                desc=f"{dataset.name}/{remote.name}",
                file=sys.stderr,
                disable=not progress,
            ) as bar,
        ):
            for chunk in _chunks(response):
                file.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        # A server that announced as many bytes as it sent sent a whole file, only not this one
        # (a mirror's error page, another version): that is not a download to try again.
        announced = response.headers.get("Content-Length")
        whole = announced is not None and announced.strip() == str(received)
        if received < remote.size and not whole:
            raise DataError(
                f"download of {url} was cut short ({received} of {remote.size} bytes); nothing "
                f"was kept; try again, or {_by_hand(dataset, path.parent)}"
            )
        if digest.hexdigest() != remote.sha256:
            size = "" if received == remote.size else f" ({received} bytes, not {remote.size})"
            raise DataError(
                f"{url}: not the published file{size}: its SHA-256 is not {remote.sha256}; "
                f"nothing was kept; {_by_hand(dataset, path.parent)}"
            )
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)  # only still there if something failed
