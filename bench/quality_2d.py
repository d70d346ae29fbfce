"""Mode coverage of the 2-D recipes over seeds, beside PacGAN's Table 1: a thin call of ``gancompose compare``.

    OMP_NUM_THREADS=1 python bench/quality_2d.py             # the default recipes, 10 seeds each
    python bench/quality_2d.py --seeds 3 --seed-start 100 --recipes pacgan4_r1_ring pacgan4_r1_grid25
    python bench/quality_2d.py --report-only                  # the table of a finished or partial sweep

is the same as

    gancompose compare vanilla_gan_ring wgangp_ring vanilla_gan_grid25 nsgan_r1_grid25 --seeds 10 \\
        -o report/quality_2d

Each recipe is trained from scratch for each seed (train.seed = S..S+N-1: initial weights, latents, batch order;
the data sample is data.seed's, the same for every seed unless --vary-data), on as many local processes as there
are cores, each with one thread; finished runs under the report folder are reused, so a stopped sweep resumes.
The final generator is scored by the recipes' [[metrics]] entry, mode_coverage: PacGAN's protocol on 2,500
samples (gancompose_core.metrics.mode_statistics): modes captured, % high-quality samples (within 3 std of the
nearest mode) and the reverse KL of the mode histogram to the uniform. REPORT_DIR/report.md has the tables (mean
± sample std over seeds, beside PacGAN Table 1's GAN and PacGAN4 rows: means over 10 trials with the paper's own
networks and training lengths, so the comparison is of outcomes), report.json every run's numbers and CPU time.
Any other option is passed on to gancompose compare (--workers, --set, --executor, ...).
"""
from __future__ import annotations

import argparse
import sys

DEFAULT = ["vanilla_gan_ring", "wgangp_ring", "vanilla_gan_grid25", "nsgan_r1_grid25"]


def compare_args(argv=None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="+", default=DEFAULT, help="recipe names or files")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--steps", type=int, help="override train.steps (quick looks; the table is for the recipes' own)")
    ap.add_argument("-o", "--output", default="report/quality_2d", help="the report folder")
    args, rest = ap.parse_known_args(argv)
    out = ["compare", *args.recipes, "--seeds", str(args.seeds), "--seed-start", str(args.seed_start),
           "-o", args.output]
    if args.steps:
        out += ["--set", f"train.steps={args.steps}"]
    return out + rest


def main(argv=None) -> None:
    from gancompose.cli import cli
    cli(compare_args(argv), prog_name="gancompose")


if __name__ == "__main__":
    main(sys.argv[1:])
