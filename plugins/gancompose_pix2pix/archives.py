"""The official pix2pix datasets: ``gancompose data download facades`` and ``data prepare facades``.

The archives are those the official repository's ``datasets/download_pix2pix_dataset.sh`` fetches
(``http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/NAME.tar.gz``); facades holds ``facades/train`` (400
pairs), ``val`` and ``test``, each image 512x256 with the photo on the left and its label map on the right. The
official script publishes no checksums, so an unpacked set is verified by its number of training pairs (the
paper's 400). ``prepare`` unpacks an archive the user already has. Members are checked before anything is written
(regular files under the set's folder only: no links, devices, absolute paths or ``..``), unpacked into a
temporary folder and moved into place when complete.
"""
from __future__ import annotations

import shlex
import shutil
import sys
import tarfile
import tempfile
import urllib.error
from pathlib import Path
from typing import Callable, ClassVar, Literal

from pydantic import Field

from gancompose.data.images import scan_images
from gancompose.errors import DataError, did_you_mean

from gancompose_pix2pix.paired import PairedFolders, PairedFoldersParams

BASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
#: name -> pairs per folder that the unpacked set must hold (the training split the recipes use)
ARCHIVES: dict[str, dict[str, int]] = {
    "facades": {"train": 400},
}
SPLITS = ("train", "val", "test")
#: an image of the official sets is well under 1 MiB; a member declaring more than this is refused before unpacking
MAX_MEMBER_BYTES = 256 * 2 ** 20
#: the largest name of one path component most filesystems take
MAX_NAME_BYTES = 255


def commands(name: str, root: str | Path) -> str:
    r = shlex.quote(str(root))
    return (f"`gancompose data download {name} --root {r}`, or with the archive at hand "
            f"`gancompose data prepare {name} --from {name}.tar.gz --root {r}`")


def verify(name: str, folder: Path, *, what: str | Path | None = None, root: Path | None = None) -> dict[str, int]:
    """Image counts of the unpacked set's folders; a DataError when a required count is not the official one.
    ``what``/``root``: the archive and the --root to name in the message (when ``folder`` is a temporary one)."""
    expected = ARCHIVES[name]
    found = {s: len(scan_images(folder / s)) if (folder / s).is_dir() else 0 for s in SPLITS}
    wrong = [f"{s}: {found[s]} images, expected {n}" for s, n in expected.items() if found[s] != n]
    if wrong:
        if what is not None:
            raise DataError(f"{what} does not hold a complete {name} set ({'; '.join(wrong)}); nothing was "
                            "written", hint=f"fetch the official archive: {commands(name, root)}")
        raise DataError(f"{folder} is not a complete {name} set ({'; '.join(wrong)})",
                        hint=f"delete it and fetch it again: {commands(name, folder.parent)}")
    return found


def _path(m: tarfile.TarInfo) -> str:
    """The member's path, normalized ('./facades//train/1.jpg' -> 'facades/train/1.jpg'; the root itself: '.')."""
    return Path(m.name).as_posix()


def _prefix(members: list[tarfile.TarInfo], archive: Path) -> str:
    """The path inside the archive under which train/ lies ('' or 'NAME/')."""
    for m in members:
        parts = Path(_path(m)).parts
        if "train" in parts[:-1] or (m.isdir() and parts and parts[-1] == "train"):
            i = parts.index("train")
            return "/".join(parts[:i]) + ("/" if i else "")
    raise DataError(f"{archive} holds no train/ folder: not a pix2pix dataset archive")


def check_members(archive: Path, members: list[tarfile.TarInfo], prefix: str) -> int:
    """Refuse, before anything is unpacked, members that could not be unpacked as plain files under the set's
    folder: links, devices, paths outside it, names too long, a file and a folder of one name, declared sizes over
    :data:`MAX_MEMBER_BYTES`. Returns the declared total of the files."""
    files: dict[str, str] = {}
    folders: set[str] = set()
    total = 0
    for m in members:
        rel = _path(m)[len(prefix):]
        parts = Path(rel).parts
        if m.isdir() and rel == ".":  # the archive's root folder ('./')
            continue
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise DataError(f"{archive}: refusing the member {m.name!r} (it points outside the folder)")
        if m.isdir():
            folders.add("/".join(parts))
            continue
        if not m.isfile():
            kind = "link" if (m.issym() or m.islnk()) else "device, fifo or other special file"
            raise DataError(f"{archive}: refusing the member {m.name!r}: a {kind} (a dataset archive holds plain "
                            "files)")
        long = [p for p in parts if len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES]
        if long:
            raise DataError(f"{archive}: refusing the member {m.name[:80]!r}...: a name of {len(long[0])} characters "
                            f"(at most {MAX_NAME_BYTES} bytes per name)")
        if m.size > MAX_MEMBER_BYTES:
            raise DataError(f"{archive}: the member {m.name!r} declares {m.size:,} bytes, more than "
                            f"{MAX_MEMBER_BYTES:,} (no image of a dataset archive is that large); nothing was "
                            "unpacked")
        key = "/".join(parts)
        if key in files or key in folders:
            raise DataError(f"{archive}: the member {m.name!r} is there twice, or as a file and a folder")
        files[key] = m.name
        total += m.size
    for key in files:  # a file that another member needs as a folder
        parts = key.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise DataError(f"{archive}: the members {files['/'.join(parts[:i])]!r} and {files[key]!r} both need "
                                f"{'/'.join(parts[:i])!r} (a file and a folder of one name)")
    return total


