"""Engine vs a plain hand-written PyTorch loop: the DCGAN recipe, same model, batch and data, one process.

    python bench/engine_vs_loop.py                      # CPU, the recipe's 64x64 networks
    python bench/engine_vs_loop.py --device cuda --steps 200 --batch-size 128

Both sides start from the same weights and read the same in-memory images. The hand loop is the
pytorch/examples DCGAN step (D on real and on detached fakes, then G on the same fakes). Runs alternate
(engine, loop, engine, loop, ...) so drift in machine load hits both; the median of the repeats is
reported. Prints images/s of both and the ratio engine/loop (target >= 0.97).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gancompose.builder import build_run
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.recipe import load_recipe

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "dcgan_shapes.toml"


def engine_runner(run):
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    run.networks.train()

    def steps(n):
        for _ in range(n):
            run_step(run, run.state.step, logs, grads)
            run.state.step += 1
        logs.means()  # the engine reads its losses once per log interval; include one read per timing
        logs.reset()
    return steps


def loop_runner(run, device, batch_size, seed):
    G = copy.deepcopy(run.networks["generator"])
    D = copy.deepcopy(run.networks["discriminator"])
    spec_g, spec_d = run.recipe.optimizers["generator"], run.recipe.optimizers["discriminator"]
    opt_g = torch.optim.Adam(G.parameters(), lr=spec_g.lr, betas=spec_g.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=spec_d.lr, betas=spec_d.betas)
    images = run.dataset.images  # uint8 [N, C, H, W], as the engine's batch stream reads it
    nz = run.recipe.latent.dim
    g = torch.Generator().manual_seed(seed)
    state = {"perm": torch.randperm(len(images), generator=g), "pos": 0}

    def batch():
        if state["pos"] + batch_size > len(images):
            state["perm"], state["pos"] = torch.randperm(len(images), generator=g), 0
        idx = state["perm"][state["pos"]:state["pos"] + batch_size]
        state["pos"] += batch_size
        return images.index_select(0, idx).float().div_(127.5).sub_(1).to(device, non_blocking=True)

    def steps(n):
        for _ in range(n):
            real = batch()
            z = torch.randn(batch_size, nz, device=device)
            fake = G(z)
            out_real, out_fake = D(real), D(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
                      + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake)))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            out = D(fake)
            loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        loss_d.item(), loss_g.item()
    return steps


def timed(fn, n, sync):
    sync()
    t = time.perf_counter()
    fn(n)
    sync()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=None, help="steps per timing (default 10 CPU, 200 GPU)")
    ap.add_argument("--repeats", type=int, default=5, help="alternating timings of each side")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra recipe overrides")
    a = ap.parse_args()
    device = torch.device(a.device)
    steps = a.steps or (10 if device.type == "cpu" else 200)
    s = a.image_size
    recipe = load_recipe(RECIPE, [f"train.batch_size={a.batch_size}", f'train.device="{a.device}"',
                                  f"data.image_size={s}", f"networks.generator.image_size={s}",
                                  f"networks.discriminator.image_size={s}", *a.overrides])
    run = build_run(recipe)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sides = {"engine": engine_runner(run), "loop": loop_runner(run, device, a.batch_size, recipe.train.seed)}
    for fn in sides.values():  # warm-up: allocator, cuDNN autotuning, first-touch
        timed(fn, max(2, steps // 5), sync)
    times = {k: [] for k in sides}
    for _ in range(a.repeats):
        for name, fn in sides.items():
            times[name].append(timed(fn, steps, sync))
    ips = {k: a.batch_size * steps / statistics.median(v) for k, v in times.items()}
    ratio = ips["engine"] / ips["loop"]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__} on {where}; DCGAN {s}x{s}, batch {a.batch_size}, {steps} steps x {a.repeats}")
    print(f"engine {ips['engine']:9.1f} img/s")
    print(f"loop   {ips['loop']:9.1f} img/s")
    print(f"ratio  {ratio:9.3f}  (engine / loop, target >= 0.97)")
    print(json.dumps({"device": where, "engine_img_s": ips["engine"], "loop_img_s": ips["loop"], "ratio": ratio}))


if __name__ == "__main__":
    main()
