"""Files stations and operators upload (csms/files.py): names that can never leave their folder, and
streaming to disk so that only a complete file within the limit ever takes a file's place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ocppd.config import load_settings
from ocppd.csms.files import FileRefused, safe_name, save_stream


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\admin.token", "admin.token"),
        ("/abs/path/fw.bin", "fw.bin"),
        ("..", "fallback"),
        (".", "fallback"),
        ("", "fallback"),
        (None, "fallback"),
        (".hidden", "hidden"),
        ("a\x00b c;d.log", "a_b_c_d.log"),
        ("C:\\logs\\diag.zip", "diag.zip"),
    ],
)
def test_path_tricks_leave_only_a_plain_name(sent: str | None, kept: str) -> None:
    assert safe_name(sent, "fallback") == kept


def test_a_long_name_is_cut() -> None:
    assert len(safe_name("x" * 1000 + ".bin", "f")) == 200


async def _chunks(*parts: bytes, fail: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if fail:
        raise ConnectionResetError("the client went away")


async def test_a_complete_upload_replaces_the_file(tmp_path: Path) -> None:
    (tmp_path / "f.log").write_bytes(b"old")
    size, sha256 = await save_stream(tmp_path, "f.log", _chunks(b"new ", b"file"), 100)
    assert (tmp_path / "f.log").read_bytes() == b"new file" and size == 8 and len(sha256) == 64


async def test_an_oversized_or_interrupted_upload_never_replaces_a_complete_file(tmp_path: Path) -> None:
    (tmp_path / "f.log").write_bytes(b"complete")
    with pytest.raises(FileRefused) as refused:
        await save_stream(tmp_path, "f.log", _chunks(b"x" * 60, b"y" * 60), 100)
    assert refused.value.status == 413
    with pytest.raises(ConnectionResetError):
        await save_stream(tmp_path, "f.log", _chunks(b"partial", fail=True), 100)
    assert (tmp_path / "f.log").read_bytes() == b"complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.log"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("name", "value"),
    [("UPLOAD_TOKEN_TTL_S", "0"), ("DOWNLOAD_TOKEN_TTL_S", "-5"), ("MAX_FIRMWARE_BYTES", "0"), ("MAX_LOG_BYTES", "0")],
)
def test_file_settings_that_would_refuse_everything_are_bad_config(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name.lower()):
        load_settings(None, env={f"OCPPD_FILES__{name}": value})
