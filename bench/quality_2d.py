"""Mode coverage of the 2-D recipes over seeds, beside PacGAN's Table 1 (Lin et al. 2018).

    OMP_NUM_THREADS=1 python bench/quality_2d.py                 # the default recipes, 10 seeds each
    python bench/quality_2d.py --seeds 3 --recipes pacgan4_r1_ring pacgan4_r1_grid25 --json out.json
    python bench/quality_2d.py --from-json out.json              # the table of a finished or partial run

Each recipe is trained from scratch for each seed (train.seed = 0..N-1, data and latents included), then
2,500 samples of the final generator are scored with PacGAN's protocol (gancompose_core.metrics.
mode_statistics): modes captured (a high-quality sample on the mode), % high-quality samples (within
3 std of the nearest mode) and the reverse KL of the mode histogram to the uniform. The table prints
mean ± std over seeds. PacGAN's numbers are its Table 1 (means over 10 trials; ring of 8 modes, std 0.01,
radius 1; grid of 25 modes, std 0.05) for the GAN baseline and PacGAN4, with its own networks and
training lengths: the comparison is of outcomes, not of identical set-ups.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: PacGAN Table 1: (modes, high-quality %, reverse KL)
PACGAN = {
    "ring": {"GAN (PacGAN Table 1)": (6.3, 98.2, 0.45), "PacGAN4 (PacGAN Table 1)": (7.8, 95.9, 0.07)},
    "grid": {"GAN (PacGAN Table 1)": (17.3, 94.8, 0.70), "PacGAN4 (PacGAN Table 1)": (24.8, 93.6, 0.04)},
}
DEFAULT = ["vanilla_gan_ring", "wgangp_ring", "vanilla_gan_grid25", "nsgan_r1_grid25"]


def run_one(name: str, seed: int, out_dir: str, steps: int | None) -> dict:
    import torch
    from gancompose.recipe import load_recipe
    from gancompose.runner import run_recipe
    from gancompose.sampling import generate
    from gancompose_core.metrics import mode_statistics
    overrides = [f"train.seed={seed}", f'train.output_dir="{out_dir}"', "train.sample_every=0",
                 "train.checkpoint_every=0", "train.log_every=1000", "metrics=[]", 'train.device="cpu"']
    if steps:
        overrides.append(f"train.steps={steps}")
    recipe = load_recipe(ROOT / "recipes" / f"{name}.toml", overrides)
    t = time.perf_counter()
    result = run_recipe(recipe, progress=False)
    seconds = time.perf_counter() - t
    run = result.run
    with torch.random.fork_rng():
        points = generate(run, 2500, seed=seed)
    s = mode_statistics(points, run.dataset.centers, run.dataset.std)
    return {"recipe": name, "seed": seed, "modes": s["modes"], "high_quality": 100 * s["high_quality"],
            "reverse_kl": s["reverse_kl"], "seconds": seconds, "layout": run.dataset.layout,
            "n_modes": len(run.dataset.centers)}


def mean_std(values: list[float]) -> str:
    m = statistics.fmean(values)
    s = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}" if abs(m) < 10 else f"{m:.1f} ± {s:.1f}"


def table(rows: list[dict]) -> str:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["recipe"], []).append(r)
    lines = []
    for layout, title in (("ring", "Ring of 8 Gaussians"), ("grid", "Grid of 25 Gaussians")):
        lines += [f"\n{title}", f"{'':30s} {'modes':>14s} {'high quality %':>16s} {'reverse KL':>14s} {'seeds':>6s} "
                  f"{'s/run':>6s}"]
        for label, (m, hq, kl) in PACGAN[layout].items():
            lines.append(f"{label:30s} {m:>14.1f} {hq:>16.1f} {kl:>14.2f} {'10':>6s} {'':>6s}")
        for name, rs in by.items():
            if rs[0]["layout"] != layout:
                continue
            kls = [r["reverse_kl"] for r in rs if r["reverse_kl"] == r["reverse_kl"]]
            lines.append(f"{name:30s} {mean_std([r['modes'] for r in rs]):>14s} "
                         f"{mean_std([r['high_quality'] for r in rs]):>16s} "
                         f"{mean_std(kls) if kls else 'nan':>14s} {len(rs):>6d} "
                         f"{statistics.fmean(r['seconds'] for r in rs):>6.0f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="+", default=DEFAULT, help="recipe names in recipes/")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, help="override train.steps (quick looks; the table is for the recipes' own)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write every run's numbers to this file (rewritten after each run)")
    ap.add_argument("--from-json", help="print the table of a --json file (complete or not) and stop")
    args = ap.parse_args(argv)
    if args.from_json:
        print(table(json.loads(Path(args.from_json).read_text())))
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.recipes:
            for seed in range(args.seeds):
                r = run_one(name, seed, tmp, args.steps)
                rows.append(r)
                if args.json:
                    Path(args.json).write_text(json.dumps(rows, indent=1))
                print(f"{name} seed {seed}: {r['modes']} modes, {r['high_quality']:.1f}% HQ, "
                      f"rKL {r['reverse_kl']:.3f} ({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
