"""``--resume`` never changes a run silently.

A resumed run continues the run its checkpoint was written by. The recipe given to ``--resume`` (after
``--set``/``--seed``/``--device``) is compared with the one the checkpoint carries in its metadata, key by key;
a difference in anything that changes what is trained is refused with the list of differences, unless each
differing key is named with ``--allow-change KEY`` (a dotted key path; a prefix names everything under it).
An accepted change is applied (an optimizer's new hyper-parameters replace the saved ones) and recorded in
``RUN/changes.jsonl``. A change of the networks' architecture (``[networks]``, ``latent.dim``) is always
refused: the saved weights do not fit; start a new run from them with ``init_from``.

Keys that never change what is trained, and are therefore free to differ (:data:`IGNORED`): where and how often
it writes (``train.output_dir``, ``train.log_every``,
``train.sample_every``, ``train.samples``, ``train.checkpoint_every``, ``train.keep_checkpoints``,
``train.tensorboard``), where it runs (``train.device``, ``train.num_workers``, ``[performance]``), what it does
on a numerical fault (``train.on_nan``, ``train.rollback_lr_factor``, ``train.max_rollbacks``,
``train.max_loss``), what it measures (``[[metrics]]``, which draw their own random numbers), its name,
description and ``requires``, and the networks' ``init_from`` (a resumed run does not read it).
"""
from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from gancompose.errors import CheckpointError, GancomposeError

#: key paths (and everything under them) that may differ between the checkpoint's recipe and the one resumed with
IGNORED: tuple[str, ...] = (
    "name", "description", "requires",
    "train.output_dir", "train.log_every", "train.sample_every", "train.samples", "train.checkpoint_every",
    "train.keep_checkpoints", "train.tensorboard",
    "train.device", "train.num_workers", "performance",
    "train.on_nan", "train.rollback_lr_factor", "train.max_rollbacks", "train.max_loss",
    "metrics",
)
_INIT_FROM = re.compile(r"networks\.[^.\[]+\.init_from(?:[.\[]|$)")
#: the networks' architecture: never accepted on resume (the saved weights would not fit)
_ARCHITECTURE = ("networks", "latent.dim")
#: optimizer param_group entries that are kernel choices, not hyper-parameters ([performance] sets them)
_KERNEL_FLAGS = {"params", "initial_lr", "fused", "foreach", "capturable", "differentiable"}
_ABSENT = object()


@dataclass
class Change:
    key: str
    old: Any  # the checkpoint's value (None when absent)
    new: Any  # the recipe's value

    def describe(self) -> str:
        return f"{self.key}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "<absent>"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def _join(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def _diff(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """``(key path, a's value, b's value)`` for every difference, at the deepest level both are tables."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            yield from _diff(a.get(key, _ABSENT), b.get(key, _ABSENT), _join(path, key))
    elif (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
          and any(isinstance(x, dict) for x in (*a, *b))):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _diff(x, y, _join(path, i))
    elif a != b:
        yield path, a, b


def ignored(path: str) -> bool:
    """Whether a difference at this key path cannot change what is trained (see the module's doc)."""
    return any(_under(path, p) for p in IGNORED) or _INIT_FROM.match(path) is not None


def architecture(path: str) -> bool:
    return any(_under(path, p) for p in _ARCHITECTURE)


def _plain(recipe_dict: dict) -> dict:
    return json.loads(json.dumps(recipe_dict, default=str))


def checkpoint_recipe(ckpt, registry=None):
    """The checkpoint's recipe validated with today's defaults (a file written before a key existed still
    compares equal), or None when it no longer validates (then the raw dict is compared)."""
    from gancompose.recipe import validate_recipe
    try:
        return validate_recipe(copy.deepcopy(ckpt.recipe), file=str(ckpt.path), registry=registry)
    except GancomposeError:
        return None


def compare(recipe, ckpt, allow: Sequence[str] = (), registry=None) -> tuple[list[Change], Any]:
    """The accepted differences between ``recipe`` and the checkpoint's recipe, and the checkpoint's recipe
    (validated, or None). Raises a CheckpointError listing the differences that are not accepted."""
    theirs_model = checkpoint_recipe(ckpt, registry)
    theirs = _plain(theirs_model.model_dump(mode="json") if theirs_model is not None else ckpt.recipe)
    ours = _plain(recipe.model_dump(mode="json"))
    diffs = [Change(p, a, b) for p, a, b in _diff(theirs, ours) if not ignored(p)]
    arch = [c for c in diffs if architecture(c.key)]
    if arch:
        raise CheckpointError(
            f"{ckpt.path} was written by a recipe with other networks; --resume continues the same run, and its "
            f"weights do not fit these networks:\n" + _listing(arch),
            hint="to start a new run from these weights, give the networks init_from = { path = \"...\" } "
                 "(see docs/recipes.md); --allow-change does not apply to the networks' architecture")
    allow = [a.strip() for a in allow if a.strip()]
    refused = [c for c in diffs if not any(_under(c.key, a) for a in allow)]
    if refused:
        from gancompose.rundir import run_dir_of_checkpoint
        example = refused[0].key
        own = (run_dir_of_checkpoint(ckpt.path) if ckpt.path.name == "last.safetensors" else None) or ckpt.path
        raise CheckpointError(
            f"the recipe differs from the one {ckpt.path} was trained with, and --resume continues that run "
            f"unchanged (checkpoint value -> recipe value):\n" + _listing(refused),
            hint=f"to change {'it' if len(refused) == 1 else 'them'} on purpose, name each key: "
                 + " ".join(f"--allow-change {c.key}" for c in refused[:6])
                 + (" ..." if len(refused) > 6 else "")
                 + f" (a prefix covers what is under it, e.g. --allow-change {example.rsplit('.', 1)[0]}); "
                   f"to keep the run as it was, resume with its own recipe: gancompose run --resume {own}")
    return diffs, theirs_model


