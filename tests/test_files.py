"""Atomic writes: complete files or the old one, never a partial file or a lost one."""

import os
import stat

import pytest

from digitnet.files import write_atomically


def test_writes_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "out.bin"
    write_atomically(path, lambda f: f.write(b"first"))
    with pytest.raises(FileExistsError, match=r"out\.bin: file exists"):
        write_atomically(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"first"
    write_atomically(path, lambda f: f.write(b"second"), overwrite=True)
    assert path.read_bytes() == b"second"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"precious")

    def broken(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, broken, overwrite=True)
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_permissions_follow_the_umask_and_errors_use_the_given_class(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomically(tmp_path / "m.npz", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    with pytest.raises(ValueError, match="does not exist"):
        write_atomically(tmp_path / "no" / "m.npz", lambda f: None, error=ValueError)


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_file_that_appears_while_writing_is_not_replaced(tmp_path, monkeypatch, hard_links):
    if not hard_links:  # a file system without hard links: the check-and-rename fallback

        def no_link(source, target):
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "out.bin"

    def racing(f):
        path.write_bytes(b"someone else's")  # appears after the check, before the rename
        f.write(b"mine")

    with pytest.raises(FileExistsError, match=r"out\.bin: file exists"):
        write_atomically(path, racing)
    assert path.read_bytes() == b"someone else's"
    assert os.listdir(tmp_path) == ["out.bin"]
    new = write_atomically(tmp_path / "new.bin", lambda f: f.write(b"mine"))
    assert new.read_bytes() == b"mine"
    assert sorted(os.listdir(tmp_path)) == ["new.bin", "out.bin"]
