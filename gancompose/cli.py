"""The ``gancompose`` command line. User errors print one message and exit 2, without a traceback."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gancompose import __version__
from gancompose.errors import GancomposeError
from gancompose.recipe.sections import MAX_SAMPLES
from gancompose.registry import KINDS, default_registry

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


class _Group(click.Group):
    """The root group: plugins' commands (the ``register_commands`` hook) join it the first time it looks up or
    lists a command, so ``--help`` lists them and CliRunner invocations find them."""
    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if not _Group._plugins_added and self.name == "cli":
            _Group._plugins_added = True
            reg = default_registry()
            reg.add_commands(self)
            _add_sample_options(self.commands["sample"], reg)

    def get_command(self, ctx, cmd_name):
        self._add_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GancomposeError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            ctx.exit(2)
        except OSError as exc:  # the filesystem said no (a folder that cannot be written, a disk full): no traceback
            where = f"{exc.filename}: " if exc.filename else ""
            err_console.print(f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}\n  check that the "
                              "path exists, is a folder where one is meant, and is writable", soft_wrap=True)
            ctx.exit(2)


def _registry():
    reg = default_registry()
    for f in reg.failures:
        err_console.print(f"[yellow]warning:[/] plugin {f.plugin!r} failed ({f.stage}): {escape(f.error)}")
    for line in reg.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    return reg


def _load(recipe: str, overrides: tuple[str, ...]):
    from gancompose.recipe import load_recipe
    return load_recipe(recipe, overrides, registry=_registry())


set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a recipe value, e.g. --set train.batch_size=32 (repeatable).")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gancompose")
def cli():
    """Train, compare and recombine GAN variants from TOML recipes."""


@cli.command("list-components")
@click.option("--kind", type=click.Choice(KINDS), help="Only components of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with parameter schemas.")
@click.option("--compatible-with", "target", metavar="[KIND:]NAME",
              help="How each component goes with this one (what it provides to it, uses from it, still needs).")
def list_components(kind, as_json, target):
    """List every registered component: kind, name, plugin and a one-line doc."""
    reg = _registry()
    comps = [c for c in reg if kind is None or c.kind == kind]
    with_ = None
    if target is not None:
        from gancompose.compatibility import relation
        from gancompose.errors import GancomposeError, did_you_mean
        t_kind, _, t_name = target.rpartition(":")
        found = [c for c in reg if c.name == t_name and (not t_kind or c.kind == t_kind)]
        if len(found) != 1:
            names = sorted({f"{c.kind}:{c.name}" for c in reg})
            raise GancomposeError(f"{target!r} names {len(found)} components" + (
                f" ({', '.join(f'{c.kind}:{c.name}' for c in found)}): give KIND:NAME" if found else ""),
                hint=did_you_mean(target, names) if not found else None)
        with_ = found[0]
        comps = [c for c in comps if c is not with_]
    if as_json:
        rows = [{**c.to_json(), **({"with": relation(c, with_, reg)} if with_ else {})} for c in comps]
        click.echo(json.dumps({"components": rows, "failures": [f.__dict__ for f in reg.failures]}, indent=2))
        return
    title = f"gancompose components ({len(comps)})" + (
        f" with {with_.kind} {with_.name!r} (requires: {', '.join(with_.requires) or 'nothing'}; "
        f"provides: {', '.join(with_.provides) or 'nothing'})" if with_ else "")
    table = Table(title=title)
    for col in ("kind", "name", "plugin", *(("with it",) if with_ else ()), "doc"):
        table.add_column(col, overflow="fold")
    for c in comps:
        table.add_row(c.kind, c.name, c.plugin, *((relation(c, with_, reg),) if with_ else ()), c.doc)
    out_console.print(table)


def _inspect(recipe: str, overrides: tuple[str, ...]):
    """Load and build a recipe on the CPU without a data stream: what validate and explain look at."""
    import torch
    from gancompose.builder import build_run
    return build_run(_load(recipe, overrides), with_data=False, device=torch.device("cpu"), stand_in=True)


def _say_if_data_missing(run_) -> None:
    """One line when the networks were built on the data's declared shape because its files are not there yet."""
    from gancompose.data import DataStandIn
    if isinstance(run_.dataset, DataStandIn) and run_.dataset.missing is not None:
        missing = run_.dataset.missing
        err_console.print(f"[yellow]data not there yet[/] (built on the shape its parameters declare): "
                          f"{escape(missing.message)}" + (f"; {escape(missing.hint)}" if missing.hint else ""),
                          soft_wrap=True)
    for error in run_.missing_weights.values():  # init_from files to make first: shown, run refuses them
        err_console.print(f"[yellow]weights not there yet[/] (the network keeps its initial weights here): "
                          f"{escape(error.key)}: {escape(error.message)}"
                          + (f"; {escape(error.hint)}" if error.hint else ""), soft_wrap=True)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@set_option
