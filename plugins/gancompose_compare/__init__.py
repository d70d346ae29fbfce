"""Comparing recipes over seeds: ``gancompose compare RECIPE... --seeds N -o REPORT_DIR`` trains every recipe x
seed that has no finished run yet (on local processes, Ray or Slurm through submitit), evaluates each final
checkpoint and writes one report (tables of mean ± std with reference rows, curves, sample grids). Registered
through the ``gancompose`` entry point ``compare`` like any third-party plugin; see docs/compare.md."""
from gancompose import hookimpl


@hookimpl
def register_commands(cli):
    from gancompose_compare.command import compare
    cli.add_command(compare)
