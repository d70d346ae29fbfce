"""Engine vs a plain hand-written PyTorch loop: same model, batch and data, one process.

    python bench/engine_vs_loop.py                                   # DCGAN, CPU or CUDA, 64x64
    python bench/engine_vs_loop.py --variant wgangp                  # WGAN-GP, 64x64, n_critic 5, lambda 10
    python bench/engine_vs_loop.py --device cuda --steps 200 --batch-size 128
    python bench/engine_vs_loop.py --variant cyclegan --image-size 256   # CycleGAN, batch 1
    python bench/engine_vs_loop.py --variant ring --threads 1 --batch-size 16   # the engine's fixed cost per step

Variants:

* ``dcgan``: recipes/dcgan_shapes.toml. The hand loop is the pytorch/examples DCGAN step (D on real and on
  detached fakes, then G on the same fakes).
* ``wgangp``: recipes/wgangp_shapes.toml when it exists, else recipes/dcgan_shapes.toml turned into WGAN-GP
  by overrides (Wasserstein loss, gradient penalty lambda 10, critic without BatchNorm, Adam 1e-4 betas
  (0.0, 0.9), n_critic 5, fresh latents for the generator step). The hand loop is the WGAN-GP algorithm as
  /work/shared/bench/reference_loops.py (make_wgangp) writes it, with a new real batch per critic step as
  the paper's Algorithm 1 and the engine do, and written as a careful user would: fakes for the critic made
  under no_grad, the critic frozen during the generator step (the reference makes the fakes with a graph and
  detaches them, and leaves the critic trainable: both only cost the loop time).

* ``ring``: recipes/vanilla_gan_ring.toml with ``schedule.reuse_fake = true`` (tiny MLPs on the 2-D ring: the
  compute is negligible, so the ratio measures what the engine adds to every step: phases, grad switches, the
  per-step finiteness note, log accumulation). The hand loop is dcgan_loop's step on the ring's points.

* ``cyclegan``: recipes/cyclegan_monet2photo.toml (ResNet-9 generators, 70x70 PatchGANs, batch 1) on
  unpaired_shapes rendered at the image size instead of the monet2photo files. The hand loop is the
  official ``CycleGANModel.optimize_parameters`` written out: the four translations, the generators step
  (LSGAN + cycle x 10 + identity x 5, discriminators frozen), then the discriminators step on image-pool
  fakes with each loss halved; its image pools use Python's ``random`` as the official ``ImagePool`` does.

bench/speed.py imports :func:`recipe_for`, :func:`engine_recipe`, :func:`engine_runner`, :func:`synchronizer` and
:func:`timed` from here (it also times the StyleGAN2 recipes, which have no hand loop in this file).

Both sides start from the same weights and read the same in-memory images. Runs alternate (engine, loop,
engine, loop, ...) so drift in machine load hits both. Prints images/s of both (the median of the repeats;
images = generator updates x batch size) and the ratio engine/loop: the median over the repeats of each engine
timing against the loop timing next to it (target >= 0.97).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gancompose.builder import build_run
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.recipe import load_raw, load_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"

#: dcgan_shapes.toml turned into WGAN-GP (Gulrajani et al. 2017, Algorithm 1), when wgangp_shapes.toml is absent
WGANGP_FROM_DCGAN = [
    'loss.type="wasserstein"',
    'regularizers=[{type = "gradient_penalty", weight = 10.0, network = "discriminator"}]',
    "networks.discriminator.batch_norm=false",
    "optimizers.generator.lr=1e-4", "optimizers.generator.betas=[0.0, 0.9]",
    "optimizers.discriminator.lr=1e-4", "optimizers.discriminator.betas=[0.0, 0.9]",
    "schedule.n_critic=5", "schedule.reuse_fake=false",
]


#: stylegan2_cifar10.toml (the official cifar configuration, class-conditional) on the 6 shape classes: no download
STYLEGAN2_ON_SHAPES = [
    "data={type='shapes', image_size=32}",
    "networks.generator.num_classes=6", "networks.discriminator.num_classes=6",
]


def recipe_for(variant: str) -> tuple[Path, list[str]]:
    """The recipe a variant times and the overrides that make it one (data needing no download)."""
    if variant == "cyclegan":
        return RECIPES / "cyclegan_monet2photo.toml", ["data={type='unpaired_shapes', size=16}"]
    if variant == "dcgan":
        return RECIPES / "dcgan_shapes.toml", []
    if variant == "ring":
        return RECIPES / "vanilla_gan_ring.toml", ["schedule.reuse_fake=true", "metrics=[]"]
    if variant == "stylegan2":  # GPU-sized: 512 channels, batch 64
        return RECIPES / "stylegan2_cifar10.toml", list(STYLEGAN2_ON_SHAPES)
    if variant == "stylegan2_small":  # CPU-sized
        return RECIPES / "stylegan2_shapes.toml", []
    own = RECIPES / "wgangp_shapes.toml"
    if own.exists():
        return own, []
    return RECIPES / "dcgan_shapes.toml", list(WGANGP_FROM_DCGAN)


def size_overrides(raw: dict, size: int) -> list[str]:
    out = [f"data.image_size={size}"]
    for name, net in raw.get("networks", {}).items():
        if "image_size" in net:
            out.append(f"networks.{name}.image_size={size}")
    return out


def engine_recipe(variant: str, device: str, batch_size: int, image_size: int, overrides=()):
    """``(recipe path, the variant's overrides, the loaded recipe)`` at this batch, device and image size;
    ``overrides`` come last."""
    path, variant_overrides = recipe_for(variant)
    sizes = size_overrides(load_raw(path), image_size) if variant != "ring" else []  # 2-D points: no image size
    recipe = load_recipe(path, [*variant_overrides, f"train.batch_size={batch_size}", f'train.device="{device}"',
                                *sizes, *overrides])
    return path, variant_overrides, recipe


# ------------------------------------------------------------------------------------------- engine
def engine_runner(run):
    """``steps(n)``: n training steps as gancompose.engine.train runs them (its [performance] precision flags
    on for the duration), without callbacks."""
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    run.networks.train()
    perf = getattr(run, "performance", None)

    def steps(n):
        with perf.cuda_switches() if perf is not None else contextlib.nullcontext():
            for _ in range(n):
                run_step(run, run.state.step, logs, grads)
                run.state.step += 1
            logs.means()  # the engine reads its losses once per log interval; include one read per timing
        logs.reset()
    return steps


# --------------------------------------------------------------------------------------- hand loops
def _copies(run):
    G = copy.deepcopy(run.networks["generator"])
    D = copy.deepcopy(run.networks["discriminator"])
    spec_g, spec_d = run.recipe.optimizers["generator"], run.recipe.optimizers["discriminator"]
    opt_g = torch.optim.Adam(G.parameters(), lr=spec_g.lr, betas=spec_g.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=spec_d.lr, betas=spec_d.betas)
    return G, D, opt_g, opt_d


def _batches(run, device, batch_size, seed):
    """Batches as the engine's stream draws them: uint8 images scaled to [-1, 1], or the 2-D mixtures' points."""
    images = getattr(run.dataset, "images", None)  # uint8 [N, C, H, W], as the engine's batch stream reads it
    if images is None:  # 2-D points, float already
        source, scale = run.dataset.data.to(device), (lambda x: x)
    else:
        source, scale = images, (lambda x: x.float().div_(127.5).sub_(1).to(device, non_blocking=True))
    g = torch.Generator().manual_seed(seed)
    state = {"perm": torch.randperm(len(source), generator=g), "pos": 0}

    def batch():
        if state["pos"] + batch_size > len(source):
            state["perm"], state["pos"] = torch.randperm(len(source), generator=g), 0
        idx = state["perm"][state["pos"]:state["pos"] + batch_size]
        state["pos"] += batch_size
        return scale(source.index_select(0, idx.to(source.device)))
    return batch


def dcgan_loop(run, device, batch_size, seed):
    G, D, opt_g, opt_d = _copies(run)
    batch = _batches(run, device, batch_size, seed)
    nz = run.recipe.latent.dim

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


def wgangp_loop(run, device, batch_size, seed):
    r = run.recipe
    if r.loss.type != "wasserstein" or [t.type for t in r.regularizers] != ["gradient_penalty"] \
            or r.schedule.type != "alternating" or r.schedule.reuse_fake:
        raise SystemExit(f"the wgangp hand loop needs a WGAN-GP recipe; got loss {r.loss.type!r}, "
                         f"regularizers {[t.type for t in r.regularizers]}, schedule {r.schedule.type!r}")
    gp = r.regularizers[0]
    lam, target, n_critic = gp.weight, gp.target, r.schedule.n_critic
    G, D, opt_g, opt_d = _copies(run)
    batch = _batches(run, device, batch_size, seed)
    nz = r.latent.dim

    def steps(n):
        for _ in range(n):
            for _ in range(n_critic):
                real = batch()
                with torch.no_grad():
                    fake = G(torch.randn(batch_size, nz, device=device))
                t = torch.rand(batch_size, 1, 1, 1, device=device)
                x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
                grad, = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
                penalty = ((grad.flatten(1).norm(2, dim=1) - target) ** 2).mean()
                loss_d = D(fake).mean() - D(real).mean() + lam * penalty
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            D.requires_grad_(False)
            loss_g = -D(G(torch.randn(batch_size, nz, device=device))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            D.requires_grad_(True)
        loss_d.item(), loss_g.item()
    return steps


class _OfficialPool:
    """util/image_pool.py of the official CycleGAN code, with Python's random."""

    def __init__(self, size):
        import random
        self.size, self.images, self.random = size, [], random.Random(0)

    def query(self, images):
        out = []
        for image in images:
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.random.uniform(0, 1) > 0.5:
                i = self.random.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out)