def _listing(changes: list[Change], limit: int = 25) -> str:
    lines = [f"  {c.describe()}" for c in changes[:limit]]
    if len(changes) > limit:
        lines.append(f"  ... and {len(changes) - limit} more")
    return "\n".join(lines)


# ------------------------------------------------------------------------- applying accepted changes
def optimizers_changed(changes: list[Change]) -> set[str]:
    """Optimizers whose type changed (or that the checkpoint does not have): their saved state is dropped."""
    out = set()
    for c in changes:
        m = re.match(r"optimizers\.([^.\[]+)(?:\.type)?$", c.key)
        if m and (c.key.endswith(".type") or c.old is _ABSENT or c.new is _ABSENT or c.old is None):
            out.add(m.group(1))
    return out


def hyper_parameters(opt) -> list[dict[str, Any]]:
    return [{k: copy.deepcopy(v) for k, v in g.items() if k not in _KERNEL_FLAGS} for g in opt.param_groups]


def apply_optimizer_changes(run, changes: list[Change], theirs_model, fresh: dict[str, list[dict]]) -> None:
    """After the checkpoint was restored: the recipe's optimizer hyper-parameters (lr, betas, weight decay, ...)
    replace the saved ones where the recipe changed them (a rollback's lowered rate is kept otherwise).
    ``fresh``: each optimizer's param_groups as the recipe built them, taken before the restore."""
    from gancompose.builder.run import build_component
    names = {m.group(1) for c in changes if (m := re.match(r"optimizers\.([^.\[]+)", c.key))}
    for name in names & set(run.optimizers):
        opt = run.optimizers[name]
        before = None  # the hyper-parameters the checkpoint's recipe gives the same parameters
        if theirs_model is not None and name in theirs_model.optimizers:
            spec = theirs_model.optimizers[name]
            try:
                before = hyper_parameters(build_component("optimizer", spec, run.registry, ["optimizers", name],
                                                 [p for g in opt.param_groups for p in g["params"]]))
            except Exception:  # a plugin that is gone: overwrite every hyper-parameter
                before = None
        for i, (group, new) in enumerate(zip(opt.param_groups, fresh.get(name, []))):
            old = before[i] if before is not None and i < len(before) else {}
            for key, value in new.items():
                if before is None or old.get(key, _ABSENT) != value:
                    group[key] = copy.deepcopy(value)
                    if key == "lr":
                        group["initial_lr"] = value


def record(run_dir: Path, changes: list[Change], step: int, checkpoint: Path) -> Path:
    """Append the accepted changes to ``RUN/changes.jsonl`` (one line each, with the step they took effect)."""
    path = Path(run_dir) / "changes.jsonl"
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(path, "a", encoding="utf-8") as fh:
        for c in changes:
            fh.write(json.dumps({"step": step, "key": c.key, "old": None if c.old is _ABSENT else c.old,
                                 "new": None if c.new is _ABSENT else c.new, "checkpoint": str(checkpoint),
                                 "time": when}, default=str) + "\n")
    return path


# ------------------------------------------------------------------------------ what --resume names
def newest_run(output_dir: str | Path, name: str) -> Path | None:
    """The most recently started run folder of ``OUTPUT_DIR/NAME/`` that has ``checkpoints/last.safetensors``
    (folders are named ``YYYYmmdd-HHMMSS`` or ``YYYYmmdd-HHMMSS-N``)."""
    base = Path(output_dir) / name
    found = []
    if base.is_dir():
        for p in base.iterdir():
            m = re.fullmatch(r"(\d{8}-\d{6})(?:-(\d+))?", p.name)
            if m and (p / "checkpoints" / "last.safetensors").is_file():
                found.append(((m.group(1), int(m.group(2) or 1)), p))
    return max(found)[1] if found else None


def resolve_resume(resume: str, recipe=None) -> Path:
    """The checkpoint ``--resume`` names: a checkpoint file, a run folder (its ``checkpoints/last.safetensors``),
    or ``latest`` (the newest run of ``recipe`` under its ``train.output_dir``)."""
    if resume == "latest":
        if recipe is None:
            raise CheckpointError("--resume latest needs the RECIPE whose newest run to continue",
                                  hint="gancompose run RECIPE --resume latest, or gancompose run --resume RUN_DIR")
        run = newest_run(recipe.train.output_dir, recipe.name)
        if run is None:
            raise CheckpointError(f"--resume latest: no run of {recipe.name!r} with a checkpoint in "
                                  f"{Path(recipe.train.output_dir) / recipe.name}",
                                  hint="start it without --resume, or give --output-dir where its runs are")
        return run / "checkpoints" / "last.safetensors"
    path = Path(resume)
    if path.is_dir():
        last = path / "checkpoints" / "last.safetensors"
        if not last.is_file():
            raise CheckpointError(f"--resume {resume}: the folder has no checkpoints/last.safetensors "
                                  "(not a run folder, or no checkpoint was written yet)",
                                  hint="give a run folder (OUTPUT_DIR/NAME/STAMP) or a checkpoint file")
        return last
    return path


def recipe_of_checkpoint(ckpt, overrides: Sequence[str] = (), registry=None):
    """The recipe a checkpoint was trained with (its metadata, accepted changes included), with ``--set``
    overrides applied: what ``gancompose run --resume RUN_DIR`` continues with."""
    from gancompose.recipe import apply_overrides, validate_recipe
    raw = apply_overrides(ckpt.recipe, overrides)
    recipe = validate_recipe(raw, file=str(ckpt.path), registry=registry)
    recipe._source = str(ckpt.path)
    return recipe
