"""The one atomic writer (gaan.files): whole files with the umask's permissions, nothing left
behind on failure, the old file kept."""

from __future__ import annotations

import json
import os

import pytest

from gaan import files


def test_text_and_bytes_are_written_whole_with_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        text = files.write_atomically(tmp_path / "deep" / "a.txt", "héllo\n")
        raw = files.write_atomically(tmp_path / "b.bin", b"\x00\x01")
    finally:
        os.umask(old)
    assert text.read_text() == "héllo\n" and raw.read_bytes() == b"\x00\x01"
    assert text.stat().st_mode & 0o777 == 0o640 and raw.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "deep"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = files.write_atomically(tmp_path / "record.json", "old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomically(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_json_and_copies(tmp_path):
    record = files.write_json_atomically(tmp_path / "r.json", {"b": 1, "a": [1, 2]})
    assert record.read_text() == json.dumps({"a": [1, 2], "b": 1}, indent=1) + "\n"
    copy = files.copy_atomically(record, tmp_path / "copy" / "r.json")
    assert copy.read_bytes() == record.read_bytes()
