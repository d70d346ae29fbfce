"""Datasets published as one archive of image folders (a .zip or a .tar.gz): ``gancompose data download NAME``
fetches it, ``gancompose data prepare NAME --from FILE`` unpacks one the user already has.

A family declares its archives once (:class:`FolderArchives`: where they are served, their suffix, the folder that
marks a set's top, and each set's image count per folder) and its datasets' ``download``/``prepare`` call it. The
servers of such sets publish no checksums, so an unpacked set is verified by its image counts.

Members are checked before anything is written: plain files under the set's folder only (no links, devices,
absolute paths or ``..``), no name longer than a filesystem takes, no file and folder of one name, no declared size
over :data:`MAX_MEMBER_BYTES`, no compression method that cannot be read. They are unpacked into a temporary folder
beside the target and moved into place only when the set is complete, so an interrupted or refused run leaves
nothing half-written; folders the command made are removed again when it fails.
"""
from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
import tarfile
import urllib.error
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, ClassVar

from gancompose.data.images import scan_images
from gancompose.errors import DataError, did_you_mean

#: an image of a dataset archive is well under 1 MiB; a member declaring more than this is refused before unpacking
MAX_MEMBER_BYTES = 256 * 2 ** 20
#: the largest name of one path component most filesystems take
MAX_NAME_BYTES = 255
#: the compression methods Python's zipfile reads
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


@dataclass(frozen=True)
class Member:
    """One entry of a zip or tar archive, as the checks see it."""
    name: str                 #: as written in the archive
    path: str                 #: normalized ('./facades//train/1.jpg' -> 'facades/train/1.jpg'; the root: '.')
    kind: str                 #: "dir", "file", "symbolic link", "hard link" or "special" (device, fifo)
    size: int                 #: declared size in bytes
    unreadable: str | None = None  #: why it cannot be unpacked here (a zip compression method), or None
    handle: object = None     #: the ZipInfo / TarInfo


class _Reader:
    """A zip or tar archive as a list of :class:`Member` and a way to open one."""

    def __init__(self, path: Path):
        self.path = path
        self.is_zip = zipfile.is_zipfile(path)
        self._zip = zipfile.ZipFile(path) if self.is_zip else None
        self._tar = None if self.is_zip else tarfile.open(path, "r:*")

    def __enter__(self) -> "_Reader":
        return self

    def __exit__(self, *exc) -> None:
        (self._zip or self._tar).close()

    def members(self) -> list[Member]:
        if self._zip is not None:
            return [Member(m.filename, Path(m.filename).as_posix(),
                           "dir" if m.is_dir() else
                           "symbolic link" if (m.external_attr >> 16) & 0o170000 == 0o120000 else "file",
                           m.file_size,
                           None if m.compress_type in ZIP_METHODS else
                           f"uses compression method {m.compress_type}, which cannot be unpacked here (stored, "
                           "deflate, bzip2 and lzma can)", m) for m in self._zip.infolist()]
        return [Member(m.name, Path(m.name).as_posix(),
                       "dir" if m.isdir() else "file" if m.isfile() else
                       "symbolic link" if m.issym() else "hard link" if m.islnk() else "special", m.size, None, m)
                for m in self._tar.getmembers()]

    def open(self, m: Member) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(m.handle)
        src = self._tar.extractfile(m.handle)
        if src is None:  # (a regular file always has contents to read)
            raise DataError(f"{self.path}: cannot read the member {m.name!r}")
        return src


