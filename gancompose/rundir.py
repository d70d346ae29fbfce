"""Run folders: ``OUTPUT_DIR/NAME/YYYYmmdd-HHMMSS/`` with recipe.toml, metrics.jsonl, samples/, checkpoints/."""
from __future__ import annotations

import os
import time
from pathlib import Path

import tomli_w

from gancompose.errors import GancomposeError


def new_run_dir(output_dir: str | Path, name: str) -> Path:
    """A new, empty run folder ``OUTPUT_DIR/NAME/STAMP`` (``STAMP-2``... when it exists). An output folder that
    cannot be made or written is one clear error (a RunDirError), checked by making the run folder itself."""
    base = Path(output_dir) / name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(output_dir, exc) from None
    path = base / stamp
    n = 1
    while True:  # a folder that exists (another run started the same second) is never reused
        try:
            path.mkdir()
            probe = path / ".write-test"
            probe.write_bytes(b"")  # a read-only filesystem, or a folder root may not write in
            probe.unlink()
            return path
        except FileExistsError:
            if not base.is_dir() or n > 10_000:
                raise _unwritable(output_dir, OSError(f"{path} exists and is not a new folder")) from None
            n += 1
            path = base / f"{stamp}-{n}"
        except OSError as exc:
            try:
                path.rmdir()
            except OSError:
                pass
            raise _unwritable(output_dir, exc) from None


class RunDirError(GancomposeError):
    """The run folder cannot be made or written."""


def _unwritable(output_dir, exc: OSError) -> RunDirError:
    return RunDirError(f"cannot write a run folder in {output_dir}: {exc.strerror or exc}",
                       hint="give a writable folder with --output-dir (or train.output_dir)")


#: temporary files an interrupted write can leave in a run folder (a SIGKILL mid-write): safetensors' own
#: ``.tmpXXXXXX``, gancompose's ``.NAME.XXXXXXXX.tmp`` (atomic checkpoint writes), ``.last.safetensors.tmp`` and
#: ``.recipe.toml.tmp``; never read, removed when the run starts or resumes
ORPHAN_PATTERNS = {"checkpoints": (".tmp??????", ".*.tmp"), ".": (".*.tmp", ".write-test")}


def clean_orphans(run_dir: Path) -> list[Path]:
    """Remove the temporary files an interrupted write left in ``run_dir``; returns what was removed."""
    removed = []
    for sub, patterns in ORPHAN_PATTERNS.items():
        folder = Path(run_dir) / sub
        if not folder.is_dir():
            continue
        for pattern in patterns:
            for path in folder.glob(pattern):
                if path.is_file() and not path.is_symlink():
                    try:
                        path.unlink()
                        removed.append(path)
                    except OSError:
                        pass
    return removed


def run_dir_of_checkpoint(ckpt_path: str | Path) -> Path | None:
    """The run folder a checkpoint lives in (``RUN/checkpoints/x.safetensors``), if it is one."""
    run = Path(ckpt_path).resolve().parent.parent
    return run if (run / "recipe.toml").exists() else None


def recipe_toml(recipe) -> str:
    return tomli_w.dumps(recipe.model_dump(mode="json", exclude_none=True))


def write_recipe(run_dir: Path, recipe) -> Path:
    """``RUN/recipe.toml``: the resolved recipe the run started with. Written once, when the run folder is made,
    atomically (a temporary file renamed over it); a resume never rewrites it (accepted changes go to
    ``RUN/changes.jsonl``)."""
    path = Path(run_dir) / "recipe.toml"
    tmp = path.with_name(".recipe.toml.tmp")
    try:
        tmp.write_text("# The resolved recipe of this run (extends and --set applied).\n" + recipe_toml(recipe))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
