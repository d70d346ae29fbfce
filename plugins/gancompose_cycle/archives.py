"""The official CycleGAN datasets: ``gancompose data download monet2photo`` and ``data prepare``.

The archives are those the official repository's ``datasets/download_cyclegan_dataset.sh`` fetches
(``http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/NAME.zip``); each holds ``NAME/trainA``,
``trainB``, ``testA`` and ``testB``. The official script publishes no checksums, so an unpacked set is
verified by its image counts per folder. ``prepare`` unpacks an archive the user already has.
"""
from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
import urllib.error
import zipfile
from pathlib import Path
from typing import Callable, ClassVar

from pydantic import Field

from gancompose.errors import DataError, did_you_mean

from gancompose.data.images import scan_images

from gancompose_cycle.unpaired import UnpairedFolders, UnpairedFoldersParams

BASE_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"
#: name -> images per folder of the official archive
ARCHIVES: dict[str, dict[str, int]] = {
    "monet2photo": {"trainA": 1072, "trainB": 6287, "testA": 121, "testB": 751},
}
FOLDERS = ("trainA", "trainB", "testA", "testB")


def commands(name: str, root: str | Path) -> str:
    r = shlex.quote(str(root))
    return (f"`gancompose data download {name} --root {r}`, or with the archive at hand "
            f"`gancompose data prepare {name} --from {name}.zip --root {r}`")


def verify(name: str, folder: Path, *, what: str | Path | None = None, root: Path | None = None) -> dict[str, int]:
    """Image counts of the unpacked set; a DataError when they are not those of the official archive.
    ``what``/``root``: the archive and the --root to name in the message (when ``folder`` is a temporary one)."""
    expected = ARCHIVES[name]
    found = {f: len(scan_images(folder / f)) if (folder / f).is_dir() else 0 for f in FOLDERS}
    wrong = [f"{f}: {found[f]} images, expected {n}" for f, n in expected.items() if found[f] != n]
    if wrong:
        if what is not None:
            raise DataError(f"{what} does not hold a complete {name} set ({'; '.join(wrong)}); nothing was "
                            "written", hint=f"fetch the official archive: {commands(name, root)}")
        raise DataError(f"{folder} is not a complete {name} set ({'; '.join(wrong)})",
                        hint=f"delete it and fetch it again: {commands(name, folder.parent)}")
    return found


#: an image of the official sets is under 1 MiB; a member declaring more than this is refused before unpacking
MAX_MEMBER_BYTES = 256 * 2 ** 20
#: the largest name of one path component most filesystems take
MAX_NAME_BYTES = 255


def check_members(archive: Path, members: list[zipfile.ZipInfo], prefix: str) -> int:
    """Refuse, before anything is unpacked, members that could not be unpacked as plain files under the set's
    folder: paths outside it, symbolic links, a file and a folder of the same name, names too long, an
    unsupported compression method, declared sizes over :data:`MAX_MEMBER_BYTES`. Returns the declared total."""
    files: dict[str, str] = {}
    folders: dict[str, str] = {}
    total = 0
    for m in members:
        rel = m.filename[len(prefix):]
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise DataError(f"{archive}: refusing the member {m.filename!r} (it points outside the folder)")
        if m.is_dir():
            key = "/".join(parts)
            if key in files:
                raise DataError(f"{archive}: the members {files[key]!r} and {m.filename!r} both need {key!r} "
                                "(a file and a folder of one name)")
            folders.setdefault(key, m.filename)
            continue
        if (m.external_attr >> 16) & 0o170000 == 0o120000:
            raise DataError(f"{archive}: refusing the member {m.filename!r}: a symbolic link (a dataset archive "
                            "holds plain files)")
        long = [p for p in parts if len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES]
        if long:
            raise DataError(f"{archive}: refusing the member {m.filename[:80]!r}...: a name of "
                            f"{len(long[0])} characters (at most {MAX_NAME_BYTES} bytes per name)")
        if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise DataError(f"{archive}: the member {m.filename!r} uses compression method {m.compress_type}, "
                            "which cannot be unpacked here (stored, deflate, bzip2 and lzma can)",
                            hint="re-create the archive with deflate (zip -r NAME.zip NAME)")
        if m.file_size > MAX_MEMBER_BYTES:
            raise DataError(f"{archive}: the member {m.filename!r} declares {m.file_size:,} bytes, more than "
                            f"{MAX_MEMBER_BYTES:,} (no image of a dataset archive is that large); nothing was "
                            "unpacked")
        total += m.file_size
        key = "/".join(parts)
        if key in folders or key in files:
            other = folders.get(key) or files[key]
            raise DataError(f"{archive}: the members {other!r} and {m.filename!r} both need {key!r} "
                            "(a file and a folder of one name, or a duplicate)")
        files[key] = m.filename
        for i in range(1, len(parts)):
            sub = "/".join(parts[:i])
            if sub in files:
                raise DataError(f"{archive}: the members {files[sub]!r} and {m.filename!r} both need {sub!r} "
                                "(a file and a folder of one name)")
            folders.setdefault(sub, m.filename)
    return total


