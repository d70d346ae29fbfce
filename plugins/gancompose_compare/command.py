"""``gancompose compare``: recipes x seeds -> one report (added to the CLI through the ``register_commands``
hook)."""
from __future__ import annotations

import shlex
import sys

import click
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False)

HELP = """Train RECIPE... for --seeds N seeds each, evaluate every final checkpoint and write one report.

\b
gancompose compare recipes/wgangp_ring.toml recipes/nsgan_r1_grid25.toml --seeds 3 --seed-start 100 -o report/

Each recipe x seed (train.seed = S..S+N-1) is trained unless REPORT_DIR already holds a finished run of exactly
that recipe (after --set) and seed: a sweep that was stopped resumes where it stopped, and adding seeds or
recipes trains only the new runs. Runs cut short by a signal are resumed from their checkpoint. Each final
checkpoint is evaluated with the recipe's [[metrics]] (and --metric), as `gancompose eval` does.

\b
REPORT_DIR/report.md    a table per dataset: mean ± sample std and n per metric, reference rows (PacGAN
                        Table 1 for the 2-D mixtures), every run, the curves and the samples
REPORT_DIR/report.json  every run's numbers, seed, status, steps, wall time and CPU minutes
REPORT_DIR/curves/      losses and metrics over steps, one line per seed (and per recipe)
REPORT_DIR/samples/     the final samples of each recipe, seeds side by side
REPORT_DIR/runs/NAME/FINGERPRINT/seed_S/   the runs (done.json marks a finished one)

Ctrl-C or SIGTERM: the runs under way finish their step, write a checkpoint and stop; they are marked
interrupted and left out of the means; the command exits 130/143 after writing the report. Run it again to
finish the missing runs. Exit 1 when a run failed."""


def _executor_options(items) -> dict:
    from gancompose.recipe.load import tomllib
    from gancompose_compare.sweep import CompareError
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CompareError(f"--executor-option {item!r}: expected KEY=VALUE",
                               hint="for example: --executor-option address=auto (ray), "
                                    "--executor-option slurm_partition=gpu (submitit)")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value.strip()  # a bare word is a string
    return out


def _command_line(recipes, n_seeds, seed_start, overrides, metrics, report_dir, workers, executor, vary_data) -> str:
    """The command as typed (its options that decide the results), for the report."""
    parts = ["gancompose", "compare", *recipes, "--seeds", str(n_seeds)]
    parts += ["--seed-start", str(seed_start)] if seed_start else []
    for o in overrides:
        parts += ["--set", o]
    for m in metrics:
        parts += ["--metric", m]
    parts += ["--vary-data"] if vary_data else []
    parts += ["--executor", executor] if executor != "local" else []
    parts += ["--workers", str(workers)] if workers else []
    parts += ["-o", str(report_dir)]
    return " ".join(shlex.quote(p) for p in parts)


@click.command("compare", help=HELP)
@click.argument("recipes", nargs=-1, required=True)
@click.option("--seeds", "n_seeds", type=int, required=True, help="Seeds per recipe (train.seed = S..S+N-1).")
@click.option("--seed-start", default=0, show_default=True, type=int, help="The first seed S.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a value of every recipe, e.g. --set train.steps=500 (repeatable).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME[:key=value,...]",
              help="Evaluate with this metric too (repeatable; parameters as in gancompose eval).")
@click.option("--samples", type=click.IntRange(min=2), help="Generated (and real) samples per metric.")
@click.option("--feature-weights", type=click.Path(dir_okay=False),
              help="Local Inception weights for fid/kid/inception_score (as gancompose eval).")
@click.option("-o", "--output", "report_dir", required=True, type=click.Path(file_okay=False),
              help="The report folder (runs are kept under REPORT_DIR/runs and reused).")
@click.option("--workers", type=int, help="Runs at a time (default: the cores available, for --executor local; "
                                          "every run at once for ray and submitit).")
@click.option("--threads", default=1, show_default=True, type=int, help="Torch threads per run.")
@click.option("--executor", type=click.Choice(["local", "ray", "submitit"]), default="local", show_default=True,
              help="Where the runs execute: local subprocesses, a Ray cluster (pip install gancompose[ray]) or "
                   "Slurm through submitit (pip install gancompose[submitit]).")
@click.option("--executor-option", "executor_options", multiple=True, metavar="KEY=VALUE",
              help="Ray: address=HOST:PORT, num_gpus=1, ...; submitit: cluster=slurm|local|debug, "
                   "slurm_partition=..., timeout_min=..., gpus_per_node=... (repeatable).")
@click.option("--vary-data", is_flag=True,
              help="Draw the data sample per seed too (data.seed = train.seed) where the dataset has a seed.")
@click.option("--reference", "references", multiple=True, type=click.Path(dir_okay=False),
              help="A TOML file of reference rows ([[reference]] label, values, match) to show in the tables.")
@click.option("--report-only", is_flag=True, help="Train and evaluate nothing: the report of the runs there.")
def compare(recipes, n_seeds, seed_start, overrides, metrics, samples, feature_weights, report_dir, workers, threads,
            executor, executor_options, vary_data, references, report_only):
    from pathlib import Path
    from gancompose_compare.sweep import CompareError, Settings, compare_command
    if n_seeds < 1:
        raise CompareError(f"--seeds {n_seeds}: give at least 1 seed per recipe")
    if workers is not None and workers < 1:
        raise CompareError(f"--workers {workers}: give at least 1")
    if threads < 1:
        raise CompareError(f"--threads {threads}: give at least 1")
    settings = Settings(seeds=list(range(seed_start, seed_start + n_seeds)), overrides=tuple(overrides),
                        extra_metrics=tuple(metrics), samples=samples, feature_weights=feature_weights,
                        threads=threads, vary_data=vary_data)
    command = _command_line(recipes, n_seeds, seed_start, overrides, metrics, report_dir, workers, executor,
                            vary_data)
    code = compare_command(list(recipes), settings, Path(report_dir), executor=executor,
                           executor_options=_executor_options(executor_options), workers=workers,
                           references=[Path(r) for r in references], report_only=report_only, command=command,
                           say=lambda line: err_console.print(escape(line), soft_wrap=True),
                           show=lambda text: click.echo(text))
    if code:
        sys.exit(code)