def prepare(name: str, root: str | Path, archive: str | Path, *, log: Callable[[str], None] | None = None) -> Path:
    """Unpack ``archive`` (a .tar.gz) into ``root/name`` (through a temporary folder, so an interrupted run
    leaves nothing half-written) and verify it. Returns the dataset folder."""
    if name not in ARCHIVES:
        raise DataError(f"no archive known for dataset {name!r}", hint=did_you_mean(name, ARCHIVES))
    log = log or (lambda msg: print(msg, file=sys.stderr))
    archive, root = Path(archive).expanduser(), Path(root).expanduser()
    if not archive.is_file():
        raise DataError(f"archive not found: {archive}", hint=f"download it with {commands(name, root)}")
    target = root / name
    from gancompose_data.download import make_folder, remove_empty
    made = make_folder(root, root, f"prepare {name} --from {archive}")
    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            check_members(archive, members, "")  # no member may point outside, be a link or a device
            prefix = _prefix(members, archive)
            inside = [m for m in members if _path(m).startswith(prefix) and _path(m) != prefix.rstrip("/")]
            total = check_members(archive, inside, prefix)
            files = [m for m in inside if m.isfile()]
            free = shutil.disk_usage(root).free
            if total > free:
                raise DataError(f"{archive} unpacks to {total / 2 ** 30:.1f} GiB; {root} has {free / 2 ** 30:.1f} "
                                "GiB free", hint="free disk space or give another --root")
            with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}.") as tmp:
                log(f"unpacking {len(files)} files from {archive}")
                for m in files:
                    dest = Path(tmp, "set", _path(m)[len(prefix):])
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(m)
                    if src is None:  # (a regular file always has contents to read)
                        raise DataError(f"{archive}: cannot read the member {m.name!r}")
                    with src, open(dest, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                verify(name, Path(tmp, "set"), what=archive, root=root)
                if target.exists():
                    shutil.rmtree(target)
                Path(tmp, "set").rename(target)
    except (tarfile.TarError, EOFError) as exc:
        remove_empty(made)
        raise DataError(f"{archive} is not a readable tar archive ({type(exc).__name__}: {exc})",
                        hint=f"delete it and download it again: {commands(name, root)}") from None
    except OSError as exc:
        remove_empty(made)
        raise DataError(f"cannot unpack {archive} into {root}: {exc.strerror or exc}; nothing was written to "
                        f"{target}", hint="check the free space and permissions of --root") from None
    except BaseException:
        remove_empty(made)
        raise
    counts = verify(name, target)
    log(f"{name} is ready in {target} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    return target


def download(name: str, root: str | Path, mirror: str | None = None, *,
             log: Callable[[str], None] | None = None) -> Path:
    """Fetch ``NAME.tar.gz`` from the official server (or ``mirror``, a base URL serving it), unpack and verify."""
    if name not in ARCHIVES:
        raise DataError(f"no archive known for dataset {name!r}", hint=did_you_mean(name, ARCHIVES))
    log = log or (lambda msg: print(msg, file=sys.stderr))
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    base = mirror or BASE_URL
    url = (base if base.endswith("/") else base + "/") + f"{name}.tar.gz"
    archive = root / f"{name}.tar.gz"
    log(f"downloading {url}")
    try:
        from torchvision.datasets.utils import download_url  # here: torchvision's import costs seconds
        download_url(url, str(root), archive.name, md5=None)
    except (urllib.error.URLError, OSError, ValueError, RuntimeError) as exc:
        archive.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {type(exc).__name__}: {exc}",
                        hint=f"check the network or pass --mirror; with the archive fetched elsewhere: "
                             f"gancompose data prepare {name} --from {name}.tar.gz --root "
                             f"{shlex.quote(str(root))}") from None
    return prepare(name, root, archive, log=log)


class FacadesParams(PairedFoldersParams):
    """Parameters of the ``facades`` dataset (pix2pix's CMP Facades pairs: 400 for training; each image is the
    photo on the left and its label map on the right, so the default direction is BtoA, labels -> photo)."""
    published_sizes: ClassVar[dict[str, int]] = {"train": 400}
    root: str = Field("data/facades", description="the unpacked set (gancompose data download facades --root data "
                                                  "puts it in data/facades)")
    direction: Literal["AtoB", "BtoA"] = Field("BtoA", description="BtoA: label map -> photo, as the official "
                                                                   "facades training (--direction BtoA)")

    def missing(self) -> str | None:
        if super().missing() is None:
            return None
        root = Path(self.root).expanduser()
        return "run: " + commands("facades", root.parent if root.name == "facades" else root).replace("`", "")


class Facades(PairedFolders):
    """pix2pix's facades: CMP Facades label maps (B) and photos (A), paired; trained BtoA."""
    name = "facades"

    def __init__(self, params: FacadesParams):
        root = Path(params.root).expanduser()
        self.prepare_hint = f"fetch it with {commands(self.name, root.parent if root.name == self.name else root)}"
        super().__init__(params)

    @classmethod
    def download(cls, root: Path, mirror: str | None = None) -> Path:
        return download(cls.name, root, mirror)

    @classmethod
    def prepare(cls, root: Path, archive: Path) -> Path:
        return prepare(cls.name, root, archive)