def _top_folder(zf: zipfile.ZipFile) -> str:
    """The path prefix inside the archive under which trainA/ lies ('' or 'NAME/')."""
    for info in zf.infolist():
        parts = Path(info.filename).parts
        if "trainA" in parts:
            return "/".join(parts[:parts.index("trainA")]) + ("/" if parts.index("trainA") else "")
    raise DataError(f"{zf.filename} holds no trainA/ folder: not a CycleGAN dataset archive")


def prepare(name: str, root: str | Path, archive: str | Path, *,
            log: Callable[[str], None] | None = None) -> Path:
    """Unpack ``archive`` into ``root/name`` (through a temporary folder, so an interrupted run leaves
    nothing half-written) and verify it. Returns the dataset folder."""
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
        with zipfile.ZipFile(archive) as zf:
            prefix = _top_folder(zf)
            inside = [m for m in zf.infolist() if m.filename.startswith(prefix) and m.filename != prefix]
            total = check_members(archive, inside, prefix)
            members = [m for m in inside if not m.is_dir()]
            free = shutil.disk_usage(root).free
            if total > free:
                raise DataError(f"{archive} unpacks to {total / 2 ** 30:.1f} GiB; {root} has {free / 2 ** 30:.1f} "
                                "GiB free", hint="free disk space or give another --root")
            with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}.") as tmp:
                log(f"unpacking {len(members)} files from {archive}")
                for m in members:
                    dest = Path(tmp, "set", m.filename[len(prefix):])
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(m) as src, open(dest, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                verify(name, Path(tmp, "set"), what=archive, root=root)
                if target.exists():
                    shutil.rmtree(target)
                Path(tmp, "set").rename(target)
    except zipfile.BadZipFile as exc:
        remove_empty(made)
        raise DataError(f"{archive} is not a readable zip archive ({exc})",
                        hint=f"delete it and download it again: {commands(name, root)}") from None
    except NotImplementedError as exc:  # a compression method zipfile cannot read after all
        remove_empty(made)
        raise DataError(f"{archive}: {exc}", hint="re-create the archive with deflate") from None
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
    """Fetch ``NAME.zip`` from the official server (or ``mirror``, a base URL serving it), unpack and verify."""
    if name not in ARCHIVES:
        raise DataError(f"no archive known for dataset {name!r}", hint=did_you_mean(name, ARCHIVES))
    log = log or (lambda msg: print(msg, file=sys.stderr))
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    base = mirror or BASE_URL
    url = (base if base.endswith("/") else base + "/") + f"{name}.zip"
    archive = root / f"{name}.zip"
    log(f"downloading {url}")
    try:
        from torchvision.datasets.utils import download_url
        download_url(url, str(root), archive.name, md5=None)
    except (urllib.error.URLError, OSError, ValueError, RuntimeError) as exc:
        archive.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {type(exc).__name__}: {exc}",
                        hint=f"check the network or pass --mirror; with the archive fetched elsewhere: "
                             f"gancompose data prepare {name} --from {name}.zip --root {shlex.quote(str(root))}") from None
    return prepare(name, root, archive, log=log)


class Monet2PhotoParams(UnpairedFoldersParams):
    """Parameters of the ``monet2photo`` dataset (the official CycleGAN set: 1072 Monet paintings and 6287
    photos for training, 121 and 751 for testing)."""
    published_sizes: ClassVar[dict[str, tuple[int, int]]] = {"train": (1072, 6287), "test": (121, 751)}

    def missing(self) -> str | None:
        root = Path(self.root).expanduser()
        if super().missing() is None:
            return None
        return "run: " + commands("monet2photo", root.parent if root.name == "monet2photo" else root).replace("`", "")
    root: str = Field("data/monet2photo", description="the unpacked set (gancompose data download monet2photo "
                                                      "--root data puts it in data/monet2photo)")


class Monet2Photo(UnpairedFolders):
    """CycleGAN's monet2photo: A = Monet paintings, B = landscape photos (Flickr), unpaired."""
    name = "monet2photo"

    def __init__(self, params: Monet2PhotoParams):
        root = Path(params.root).expanduser()
        self.prepare_hint = f"fetch it with {commands(self.name, root.parent if root.name == self.name else root)}"
        super().__init__(params)

    @classmethod
    def download(cls, root: Path, mirror: str | None = None) -> Path:
        return download(cls.name, root, mirror)

    @classmethod
    def prepare(cls, root: Path, archive: Path) -> Path:
        return prepare(cls.name, root, archive)