def validate(recipe, overrides):
    """Check a recipe: schema, component names, and shapes (by a dry forward pass)."""
    run_ = _inspect(recipe, overrides)
    nets = ", ".join(f"{n} ({rep.params:,} params)" for n, rep in run_.reports.items())
    out_console.print(f"[green]ok[/]: {escape(recipe)}: {nets}", soft_wrap=True)
    _say_if_data_missing(run_)
    if run_.init_reports:  # networks with init_from: what would load
        from gancompose.builder.init_from import print_reports
        print_reports(run_.init_reports, err_console)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@set_option
def explain(recipe, overrides):
    """Show each network layer by layer (output shapes, parameters) and the training schedule."""
    from gancompose.explain import render_explanation
    run_ = _inspect(recipe, overrides)
    render_explanation(run_, out_console)
    _say_if_data_missing(run_)


@cli.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@set_option
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop when the step counter reaches this.")
@click.option("--device", help="cpu, cuda, cuda:N or auto (overrides train.device).")
@click.option("--seed", type=int, help="Random seed (overrides train.seed).")
@click.option("--resume", metavar="RUN_DIR|CHECKPOINT|latest",
              help="Continue a run: its folder (from checkpoints/last.safetensors), one of its checkpoints, or "
                   "'latest' (the newest run of RECIPE). Without RECIPE, the recipe the checkpoint was trained "
                   "with. A recipe that differs in what is trained is refused, key by key.")
@click.option("--allow-change", "allow_changes", multiple=True, metavar="KEY",
              help="With --resume: accept a change of this recipe key (dotted path; a prefix covers what is "
                   "under it), e.g. --allow-change optimizers.generator.lr (repeatable). Recorded in "
                   "RUN/changes.jsonl. The networks' architecture cannot change.")
@click.option("--data", "data_root", metavar="FOLDER",
              help="Train on this folder (sets data.root): your own images with a recipe that reads a folder, "
                   "e.g. a shipped recipe whose data is an image folder (`gancompose recipes` lists them) with "
                   "--data path/to/images (any size; resized and cropped).")
