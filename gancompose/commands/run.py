"""``gancompose run``: overrides from the options, a new or resumed run, exit codes after signals."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.markup import escape

from gancompose.commands.context import err_console, load, registry
from gancompose.errors import GancomposeError


def run(recipe, overrides, max_steps, device, seed, resume, allow_changes, data_root, output_dir, quiet,
        tensorboard):
    from gancompose.runner import RunInterrupted, exit_code, run_recipe
    extra = [f"train.device={json.dumps(device)}"] if device else []
    extra += [f"train.seed={seed}"] if seed is not None else []
    extra += [f"train.output_dir={json.dumps(output_dir)}"] if output_dir else []
    extra += ["train.tensorboard=true"] if tensorboard else []
    if allow_changes and resume is None:
        raise GancomposeError("--allow-change only applies with --resume")
    if recipe is None:
        if resume is None:
            raise GancomposeError("give a RECIPE to train, or --resume RUN_DIR to continue a run",
                                  hint="gancompose run recipes/vanilla_gan_ring.toml")
        from gancompose.checkpoint import Checkpoint
        from gancompose.resume import recipe_of_checkpoint, resolve_resume
        resume = resolve_resume(resume)
        r = recipe_of_checkpoint(Checkpoint(resume), (*overrides, *extra), registry=registry())
    else:
        if data_root is not None:
            extra += [f"data.root={json.dumps(data_folder(recipe, overrides, data_root))}"]
        r = load(recipe, (*overrides, *extra))
    result = None
    try:
        result = run_recipe(r, resume=resume, max_steps=max_steps, quiet=quiet or not sys.stderr.isatty(),
                            console=err_console, allow_changes=allow_changes)
        report_run(result)
    except RunInterrupted as exc:  # a second Ctrl-C / SIGTERM: stopped at once; the message says what is on disk
        leaving()
        err_console.print(escape(str(exc)), soft_wrap=True)
        sys.exit(exit_code(exc.signum))
    except KeyboardInterrupt:  # outside the loop (building, reading data, reporting): no checkpoint write under way
        leaving()
        err_console.print("interrupted outside the training loop; no checkpoint was being written"
                          + (f" (the run had stopped at step {result.run.state.step}: {result.run_dir})"
                             if result is not None else ""), soft_wrap=True)
        sys.exit(130)
    if result.interrupted is not None:
        leaving()
        sys.exit(exit_code(result.interrupted))


def leaving() -> None:
    """The process is leaving after an interrupt: one more Ctrl-C would only interrupt the interpreter's own
    shutdown (a KeyboardInterrupt in an atexit callback of torch, printed as a traceback). It is ignored from the
    start of that shutdown: an atexit callback registered now runs before torch's, registered at import. A caller
    that goes on in the same process (a CliRunner, a notebook) keeps its own handler."""
    import atexit
    import signal
    atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)


def report_run(result) -> None:
    if result.last_checkpoint is None and result.run.dist is not None and not result.run.dist.is_main:
        return  # torchrun: process 0 reports
    status = "stopped early" if result.stopped_early else "done"
    err_console.print(f"{status} at step {result.run.state.step}: {result.run_dir}", soft_wrap=True)
    if result.last_checkpoint:
        last = result.run_dir / 'checkpoints' / 'last.safetensors'
        err_console.print(f"checkpoint: {last}", soft_wrap=True)
        if result.stopped_early:
            from gancompose.runner import resume_command
            err_console.print(f"resume with: {escape(resume_command(result.run_dir, last))}", soft_wrap=True)


def data_folder(recipe: str, overrides, folder: str) -> str:
    """``--data FOLDER``: the recipe must read its data from a folder (its dataset has a ``root``)."""
    base = load(recipe, overrides)
    if "root" not in type(base.data).model_fields:
        from gancompose.protocols import Dataset, implements
        # datasets read from a folder of the user's own files (those with a download read their own)
        readers = [c.name for c in registry().of_kind("dataset") if "root" in c.params.model_fields
                   and not (isinstance(c.factory, type) and implements(c.factory, "download", Dataset))]
        from gancompose.recipe import load_raw
        from gancompose.recipe.shipped import shipped_recipes
        examples = []
        for name, shipped in shipped_recipes().items():
            try:
                if load_raw(shipped.path).get("data", {}).get("type") in readers:
                    examples.append(name)
            except GancomposeError:
                continue
        examples = examples[:3]
        raise GancomposeError(f"--data gives a folder, but this recipe's data ({base.data.type!r}) is not read from "
                              "one", hint=f"use a recipe whose data is one of {', '.join(readers)}"
                                          + (f": e.g. gancompose run {examples[0]} --data FOLDER (or "
                                             f"{', '.join(examples[1:])})" if len(examples) > 1 else
                                             f": e.g. gancompose run {examples[0]} --data FOLDER" if examples else ""))
    if not Path(folder).expanduser().is_dir():
        raise GancomposeError(f"--data {folder}: no such folder", hint="give the folder that holds your images")
    return str(Path(folder).expanduser())
