"""``gancompose data prepare`` / ``data download`` (issue 22): malformed zips refused before anything is
unpacked, unwritable roots, no leftovers after a failure, hints that name what exists."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from PIL import Image

import gancompose_cycle.archives as archives
import gancompose_data.archives as unpacking
from conftest import invoke, refusal

COUNTS = {"trainA": 2, "trainB": 2, "testA": 1, "testB": 1}


def user_error(result) -> str:
    return " ".join(refusal(result).split())


@pytest.fixture
def make_zip(tmp_path, monkeypatch):
    """A function writing monet2photo.zip with the images of COUNTS plus ``extra`` members (name -> bytes or
    a ZipInfo tweak)."""
    monkeypatch.setitem(archives.ARCHIVES, "monet2photo", dict(COUNTS))
    png = tmp_path / "one.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(png)

    def make(extra=(), name="monet2photo.zip"):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for folder, n in COUNTS.items():
                for i in range(n):
                    zf.write(png, f"monet2photo/{folder}/{i:03d}.png")
            for item in extra:
                if isinstance(item, zipfile.ZipInfo):
                    zf.writestr(item, b"x")
                else:
                    zf.writestr(item[0], item[1])
        return path
    return make


def _nothing_unpacked(root: Path):
    assert not root.exists() or not list(root.iterdir()), list(root.rglob("*"))


def test_a_good_archive_still_unpacks(make_zip, tmp_path):
    res = invoke("data", "prepare", "monet2photo", "--from", make_zip(), "--root", tmp_path / "data")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "data/monet2photo/trainA").glob("*.png"))) == 2


def test_a_file_and_a_folder_of_one_name(make_zip, tmp_path):
    z = make_zip([("monet2photo/trainA/x", b"a file"), ("monet2photo/trainA/x/y.png", b"under it")])
    msg = user_error(invoke("data", "prepare", "monet2photo", "--from", z, "--root", tmp_path / "data"))
    assert "'monet2photo/trainA/x' and 'monet2photo/trainA/x/y.png' both need 'monet2photo/trainA/x'" in msg
    _nothing_unpacked(tmp_path / "data")


def test_a_symbolic_link_member(make_zip, tmp_path):
    link = zipfile.ZipInfo("monet2photo/trainA/link")
    link.external_attr = (0o120777 << 16)
    z = make_zip([link, ("monet2photo/trainA/link/z.png", b"through it")])
    msg = user_error(invoke("data", "prepare", "monet2photo", "--from", z, "--root", tmp_path / "data"))
    assert "'monet2photo/trainA/link': a symbolic link" in msg
    _nothing_unpacked(tmp_path / "data")


def test_a_300_character_member_name(make_zip, tmp_path):
    z = make_zip([("monet2photo/trainA/" + "n" * 300 + ".png", b"x")])
    msg = user_error(invoke("data", "prepare", "monet2photo", "--from", z, "--root", tmp_path / "data"))
    assert "a name of 304 characters (at most 255 bytes per name)" in msg
    _nothing_unpacked(tmp_path / "data")


def test_an_unsupported_compression_method(make_zip, tmp_path):
    z = make_zip()
    data = bytearray(z.read_bytes())
    # method 93 (zstandard) in every local header and central directory entry
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            data[i + offset:i + offset + 2] = (93).to_bytes(2, "little")
            start = i + 4
    z.write_bytes(bytes(data))
    msg = user_error(invoke("data", "prepare", "monet2photo", "--from", z, "--root", tmp_path / "data"))
    assert "uses compression method 93, which cannot be unpacked here" in msg
    _nothing_unpacked(tmp_path / "data")


def test_declared_sizes_are_checked_before_unpacking(make_zip, tmp_path, monkeypatch):
    z = make_zip([("monet2photo/trainA/big.png", b"0" * 5000)])
    monkeypatch.setattr(unpacking, "MAX_MEMBER_BYTES", 4096)
    msg = user_error(invoke("data", "prepare", "monet2photo", "--from", z, "--root", tmp_path / "data"))
    assert "'monet2photo/trainA/big.png' declares 5,000 bytes" in msg and "nothing was unpacked" in msg
    _nothing_unpacked(tmp_path / "data")


def test_an_incomplete_set_names_the_archive_not_a_deleted_temporary_folder(make_zip, tmp_path, monkeypatch):
    monkeypatch.setitem(archives.ARCHIVES["monet2photo"], "trainB", 5)
    z = make_zip()
    msg = user_error(invoke("data", "prepare", "monet2photo", "--from", z, "--root", tmp_path / "data"))
    assert f"{z} does not hold a complete monet2photo set (trainB: 2 images, expected 5)" in msg
    assert ".monet2photo." not in msg  # the temporary folder is gone: never named
    assert not (tmp_path / "data").exists()  # the --root it made is removed again


@pytest.mark.parametrize("where", ["file", "under_file", "/proc/gancompose"])
def test_unwritable_roots(make_zip, tmp_path, where):
    (tmp_path / "file").write_text("x")
    root = {"file": tmp_path / "file", "under_file": tmp_path / "file" / "sub"}.get(where, where)
    msg = user_error(invoke("data", "prepare", "monet2photo", "--from", make_zip(), "--root", root))
    assert f"cannot write into --root {root}" in msg
    msg = user_error(invoke("data", "download", "mnist", "--root", root, "--mirror", "http://127.0.0.1:9/"))
    assert f"cannot write into --root {root}" in msg


def test_a_failed_download_leaves_no_empty_folders(tmp_path):
    root = tmp_path / "data"
    msg = user_error(invoke("data", "download", "mnist", "--root", root, "--mirror", "http://127.0.0.1:9/"))
    assert "could not download" in msg
    assert not root.exists()  # not even data/MNIST/raw/
    (tmp_path / "kept").mkdir()
    user_error(invoke("data", "download", "mnist", "--root", tmp_path / "kept", "--mirror", "http://127.0.0.1:9/"))
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir())  # only what it made is gone