def cyclegan_loop(run, device, batch_size, seed):
    r = run.recipe
    nets = {n: copy.deepcopy(run.networks[n]) for n in ("G_AB", "G_BA", "D_A", "D_B")}
    g_ab, g_ba, d_a, d_b = nets["G_AB"], nets["G_BA"], nets["D_A"], nets["D_B"]
    spec = r.optimizers["G_AB"]
    opt_g = torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=spec.lr, betas=spec.betas)
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=spec.lr, betas=spec.betas)
    pool_a, pool_b = _OfficialPool(r.schedule.pool_size), _OfficialPool(r.schedule.pool_size)
    images = run.dataset.images
    g = torch.Generator().manual_seed(seed)
    lam_a = lam_b = 10.0
    lam_idt = 0.5

    def mse(x, target):
        return F.mse_loss(x, torch.full_like(x, target))

    def batch(domain, idx):
        return images[domain].index_select(0, idx).float().div_(127.5).sub_(1).to(device, non_blocking=True)

    def steps(n):
        for _ in range(n):
            ia = torch.randint(len(images["A"]), (batch_size,), generator=g)
            ib = torch.randint(len(images["B"]), (batch_size,), generator=g)
            real_a, real_b = batch("A", ia), batch("B", ib)
            fake_b = g_ab(real_a)
            rec_a = g_ba(fake_b)
            fake_a = g_ba(real_b)
            rec_b = g_ab(fake_a)
            d_a.requires_grad_(False)
            d_b.requires_grad_(False)
            loss_g = (mse(d_b(fake_b), 1.0) + mse(d_a(fake_a), 1.0)
                      + F.l1_loss(rec_a, real_a) * lam_a + F.l1_loss(rec_b, real_b) * lam_b
                      + F.l1_loss(g_ab(real_b), real_b) * lam_b * lam_idt
                      + F.l1_loss(g_ba(real_a), real_a) * lam_a * lam_idt)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            d_a.requires_grad_(True)
            d_b.requires_grad_(True)
            pooled_b, pooled_a = pool_b.query(fake_b.detach()), pool_a.query(fake_a.detach())
            loss_d = ((mse(d_b(real_b), 1.0) + mse(d_b(pooled_b), 0.0)) * 0.5
                      + (mse(d_a(real_a), 1.0) + mse(d_a(pooled_a), 0.0)) * 0.5)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        loss_d.item(), loss_g.item()
    return steps


