"""Run folders: ``OUTPUT_DIR/NAME/YYYYmmdd-HHMMSS/`` with recipe.toml, metrics.jsonl, samples/, checkpoints/."""
from __future__ import annotations

import os
import time
from pathlib import Path

import tomli_w


def new_run_dir(output_dir: str | Path, name: str) -> Path:
    base = Path(output_dir) / name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / stamp
    n = 1
    while True:  # a folder that exists (another run started the same second) is never reused
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base / f"{stamp}-{n}"


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