@click.option("--output-dir", help="Where run folders go (overrides train.output_dir).")
@click.option("--quiet", is_flag=True, help="Plain log lines instead of a progress bar.")
@click.option("--tensorboard", is_flag=True, help="Also log to TensorBoard (RUN/tensorboard; sets train.tensorboard).")
def run(recipe, overrides, max_steps, device, seed, resume, allow_changes, data_root, output_dir, quiet,
        tensorboard):
    """Train a recipe. Writes a run folder with the recipe, metrics.jsonl, samples and checkpoints.

    \b
    gancompose run RECIPE                       a new run (RECIPE: a file, or a name from gancompose recipes)
    gancompose run RECIPE --data FOLDER         a new run on your own images
    gancompose run --resume RUN_DIR             continue a run with its own recipe
    gancompose run RECIPE --resume latest       continue the newest run of RECIPE
    gancompose run RECIPE --resume CHECKPOINT   continue from a checkpoint, RECIPE checked against it

    Ctrl-C or SIGTERM finishes the step, writes the checkpoint (before the end-of-run samples and metrics) and
    exits 130 (SIGINT) or 143 (SIGTERM); a second one stops at once, naming the last checkpoint on disk. A
    numerical fault that stops the run, like any error, exits 2."""
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
        r = recipe_of_checkpoint(Checkpoint(resume), (*overrides, *extra), registry=_registry())
    else:
        if data_root is not None:
            extra += [f"data.root={json.dumps(_data_folder(recipe, overrides, data_root))}"]
        r = _load(recipe, (*overrides, *extra))
    result = None
    try:
        result = run_recipe(r, resume=resume, max_steps=max_steps, quiet=quiet or not sys.stderr.isatty(),
                            console=err_console, allow_changes=allow_changes)
        _report_run(result)
    except RunInterrupted as exc:  # a second Ctrl-C / SIGTERM: stopped at once; the message says what is on disk
        err_console.print(escape(str(exc)), soft_wrap=True)
        sys.exit(exit_code(exc.signum))
    except KeyboardInterrupt:  # outside the loop (building, reading data, reporting): no checkpoint write under way
        err_console.print("interrupted outside the training loop; no checkpoint was being written"
                          + (f" (the run had stopped at step {result.run.state.step}: {result.run_dir})"
                             if result is not None else ""), soft_wrap=True)
        sys.exit(130)
    if result.interrupted is not None:
        sys.exit(exit_code(result.interrupted))


def _report_run(result) -> None:
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


@cli.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-n", "count", default=64, show_default=True, type=click.IntRange(min=1, max=MAX_SAMPLES),
              help=f"Number of samples (at most {MAX_SAMPLES:,}).")
@click.option("-o", "output", default="samples.png", show_default=True,
              help="Image to write (.png, .jpg, .bmp, .tif, .webp); a folder gets samples.png inside it.")
@click.option("--seed", default=0, show_default=True, help="Seed of the latents.")
@click.option("--no-ema", is_flag=True, help="Use the trained weights even if an EMA copy exists.")
@click.option("--device", default="cpu", show_default=True, help="Device to sample on.")
@click.option("--class", "class_", type=click.IntRange(min=0), help="Conditional generators: only this class.")
@click.option("--per-class", type=click.IntRange(min=1, max=MAX_SAMPLES),
              help="Conditional generators: a grid with one row of this many samples per class.")
def sample(checkpoint, count, output, seed, no_ema, device, class_, per_class, **plugin_values):
    """Generate a grid of samples from a checkpoint (its recipe is read from the file). Plugins add options
    (the style family's --truncation and --mixing)."""
    from gancompose.errors import GancomposeError
    from gancompose.runner import load_for_sampling
    from gancompose.sampling import check_finite_samples, class_labels, generate, grid_path, save_grid
    reg = _registry()
    output = grid_path(output)  # before any work: an unknown extension is refused at once
    run_ = load_for_sampling(checkpoint, device=device)
    options = [option for _, option in reg.sample_options()]
    net = run_.sampling_network(run_.generator_name(), not no_ema)
    forward_kwargs: dict = {}
    for option in options:
        forward_kwargs.update(option.forward_kwargs(net, plugin_values))
    for option in options:
        grid = option.grid(run_, plugin_values, seed=seed, use_ema=not no_ema, label=class_, per_class=per_class,
                           forward_kwargs=forward_kwargs)
        if grid is not None:
            check_finite_samples(grid.images, run_, use_ema=not no_ema)
            path = save_grid(grid.images, output, nrow=grid.nrow)
            err_console.print(f"wrote {escape(grid.what)} to {path}", soft_wrap=True)
            return
    labels, nrow = None, None
    if class_ is not None or per_class is not None:
        k = run_.num_classes
        if not k:
            raise GancomposeError("--class and --per-class need a class-conditional generator; this one is not")
        if class_ is not None and class_ >= k:
            raise GancomposeError(f"--class {class_} is out of range: the generator knows classes 0 to {k - 1}")
        if class_ is None and per_class * k > MAX_SAMPLES:
            raise GancomposeError(f"--per-class {per_class} x {k} classes = {per_class * k:,} images: at most "
                                  f"{MAX_SAMPLES:,} in a grid")
        labels = class_labels(k, count if class_ is not None else per_class, only=class_)
        nrow = None if class_ is not None else per_class
    images = generate(run_, len(labels) if labels is not None else count, seed=seed, use_ema=not no_ema,
                      labels=labels, forward_kwargs=forward_kwargs)
    check_finite_samples(images, run_, use_ema=not no_ema)
    path = save_grid(images, output, nrow=nrow)
    err_console.print(f"wrote {len(images)} samples to {path}", soft_wrap=True)


