"""Fetching the files of the standard datasets (``gancompose data download NAME --root DIR``).

Each dataset lists its files with their md5 sums in :data:`RESOURCES`; a file is fetched from the
first mirror that serves it with the right checksum, then unpacked exactly where torchvision's
dataset class looks for it, so the dataset can be built with ``download=False`` afterwards.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import sys
import tarfile
import urllib.error
from pathlib import Path
from typing import Callable


from gancompose.errors import DataError, did_you_mean

#: name -> {"mirrors": base URLs tried in order, "folder": where under root the files go (as
#: torchvision expects), "files": {file name: md5 of the file as downloaded},
#: "check": the files that must exist (relative to root) once unpacked}.
RESOURCES: dict[str, dict] = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        "folder": "MNIST/raw",
        "files": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "check": ["MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-labels-idx1-ubyte",
                  "MNIST/raw/t10k-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte"],
    },
    "cifar10": {
        "mirrors": ["https://www.cs.toronto.edu/~kriz/"],
        "folder": "",
        "files": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        "check": [f"cifar-10-batches-py/{n}" for n in
                  ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                   "batches.meta")],
    },
}

#: md5 of the files inside the CIFAR-10 archive (``cifar-10-batches-py/``), checked when the
#: dataset is built, as torchvision does.
CIFAR10_MEMBERS: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}


def check_integrity(path: str, md5: str) -> bool:  # torchvision's, imported when used (seconds at import)
    from torchvision.datasets.utils import check_integrity as check
    return check(path, md5)


def download_url(url: str, folder: str, filename: str, md5=None) -> None:
    from torchvision.datasets.utils import download_url as fetch
    fetch(url, folder, filename, md5=md5)


def extract_archive(archive: str, dest: str) -> None:
    from torchvision.datasets.utils import extract_archive as extract
    extract(archive, dest)


def download_command(name: str, root: str | os.PathLike) -> str:
    """The shell command that fetches dataset ``name`` into ``root``."""
    return f"gancompose data download {name} --root {shlex.quote(str(root))}"


def missing_files(name: str, root: str | os.PathLike) -> list[Path]:
    """The unpacked files of ``name`` that are not under ``root`` (empty when it is ready to use)."""
    return [Path(root) / rel for rel in RESOURCES[name]["check"] if not (Path(root) / rel).is_file()]


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _extract(archive: Path, dest: Path) -> None:
    if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as tar:  # never write outside dest
            tar.extractall(dest, filter="data")
    else:
        extract_archive(str(archive), str(dest))  # .gz: decompressed next to the archive


def _fetch(filename: str, md5: str, folder: Path, mirrors: list[str], log: Callable[[str], None]) -> Path:
    """Download ``filename`` from the first mirror that serves it with checksum ``md5``."""
    path = folder / filename
    if path.is_file() and check_integrity(str(path), md5):
        log(f"{path}: already present, checksum ok")
        return path
    failures = []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        url += filename
        if path.exists():
            path.unlink()  # a stale or partial file: download_url would keep it without an md5
        log(f"downloading {url}")
        try:
            download_url(url, str(folder), filename, md5=None)
        except (urllib.error.URLError, OSError, ValueError, RuntimeError) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
            path.unlink(missing_ok=True)  # no partial file left behind
            continue
        got = _md5(path)
        if got == md5:
            return path
        path.unlink()
        failures.append(f"{url}: md5 mismatch: expected {md5}, got {got}")
    raise DataError(f"could not download {filename} into {folder}:\n    " + "\n    ".join(failures),
                    hint="check the network, or pass --mirror with a base URL that serves the official files")


def make_folder(folder: Path, root: Path, name: str) -> list[Path]:
    """``mkdir -p folder``: the folders it created, outermost first (removed again when the command fails). A
    ``--root`` that cannot hold folders (a file, a read-only place) is one DataError."""
    made = []
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            made.append(parent)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".gancompose-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        remove_empty(made)
        raise DataError(f"cannot write into --root {root}: {exc.strerror or exc}"
                        + (f" ({exc.filename})" if getattr(exc, "filename", None) else ""),
                        hint=f"give a writable folder: gancompose data {name} --root DIR") from None
    return made


def remove_empty(made: list[Path]) -> None:
    """Remove the folders of :func:`make_folder` that are still empty, innermost first."""
    for path in reversed(made):
        try:
            path.rmdir()
        except OSError:
            pass


def download_dataset(name: str, root: str | os.PathLike, mirror: str | None = None, *,
                     log: Callable[[str], None] | None = None) -> Path:
    """Download and unpack dataset ``name`` (``mnist`` or ``cifar10``) under ``root``.

    ``mirror`` is a base URL serving the dataset's files by their official names (default: the
    official mirrors, tried in order). Every file's md5 is verified; files already present with the
    right checksum are not fetched again. Returns the folder the files were unpacked into. Raises
    :class:`~gancompose.errors.DataError` when a file cannot be fetched or its checksum is wrong.
    """
    if name not in RESOURCES:
        raise DataError(f"no download for dataset {name!r}", hint=did_you_mean(name, RESOURCES))
    log = log or (lambda msg: print(msg, file=sys.stderr))
    spec = RESOURCES[name]
    root = Path(root).expanduser()
    folder = root / spec["folder"] if spec["folder"] else root
    made = make_folder(folder, root, f"download {name}")
    try:
        return _download_into(name, spec, root, folder, mirror, log)
    except BaseException:
        remove_empty(made)  # a failed download leaves no empty folders behind
        raise


def _download_into(name: str, spec: dict, root: Path, folder: Path, mirror: str | None,
                   log: Callable[[str], None]) -> Path:
    mirrors = [mirror] if mirror else list(spec["mirrors"])
    for filename, md5 in spec["files"].items():
        archive = _fetch(filename, md5, folder, mirrors, log)
        try:
            _extract(archive, folder)
        except (OSError, EOFError, tarfile.TarError) as exc:
            raise DataError(f"cannot unpack {archive}: {type(exc).__name__}: {exc}",
                            hint=f"delete it and run again: {download_command(name, root)}") from None
    if name == "cifar10":
        bad = [n for n, md5 in CIFAR10_MEMBERS.items()
               if not check_integrity(str(root / "cifar-10-batches-py" / n), md5)]
        if bad:
            raise DataError(f"the CIFAR-10 archive unpacked into {root / 'cifar-10-batches-py'} has missing or "
                            f"corrupted files: {', '.join(bad)}",
                            hint=f"delete that folder and the archive, then run: {download_command(name, root)}")
    missing = missing_files(name, root)
    if missing:
        raise DataError(f"after the download, {', '.join(map(str, missing))} are still missing",
                        hint=f"delete {folder} and run again: {download_command(name, root)}")
    log(f"{name} is ready under {root}")
    return folder