def check_members(archive: Path, members: list[Member], prefix: str) -> int:
    """Refuse, before anything is unpacked, members that could not be unpacked as plain files under the set's
    folder (``prefix`` inside the archive). Returns the declared total of the files."""
    files: dict[str, str] = {}
    folders: dict[str, str] = {}
    total = 0
    for m in members:
        rel = m.path[len(prefix):]
        parts = Path(rel).parts
        if m.kind == "dir" and rel == ".":  # the archive's root folder ('./')
            continue
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise DataError(f"{archive}: refusing the member {m.name!r} (it points outside the folder)")
        key = "/".join(parts)
        if m.kind == "dir":
            if key in files:
                raise DataError(f"{archive}: the members {files[key]!r} and {m.name!r} both need {key!r} "
                                "(a file and a folder of one name)")
            folders.setdefault(key, m.name)
            continue
        if m.kind in ("symbolic link", "hard link"):
            raise DataError(f"{archive}: refusing the member {m.name!r}: a {m.kind} (a dataset archive holds plain "
                            "files)")
        if m.kind == "special":
            raise DataError(f"{archive}: refusing the member {m.name!r}: a device, fifo or other special file (a "
                            "dataset archive holds plain files)")
        long = [p for p in parts if len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES]
        if long:
            raise DataError(f"{archive}: refusing the member {m.name[:80]!r}...: a name of {len(long[0])} characters "
                            f"(at most {MAX_NAME_BYTES} bytes per name)")
        if m.unreadable:
            raise DataError(f"{archive}: the member {m.name!r} {m.unreadable}",
                            hint="re-create the archive with deflate (zip -r NAME.zip NAME)")
        if m.size > MAX_MEMBER_BYTES:
            raise DataError(f"{archive}: the member {m.name!r} declares {m.size:,} bytes, more than "
                            f"{MAX_MEMBER_BYTES:,} (no image of a dataset archive is that large); nothing was "
                            "unpacked")
        total += m.size
        if key in folders or key in files:
            other = folders.get(key) or files[key]
            raise DataError(f"{archive}: the members {other!r} and {m.name!r} both need {key!r} "
                            "(a file and a folder of one name, or a duplicate)")
        files[key] = m.name
    for key, name in files.items():  # a file that another member needs as a folder, whatever their order
        parts = key.split("/")
        for i in range(1, len(parts)):
            sub = "/".join(parts[:i])
            if sub in files:
                raise DataError(f"{archive}: the members {files[sub]!r} and {name!r} both need {sub!r} "
                                "(a file and a folder of one name)")
    return total