LOOPS = {"dcgan": dcgan_loop, "wgangp": wgangp_loop, "cyclegan": cyclegan_loop, "ring": dcgan_loop}


# ------------------------------------------------------------------------------------------- timing
def synchronizer(device: torch.device):
    """What to call before reading the clock: wait for the device's queued work."""
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def timed(fn, n, sync):
    sync()
    t = time.perf_counter()
    fn(n)
    sync()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=sorted(LOOPS), default="dcgan", help="which GAN to time (default dcgan)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=None,
                    help="generator steps per timing (default: CPU 10 DCGAN / 3 WGAN-GP; GPU 200 / 50)")
    ap.add_argument("--repeats", type=int, default=5, help="alternating timings of each side")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 64 (DCGAN, WGAN-GP), 1 (CycleGAN)")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra recipe overrides")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    cpu = device.type == "cpu"
    a.batch_size = a.batch_size or {"cyclegan": 1, "ring": 256}.get(a.variant, 64)
    steps = a.steps or {("dcgan", True): 10, ("dcgan", False): 200, ("wgangp", True): 3, ("wgangp", False): 50,
                        ("cyclegan", True): 3, ("cyclegan", False): 100, ("ring", True): 300,
                        ("ring", False): 1000}[(a.variant, cpu)]
    path, variant_overrides, recipe = engine_recipe(a.variant, a.device, a.batch_size, a.image_size, a.overrides)
    run = build_run(recipe)
    sync = synchronizer(device)
    sides = {"engine": engine_runner(run), "loop": LOOPS[a.variant](run, device, a.batch_size, recipe.train.seed)}
    for fn in sides.values():  # warm-up: allocator, cuDNN autotuning, first-touch
        timed(fn, max(1 if a.variant != "dcgan" and cpu else 2, steps // 5), sync)
    times = {k: [] for k in sides}
    for _ in range(a.repeats):
        for name, fn in sides.items():
            times[name].append(timed(fn, steps, sync))
    ips = {k: a.batch_size * steps / statistics.median(v) for k, v in times.items()}
    # each engine timing against the loop's next to it, then the median: drift in the machine's load between
    # pairs cancels (the ratio of the two medians, printed in the JSON too, does not pair them)
    ratio = statistics.median(t_loop / t_engine for t_engine, t_loop in zip(times["engine"], times["loop"]))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    s = a.image_size
    what = {"dcgan": "DCGAN", "cyclegan": "CycleGAN (ResNet-9, PatchGAN, pool 50)",
            "ring": "vanilla GAN, MLPs on the 2-D ring (reuse_fake)"}.get(a.variant) or \
        f"WGAN-GP (n_critic {recipe.schedule.n_critic}, lambda {recipe.regularizers[0].weight:g})"
    print(f"torch {torch.__version__} on {where}; {what} {s}x{s}, batch {a.batch_size}, "
          f"{steps} steps x {a.repeats}; recipe {path.name}{' + overrides' if variant_overrides else ''}")
    print(f"engine {ips['engine']:9.1f} img/s")
    print(f"loop   {ips['loop']:9.1f} img/s")
    print(f"ratio  {ratio:9.3f}  (engine / loop, median of {a.repeats} paired timings; target >= 0.97)")
    if a.variant == "ring":  # compute is negligible: the time per step is the fixed cost
        print("ms/step: " + ", ".join(f"{k} {1000 * statistics.median(v) / steps:.3f}" for k, v in times.items()))
    spread = {k: [round(a.batch_size * steps / t, 2) for t in v] for k, v in times.items()}
    print(json.dumps({"variant": a.variant, "device": where, "engine_img_s": ips["engine"],
                      "loop_img_s": ips["loop"], "ratio": ratio, "ratio_of_medians": ips["engine"] / ips["loop"],
                      "per_repeat_img_s": spread}))


if __name__ == "__main__":
    main()