def _add_sample_options(command: click.Command, reg) -> None:
    """The options plugins add to ``gancompose sample`` (``register_sample_options``); one whose name or flag is
    already taken is skipped and reported as a plugin failure."""
    from gancompose.registry import PluginFailure
    for plugin, option in reg.sample_options():
        taken = {p.name for p in command.params} | {o for p in command.params for o in p.opts}
        clash = [p for p in option.options if p.name in taken or set(p.opts) & taken]
        if clash:
            reg.failures.append(PluginFailure(plugin, "register_sample_options",
                                              f"{type(option).__name__}: option {clash[0].opts[0]} of gancompose "
                                              "sample is already taken"))
            continue
        command.params.extend(option.options)


def _data_folder(recipe: str, overrides, folder: str) -> str:
    """``--data FOLDER``: the recipe must read its data from a folder (its dataset has a ``root``)."""
    base = _load(recipe, overrides)
    if "root" not in type(base.data).model_fields:
        from gancompose.protocols import Dataset, implements
        # datasets read from a folder of the user's own files (those with a download read their own)
        readers = [c.name for c in _registry().of_kind("dataset") if "root" in c.params.model_fields
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


@cli.command()
def schema():
    """Print the JSON Schema of recipes (every registered component included)."""
    from gancompose.recipe import recipe_model
    click.echo(json.dumps(recipe_model(_registry()).model_json_schema(), indent=2))


@cli.group("recipes", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def recipes_(ctx, as_json):
    """List the recipes that ship with gancompose and its plugins (run one by name: gancompose run NAME).

    \b
    gancompose recipes                     name, what it trains, its data and whether that data is here
    gancompose recipes copy NAME [DEST]    an editable copy (DEST: a file or folder; default ./NAME.toml)"""
    if ctx.invoked_subcommand is not None:
        return
    from gancompose.data import DatasetParams
    from gancompose.recipe import load_recipe
    from gancompose.recipe.shipped import describe, shipped_recipes
    reg = _registry()
    rows = []
    for name, shipped in shipped_recipes(reg).items():
        try:
            recipe = load_recipe(shipped.path, registry=reg)
        except GancomposeError as exc:
            rows.append((name, shipped.package, describe(shipped.path), "-", f"invalid here: {exc.message}"))
            continue
        if isinstance(recipe.data, DatasetParams):  # data on disk: is it there?
            missing = recipe.data.missing()
            status = "ready" if missing is None else f"needs data: {missing}"
        else:
            status = "generated (no download)"
        data = recipe.data
        rows.append((name, shipped.package, describe(shipped.path), data.type, status))
    if as_json:
        click.echo(json.dumps([dict(zip(("name", "package", "description", "data", "status"), r)) for r in rows],
                              indent=2))
        return
    from rich.table import Table
    table = Table(title="recipes (gancompose run NAME; gancompose recipes copy NAME to edit one)")
    for col in ("name", "what it trains", "data", "status"):
        table.add_column(col, overflow="fold")
    for name, package, text, data, status in rows:
        table.add_row(name + ("" if package == "gancompose_recipes" else f" ({package})"), text, data, status)
    out_console.print(table)


@recipes_.command("copy")
@click.argument("name")
@click.argument("dest", required=False, type=click.Path())
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
def recipes_copy(name, dest, force):
    """Write an editable copy of the shipped recipe NAME (and of the recipes it extends, beside it)."""
    from pathlib import Path
    from gancompose.errors import did_you_mean
    from gancompose.recipe.load import load_raw
    from gancompose.recipe.shipped import shipped_recipes
    shipped = shipped_recipes(_registry())
    if name not in shipped:
        raise GancomposeError(f"no shipped recipe named {name!r}", hint=did_you_mean(name, list(shipped)))
    target = Path(dest) if dest else Path(f"{name}.toml")
    if target.is_dir() or (dest and dest.endswith(("/", "\\"))):
        target = target / f"{name}.toml"
    load_raw(shipped[name].path)  # readable, extends resolved
    copies = [(shipped[name].path, target)]
    source, text = shipped[name].path, shipped[name].path.read_text(encoding="utf-8")
    from gancompose.recipe.load import tomllib
    parent = tomllib.loads(text).get("extends")
    while isinstance(parent, str):  # the recipes it extends, as files beside it, so the copy stands alone
        source = (source.parent / parent)
        copies.append((source, target.parent / parent))
        parent = tomllib.loads(source.read_text(encoding="utf-8")).get("extends")
    for src, dst in copies:
        if dst.exists() and not force:
            raise GancomposeError(f"{dst} exists", hint="pass --force to overwrite it, or give another DEST")
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.write_bytes(src.read_bytes())
        tmp.replace(dst)
        out_console.print(f"wrote {escape(str(dst))}" + ("" if src == copies[0][0] else " (extended by it)"))
    out_console.print(f"edit it, then: gancompose run {escape(str(target))}", soft_wrap=True)


@cli.group()
def data():
    """Prepare datasets."""


def _dataset_that_can(name: str, action: str, missing: str):
    """The dataset factory ``name`` if it has the method ``action`` (download, prepare); else one clear error
    listing the datasets that have it."""
    from gancompose.errors import DataError, did_you_mean
    reg = _registry()
    from gancompose.protocols import Dataset, implements

    def can(factory) -> bool:
        return isinstance(factory, type) and issubclass(factory, Dataset) and implements(factory, action, Dataset)
    comp = reg.get("dataset", name)
    if not can(comp.factory):
        able = [c.name for c in reg.of_kind("dataset") if can(c.factory)]
        raise DataError(f"dataset {name!r} {missing}", hint=did_you_mean(name, able))
    return comp.factory


@data.command("download")
@click.argument("name")
@click.option("--root", default="data", show_default=True, help="Folder to download into.")
@click.option("--mirror", help="Base URL to download from instead of the official mirrors.")
def data_download(name, root, mirror):
    """Download and verify a dataset that supports it (e.g. mnist, cifar10, monet2photo)."""
    _dataset_that_can(name, "download", "has nothing to download").download(Path(root), mirror=mirror)
    err_console.print(f"[green]ok[/]: {name} is in {escape(root)}", soft_wrap=True)


@data.command("prepare")
@click.argument("name")
@click.option("--from", "archive", required=True, type=click.Path(dir_okay=False),
              help="The dataset's archive, already downloaded (e.g. monet2photo.zip).")
@click.option("--root", default="data", show_default=True, help="Folder to unpack into.")
def data_prepare(name, archive, root):
    """Unpack and verify a dataset archive you already have (e.g. monet2photo)."""
    folder = _dataset_that_can(name, "prepare", "has no archive to prepare").prepare(Path(root), Path(archive))
    err_console.print(f"[green]ok[/]: {name} is in {escape(str(folder))}", soft_wrap=True)


# ------------------------------------------------------------------ portable weights (issue #8)
@cli.command("inspect")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--diff", "other", type=click.Path(dir_okay=False), metavar="OTHER.toml",
              help="Tell whether the file's networks load into this recipe's, and what would not.")
@set_option
@click.option("--network", help="With --diff: only this network of the recipe.")
@click.option("--all", "all_tensors", is_flag=True, help="List optimizer, RNG and counter tensors too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect_(checkpoint, other, overrides, network, all_tensors, as_json):
    """Show a checkpoint or network file: recipe, step, networks, tensors, sha256."""
    from gancompose.portable.inspect import diff_with_recipe, inspect_file
    reg = _registry()
    if other is None:
        report = inspect_file(checkpoint, registry=reg)
        if as_json:
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            report.render(out_console, all_tensors=all_tensors)
        return
    diff = diff_with_recipe(checkpoint, _load(other, overrides), registry=reg, network=network)
    if as_json:
        click.echo(json.dumps(diff.to_json(), indent=2))
    else:
        diff.render(out_console)


@cli.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "output", required=True, help="The network file to write (.safetensors).")
@click.option("--network", help="The network to export (default: the generator).")
@click.option("--ema", is_flag=True, help="Export the EMA copy of the network.")
@click.option("--half", is_flag=True, help="Store floating-point tensors as float16.")
def export_(checkpoint, output, network, ema, half):
    """Write one network of a checkpoint as a self-contained file (weights + its recipe table), loadable
    with gancompose.load_generator(path) without the recipe."""
    from gancompose.portable.export import export_network
    path, info = export_network(checkpoint, output, network=network, ema=ema, half=half, registry=_registry())
    err_console.print(f"wrote {info.name} ({info.spec.get('type')}, {info.weights} weights, {info.dtype}) to "
                      f"{escape(str(path))}", soft_wrap=True)


@cli.group("import")
def import_():
    """Convert official checkpoints of other projects into gancompose network files (the formats come from plugins:
    gancompose_cycle adds cyclegan)."""



@cli.command("eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--metric", "metrics", multiple=True, required=True, metavar="NAME[:key=value,...]",
              help="A metric (repeatable), with optional TOML parameters: --metric 'fid:features=\"classifier\"'.")
@click.option("--feature-weights", type=click.Path(dir_okay=False),
              help="Local Inception weights file (pt_inception-2015-12-05-6726825d.pth) for fid/kid/inception_score.")
@click.option("--samples", type=click.IntRange(min=2), help="Generated (and real) samples per metric.")
@click.option("--device", default="cpu", show_default=True, help="Device to evaluate on.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_(checkpoint, metrics, feature_weights, samples, device, as_json):
    """Evaluate a checkpoint with metrics (appended to RUN_DIR/eval.jsonl when it lives in a run folder)."""
    from gancompose.evaluate import evaluate_checkpoint
    result = evaluate_checkpoint(checkpoint, list(metrics), samples=samples, feature_weights=feature_weights,
                                 device=device, registry=_registry())
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    table = Table(title=f"{escape(str(checkpoint))} (step {result.step})")
    for col in ("metric", "value", "seconds"):
        table.add_column(col)
    for name, values in result.results.items():
        for k, v in values.items():
            table.add_row(f"{name}/{k}", f"{v:.6g}", f"{result.seconds[name]:.1f}")
    out_console.print(table)


@cli.command("plot")
@click.argument("run_dir", type=click.Path(file_okay=False))
def plot_(run_dir):
    """Loss and metric curves of a run as PNG (RUN_DIR/plots/) and a markdown summary (RUN_DIR/summary.md)."""
    from gancompose.plots import plot_run
    for name, path in plot_run(run_dir).items():
        err_console.print(f"wrote {name}: {escape(str(path))}", soft_wrap=True)


def main() -> None:
    cli(prog_name="gancompose")


if __name__ == "__main__":  # pragma: no cover
    main()