@dataclass
class FolderArchives:
    """The archives of one family: ``{base_url}{name}{suffix}``, each unpacking to ``NAME/<folder>/...`` with
    ``counts[name]`` images per folder (the folders named there are verified; others are kept as they are).
    ``marker`` is a folder every set has (its parent is the set's top inside the archive); ``family`` names the
    kind of archive in messages ("a CycleGAN dataset archive")."""
    base_url: str
    suffix: str
    counts: dict[str, dict[str, int]]
    marker: str
    family: str

    def _known(self, name: str) -> dict[str, int]:
        if name not in self.counts:
            raise DataError(f"no archive known for dataset {name!r}", hint=did_you_mean(name, self.counts))
        return self.counts[name]

    def commands(self, name: str, root: str | Path) -> str:
        """The two commands that put set ``name`` under ``root``, for hints."""
        r = shlex.quote(str(root))
        return (f"`gancompose data download {name} --root {r}`, or with the archive at hand "
                f"`gancompose data prepare {name} --from {name}{self.suffix} --root {r}`")

    def commands_for(self, name: str, dataset_root: str | Path) -> str:
        """:meth:`commands` for a dataset whose folder is ``dataset_root``: the ``--root`` is its parent when the
        folder is ``.../NAME`` (where ``data download NAME`` puts the set), else the folder itself."""
        root = Path(dataset_root).expanduser()
        return self.commands(name, root.parent if root.name == name else root)

    def fetch_hint(self, name: str, dataset_root: str | Path) -> str:
        """``run: ...`` for a dataset whose files are missing."""
        return "run: " + self.commands_for(name, dataset_root).replace("`", "")

    def verify(self, name: str, folder: Path, *, what: str | Path | None = None,
               root: Path | None = None) -> dict[str, int]:
        """Image counts of the unpacked set's folders; a DataError when a required count is not the published one.
        ``what``/``root``: the archive and the --root to name in the message (when ``folder`` is a temporary one)."""
        expected = self._known(name)
        found = {f: len(scan_images(folder / f)) if (folder / f).is_dir() else 0 for f in expected}
        wrong = [f"{f}: {found[f]} images, expected {n}" for f, n in expected.items() if found[f] != n]
        if wrong:
            if what is not None:
                raise DataError(f"{what} does not hold a complete {name} set ({'; '.join(wrong)}); nothing was "
                                "written", hint=f"fetch the official archive: {self.commands(name, root)}")
            raise DataError(f"{folder} is not a complete {name} set ({'; '.join(wrong)})",
                            hint=f"delete it and fetch it again: {self.commands(name, folder.parent)}")
        return found

    def _prefix(self, archive: Path, members: list[Member]) -> str:
        """The path inside the archive under which the marker folder lies ('' or 'NAME/')."""
        for m in members:
            parts = Path(m.path).parts
            if self.marker in parts[:-1] or (m.kind == "dir" and parts and parts[-1] == self.marker):
                i = parts.index(self.marker)
                return "/".join(parts[:i]) + ("/" if i else "")
        raise DataError(f"{archive} holds no {self.marker}/ folder: not {self.family}")

    def prepare(self, name: str, root: str | Path, archive: str | Path, *,
                log: Callable[[str], None] | None = None) -> Path:
        """Unpack ``archive`` into ``root/name`` (through a temporary folder, so an interrupted run leaves nothing
        half-written) and verify it. Returns the dataset folder."""
        self._known(name)
        log = log or (lambda msg: print(msg, file=sys.stderr))
        archive, root = Path(archive).expanduser(), Path(root).expanduser()
        if not archive.is_file():
            raise DataError(f"archive not found: {archive}", hint=f"download it with {self.commands(name, root)}")
        target = root / name
        from gancompose_data.download import make_folder, remove_empty
        made = make_folder(root, root, f"prepare {name} --from {archive}")
        try:
            with _Reader(archive) as reader:
                members = reader.members()
                check_members(archive, members, "")  # nothing anywhere in it may point outside or be a link
                prefix = self._prefix(archive, members)
                inside = [m for m in members if m.path.startswith(prefix) and m.path != prefix.rstrip("/")]
                total = check_members(archive, inside, prefix)
                files = [m for m in inside if m.kind == "file"]
                free = shutil.disk_usage(root).free
                if total > free:
                    raise DataError(f"{archive} unpacks to {total / 2 ** 30:.1f} GiB; {root} has "
                                    f"{free / 2 ** 30:.1f} GiB free", hint="free disk space or give another --root")
                with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}.") as tmp:
                    log(f"unpacking {len(files)} files from {archive}")
                    for m in files:
                        dest = Path(tmp, "set", m.path[len(prefix):])
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with reader.open(m) as src, open(dest, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                    self.verify(name, Path(tmp, "set"), what=archive, root=root)
                    if target.exists():
                        shutil.rmtree(target)
                    Path(tmp, "set").rename(target)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            remove_empty(made)
            raise DataError(f"{archive} is not a readable {self.suffix.lstrip('.')} archive "
                            f"({type(exc).__name__}: {exc})",
                            hint=f"delete it and download it again: {self.commands(name, root)}") from None
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
        counts = self.verify(name, target)
        log(f"{name} is ready in {target} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
        return target

    def download(self, name: str, root: str | Path, mirror: str | None = None, *,
                 log: Callable[[str], None] | None = None) -> Path:
        """Fetch ``NAME{suffix}`` from the official server (or ``mirror``, a base URL serving it), unpack and
        verify."""
        self._known(name)
        log = log or (lambda msg: print(msg, file=sys.stderr))
        root = Path(root).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        base = mirror or self.base_url
        url = (base if base.endswith("/") else base + "/") + f"{name}{self.suffix}"
        archive = root / f"{name}{self.suffix}"
        log(f"downloading {url}")
        try:
            from torchvision.datasets.utils import download_url  # here: torchvision's import costs seconds
            download_url(url, str(root), archive.name, md5=None)
        except (urllib.error.URLError, OSError, ValueError, RuntimeError) as exc:
            archive.unlink(missing_ok=True)
            raise DataError(f"could not download {url}: {type(exc).__name__}: {exc}",
                            hint=f"check the network or pass --mirror; with the archive fetched elsewhere: "
                                 f"gancompose data prepare {name} --from {name}{self.suffix} --root "
                                 f"{shlex.quote(str(root))}") from None
        return self.prepare(name, root, archive, log=log)


class FromArchive:
    """Mixin of a dataset class whose files come from one set of :attr:`archives` (its ``name``): the
    ``download`` and ``prepare`` class methods ``gancompose data`` calls, and the hint a missing folder names.
    Put it before the folder dataset it completes: ``class Monet2Photo(FromArchive, UnpairedFolders)``."""
    archives: ClassVar[FolderArchives]
    name: ClassVar[str]

    def __init__(self, params, *args, **kwargs):
        self.prepare_hint = f"fetch it with {self.archives.commands_for(self.name, params.root)}"
        super().__init__(params, *args, **kwargs)

    @classmethod
    def download(cls, root: Path, mirror: str | None = None) -> Path:
        return cls.archives.download(cls.name, root, mirror)

    @classmethod
    def prepare(cls, root: Path, archive: Path) -> Path:
        return cls.archives.prepare(cls.name, root, archive)
