"""The ``gancompose`` command line: every built-in command declared (arguments, options, help), each calling its
back-end in gancompose/commands/. User errors print one message and exit 2, without a traceback."""
from __future__ import annotations

import click
from rich.markup import escape

from gancompose.version import __version__
from gancompose.commands.context import err_console
from gancompose.errors import GancomposeError
from gancompose.recipe.sections import MAX_SAMPLES
from gancompose.registry import KINDS, default_registry


class _Group(click.Group):
    """The root group: plugins' commands (the ``register_commands`` hook) join it the first time it looks up or
    lists a command, so ``--help`` lists them and CliRunner invocations find them."""
    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if not _Group._plugins_added and self.name == "cli":
            _Group._plugins_added = True
            reg = default_registry()
            reg.add_commands(self)
            from gancompose.commands.sample import add_sample_options
            add_sample_options(self.commands["sample"], reg)

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
    from gancompose.commands.components import list_components as impl
    impl(kind=kind, as_json=as_json, target=target)






@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@set_option
def validate(recipe, overrides):
    """Check a recipe: schema, component names, and shapes (by a dry forward pass)."""
    from gancompose.commands.check import validate as impl
    impl(recipe=recipe, overrides=overrides)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@set_option
def explain(recipe, overrides):
    """Show each network layer by layer (output shapes, parameters) and the training schedule."""
    from gancompose.commands.check import explain as impl
    impl(recipe=recipe, overrides=overrides)


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
    from gancompose.commands.run import run as impl
    impl(recipe=recipe, overrides=overrides, max_steps=max_steps, device=device, seed=seed, resume=resume,
         allow_changes=allow_changes, data_root=data_root, output_dir=output_dir, quiet=quiet, tensorboard=tensorboard)




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
    from gancompose.commands.sample import sample as impl
    impl(checkpoint=checkpoint, count=count, output=output, seed=seed, no_ema=no_ema, device=device, class_=class_,
         per_class=per_class, **plugin_values)






@cli.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--direction", help="A direction the recipe's schedule declares (AtoB or BtoA for a pair of "
                                  "generators), or the name of an image-to-image network of the recipe; not needed "
                                  "for a single-network file.")
@click.option("--input", "input_dir", required=True, type=click.Path(file_okay=False), help="Folder of images.")
@click.option("--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the translated PNGs (same relative names).")
@click.option("--size", type=click.IntRange(min=1), help="Resize inputs to SIZE x SIZE (default: the recipe's).")
@click.option("--side-by-side", is_flag=True, help="Write each input next to its translation.")
@click.option("--train-mode", is_flag=True,
              help="Run the network in training mode, one image at a time (batch-norm statistics of the image, "
                   "dropout on), as reference image-to-image test scripts do without --eval.")
@click.option("--seed", default=0, show_default=True, help="Seed of the dropout masks (with --train-mode).")
@click.option("--device", default="cpu", show_default=True, help="Device to translate on.")
def translate(checkpoint, direction, input_dir, output_dir, size, side_by_side, train_mode, seed, device):
    """Translate a folder of images with a trained image-to-image generator: a run checkpoint whose schedule
    declares directions, or a network file (gancompose export, or a plugin's gancompose import)."""
    from gancompose.commands.translate import translate as impl
    impl(checkpoint, direction, input_dir, output_dir, size, side_by_side, train_mode, seed, device)


@cli.command()
def schema():
    """Print the JSON Schema of recipes (every registered component included)."""
    import json
    from gancompose.commands.context import registry
    from gancompose.recipe import recipe_model
    click.echo(json.dumps(recipe_model(registry()).model_json_schema(), indent=2))


@cli.group("recipes", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def recipes_(ctx, as_json):
    """List the recipes that ship with gancompose and its plugins (run one by name: gancompose run NAME).

    \b
    gancompose recipes                     name, what it trains, its data and whether that data is here
    gancompose recipes copy NAME [DEST]    an editable copy (DEST: a file or folder; default ./NAME.toml)"""
    from gancompose.commands.recipes import list_recipes as impl
    impl(ctx, as_json=as_json)


@recipes_.command("copy")
@click.argument("name")
@click.argument("dest", required=False, type=click.Path())
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
def recipes_copy(name, dest, force):
    """Write an editable copy of the shipped recipe NAME (and of the recipes it extends, beside it)."""
    from gancompose.commands.recipes import copy_recipe as impl
    impl(name=name, dest=dest, force=force)


@cli.group()
def data():
    """Prepare datasets."""




@data.command("download")
@click.argument("name")
@click.option("--root", default="data", show_default=True, help="Folder to download into.")
@click.option("--mirror", help="Base URL to download from instead of the official mirrors.")
def data_download(name, root, mirror):
    """Download and verify a dataset that supports it (e.g. mnist, cifar10, monet2photo)."""
    from gancompose.commands.data import download as impl
    impl(name=name, root=root, mirror=mirror)


@data.command("prepare")
@click.argument("name")
@click.option("--from", "archive", required=True, type=click.Path(dir_okay=False),
              help="The dataset's archive, already downloaded (e.g. monet2photo.zip).")
@click.option("--root", default="data", show_default=True, help="Folder to unpack into.")
def data_prepare(name, archive, root):
    """Unpack and verify a dataset archive you already have (e.g. monet2photo)."""
    from gancompose.commands.data import prepare as impl
    impl(name=name, archive=archive, root=root)


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
    from gancompose.commands.weights import inspect as impl
    impl(checkpoint=checkpoint, other=other, overrides=overrides, network=network, all_tensors=all_tensors,
         as_json=as_json)


@cli.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "output", required=True, help="The network file to write (.safetensors).")
@click.option("--network", help="The network to export (default: the generator).")
@click.option("--ema", is_flag=True, help="Export the EMA copy of the network.")
@click.option("--half", is_flag=True, help="Store floating-point tensors as float16.")
def export_(checkpoint, output, network, ema, half):
    """Write one network of a checkpoint as a self-contained file (weights + its recipe table), loadable
    with gancompose.load_generator(path) without the recipe."""
    from gancompose.commands.weights import export as impl
    impl(checkpoint=checkpoint, output=output, network=network, ema=ema, half=half)


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
    from gancompose.commands.evaluate import eval_command as impl
    impl(checkpoint=checkpoint, metrics=metrics, feature_weights=feature_weights, samples=samples, device=device,
         as_json=as_json)


@cli.command("plot")
@click.argument("run_dir", type=click.Path(file_okay=False))
def plot_(run_dir):
    """Loss and metric curves of a run as PNG (RUN_DIR/plots/) and a markdown summary (RUN_DIR/summary.md)."""
    from gancompose.commands.plots import plot_command as impl
    impl(run_dir=run_dir)


def main() -> None:
    cli(prog_name="gancompose")


if __name__ == "__main__":  # pragma: no cover
    main()
