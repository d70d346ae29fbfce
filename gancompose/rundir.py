"""Run folders: ``OUTPUT_DIR/NAME/YYYYmmdd-HHMMSS/`` with recipe.toml, metrics.jsonl, samples/, checkpoints/."""
from __future__ import annotations

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
    path = run_dir / "recipe.toml"
    path.write_text("# The resolved recipe of this run (extends and --set applied).\n" + recipe_toml(recipe))
    return path
