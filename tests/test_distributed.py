"""torchrun + DistributedDataParallel on the CPU (gloo, 2 processes): weights stay identical across processes,
2 processes with their halves step as 1 process with the whole batch, terms that differentiate only the input
(R1 alone in its phase) and gradient penalties work, and a run resumes on another number of processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import ROOT

WORKER = textwrap.dedent('''
    import json, os, sys, torch
    from gancompose.recipe import load_recipe
    from gancompose.runner import run_recipe
    recipe_path, out, steps, resume, *overrides = sys.argv[1:]
    r = load_recipe(recipe_path, overrides)
    res = run_recipe(r, max_steps=int(steps), resume=resume or None, progress=False, device="cpu")
    rank = int(os.environ.get("RANK", "0"))
    torch.save({"state": {k: v.detach() for k, v in res.run.networks.state_dict().items()},
                "params": {k: v.detach() for k, v in res.run.networks.named_parameters()}}, f"{out}/rank{rank}.pt")
    if rank == 0:
        json.dump({"run_dir": str(res.run_dir), "last": str(res.last_checkpoint), "step": res.run.state.step,
                   "images_seen": res.run.state.images_seen}, open(f"{out}/result.json", "w"))
''')


def _launch(tmp_path: Path, name: str, recipe: str, steps: int, *overrides: str, procs: int = 2,
            resume: str = "") -> dict:
    out = tmp_path / name
    out.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [str(ROOT / "recipes" / recipe), str(out), str(steps), resume,
            f'train.output_dir="{(tmp_path / "runs").as_posix()}"', "train.sample_every=0", "metrics=[]",
            "train.log_every=5", *overrides]
    if procs == 1:
        cmd = [sys.executable, str(script), *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
               str(script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    result["weights"] = [torch.load(out / f"rank{r}.pt") for r in range(procs)]
    return result


def _close(a: dict, b: dict, tol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol, msg=k)


RING = ["train.batch_size=64", "data.size=512", "train.checkpoint_every=10"]


def test_two_processes_step_as_one_with_the_whole_batch_and_resume_on_one(tmp_path):
    two = _launch(tmp_path, "two", "vanilla_gan_ring.toml", 20, *RING)
    r0, r1 = (w["state"] for w in two["weights"])
    for k in r0:  # DDP averaged the gradients: the replicas never diverged (no buffers in these MLPs)
        assert torch.equal(r0[k], r1[k]), k
    assert two["step"] == 20 and two["images_seen"] == 20 * 64
    one = _launch(tmp_path, "one", "vanilla_gan_ring.toml", 20, *RING, procs=1)
    _close(one["weights"][0]["state"], r0)  # same images, same latents, averaged gradients: the same steps

    # a checkpoint of the 2-process run resumes on 1 process and continues as the 1-process run does
    ckpt = Path(two["run_dir"]) / "checkpoints" / "step_0000010.safetensors"
    resumed = _launch(tmp_path, "resumed", "vanilla_gan_ring.toml", 20, *RING, procs=1, resume=str(ckpt))
    _close(resumed["weights"][0]["state"], one["weights"][0]["state"])


def _tiny(recipe: str, tmp_path: Path, batch: int = 8) -> list[str]:
    from conftest import tiny_overrides
    from gancompose.recipe import load_raw
    return [o for o in tiny_overrides(load_raw(ROOT / "recipes" / recipe), tmp_path)
            if not o.startswith(("train.batch_size", "train.log_every", "metrics"))] + [f"train.batch_size={batch}"]


def _same_parameters(r0: dict, r1: dict) -> None:
    """The replicas' parameters are equal (running buffers, batch-norm statistics and StyleGAN2's w_avg and
    path-length mean, follow each process's own batches, as in the official multi-GPU code)."""
    p0, p1 = r0["params"], r1["params"]
    assert p0.keys() == p1.keys()
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    for k in (k for k in r0["state"] if k.endswith(("._u", "._v"))):  # spectral norm's: from the weights alone
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    assert all(torch.isfinite(v).all() for v in r0["state"].values())


@pytest.mark.parametrize("recipe, overrides", [
    ("wgangp_ring.toml", ["train.batch_size=32", "data.size=256"]),  # gradient penalty, n_critic 5
    ("nsgan_r1_grid25.toml", ["train.batch_size=32", "data.size=256", "schedule.lazy_phases=true",
                              "regularizers[0].every=2"]),  # R1 alone in its phase
    ("dcgan_shapes.toml", None),  # a fake made in the discriminator phase, differentiated in the generator's
    ("cyclegan_shapes.toml", None),  # two generators stepping together, two discriminators, image pools
    ("progan_shapes.toml", None),  # growing networks: blocks above the resolution unused
    ("stylegan2_shapes.toml", None),  # lazy R1 and path length (through the generator's forward)
    ("sngan_shapes.toml", None),  # spectral norm: power-iteration buffers updated in every forward
])
def test_replicas_stay_identical_in_every_family(tmp_path, recipe, overrides):
    res = _launch(tmp_path, "run", recipe, 3, *(overrides if overrides is not None else _tiny(recipe, tmp_path)))
    _same_parameters(*res["weights"])


def test_ada_adapts_one_p_from_every_process_reals(tmp_path):
    """ADA's statistics are summed over processes before p moves: p is the same everywhere, and each adjustment
    counts the images of the whole batch (8 here, not a process's 4)."""
    res = _launch(tmp_path, "run", "dcgan_shapes.toml", 3, *_tiny("dcgan_shapes.toml", tmp_path),
                  "networks.discriminator.augment={type='ada', p=0.5, interval=1, speed_images=64}")
    r0, r1 = res["weights"]
    (key,) = [k for k in r0["state"] if k.endswith(".p")]
    assert r0["state"][key] == r1["state"][key]
    steps = (r0["state"][key].item() - 0.5) / (8 / 64)  # each of the 3 adjustments moves p by +-8/64
    assert steps == pytest.approx(round(steps)) and abs(round(steps)) in (1, 3)
    _same_parameters(r0, r1)


def test_torchrun_command_line(tmp_path):
    """What a user types: torchrun -m gancompose run; process 0 reports and writes the run folder."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "gancompose",
         "run", str(ROOT / "recipes" / "vanilla_gan_ring.toml"), "--max-steps", "6", "--device", "cpu",
         "--output-dir", str(tmp_path), "--set", "train.batch_size=31", "--set", "metrics=[]"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0 and "does not split evenly over 2 processes" in proc.stderr
    assert "gancompose/runner.py" not in proc.stderr  # our message, no traceback of ours (torchrun adds its own)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "gancompose",
         "run", str(ROOT / "recipes" / "vanilla_gan_ring.toml"), "--max-steps", "6", "--device", "cpu",
         "--output-dir", str(tmp_path), "--set", "train.batch_size=32", "--set", "metrics=[]"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("done at step 6") == 1 and "2 processes (torchrun)" in proc.stderr
    runs = list((tmp_path / "vanilla_gan_ring").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "last.safetensors").exists()
