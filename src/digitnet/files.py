"""Writing files safely: a temporary file in the target folder, renamed into place when complete.

Models, pictures and reports are all written this way, so an interrupted or failed write never
leaves a half-written file, and an existing file is never replaced unless the caller says so.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _place_new(temp: Path, path: Path) -> bool:
    """Give ``temp``'s file the name ``path`` unless ``path`` exists; False if it does.

    A hard link fails when its name exists at the moment it is made, so a file that appeared
    since the caller's check is never replaced. Where hard links are not supported, a check and a
    rename do it (a file appearing between the two would then be replaced).
    """
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError:
        if path.exists():
            return False
        os.replace(temp, path)
    return True


def write_atomically(
    path: str | os.PathLike,
    write: Callable[[IO[bytes]], object],
    *,
    overwrite: bool = False,
    error: type[Exception] = FileExistsError,
) -> Path:
    """Write ``path`` through ``write(file)`` via a temporary file renamed into place.

    The temporary file lies in the target folder, so ``os.replace`` is a rename on one file
    system: readers see the old file or the complete new one, never a partial write. An existing
    ``path`` is kept unless ``overwrite``; every problem raises ``error`` naming the file.
    """
    path = Path(path)
    exists = f"{path}: file exists; pass overwrite=True (--force on the command line) to replace it"
    if path.is_dir():
        raise error(f"{path}: is a folder, not a file")
    if path.exists() and not overwrite:
        raise error(exists)
    if not path.parent.is_dir():
        raise error(f"{path}: folder {path.parent} does not exist")
    temp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        # os.open with mode 0o666 gives the new file the permissions the umask allows, as
        # open() would; tempfile's private 0o600 would stay on the renamed model file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temp, path)
            placed = True
        else:
            placed = _place_new(temp, path)
    except OSError as exc:
        raise error(f"{path}: cannot write file: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)  # still there if something failed, or after a link
    if not placed:
        raise error(exists)
    return path
