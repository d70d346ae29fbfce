"""[performance]: resolved per device, validation errors, bf16 / channels_last / fused optimizers on the CPU,
torch.compile's per-network fallback, and the losses read without a host sync per step."""
from __future__ import annotations

import pytest
import torch

from conftest import ROOT, needs_cpp_compiler, tiny_overrides
from gancompose.builder import build_run
from gancompose.engine import train
from gancompose.engine.loop import StepLogs, _GradSwitch, run_step
from gancompose.errors import RecipeError
from gancompose.performance import resolve_performance
from gancompose.recipe import load_raw, load_recipe


def _recipe(tmp_path, name, *extra):
    path = ROOT / "recipes" / name
    return load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), "metrics=[]", *extra])


def _run(tmp_path, name, *extra):
    return build_run(_recipe(tmp_path, name, *extra))


def _weights(run):
    return {k: v.detach().clone() for k, v in run.networks.state_dict().items()}


def _with_discriminator_term(run, fn, name: str):
    """``run`` with ``fn(ctx)`` added (weight 1, every step) to the first phase, the discriminator's."""
    fn.name, fn.weight, fn.every = name, 1.0, 1
    phase = run.schedule.phases(0)[0]
    object.__setattr__(phase, "terms", (*phase.terms, fn))
    return run


# ------------------------------------------------------------------------------------- resolution
def test_auto_is_plain_fp32_on_the_cpu(tmp_path):
    perf = resolve_performance(_recipe(tmp_path, "dcgan_shapes.toml").performance, torch.device("cpu"))
    assert (perf.precision, perf.channels_last, perf.fused_optimizers, perf.compile) == ("fp32", False, False, False)
    assert perf.describe() == "cpu: fp32"


def test_auto_on_cuda_is_bf16_tf32_channels_last_fused(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    perf = resolve_performance(_recipe(tmp_path, "dcgan_shapes.toml").performance, torch.device("cuda"))
    assert (perf.precision, perf.tf32, perf.channels_last, perf.fused_optimizers) == ("bf16", True, True, True)
    assert perf.describe() == "cuda: bf16 autocast + TF32, channels_last, fused optimizers"


def test_cuda_graphs_compile_with_reduce_overhead_on_cuda_and_do_nothing_on_the_cpu(tmp_path):
    """A recipe written for a GPU runs as written on a laptop: CUDA graphs only where there is CUDA."""
    spec = _recipe(tmp_path, "cyclegan_shapes.toml", "performance.cuda_graphs=true").performance
    perf = resolve_performance(spec, torch.device("cuda"))
    assert perf.compile and perf.cuda_graphs and perf.compile_mode == "reduce-overhead"
    perf = resolve_performance(spec, torch.device("cpu"))
    assert not perf.compile and not perf.cuda_graphs and perf.describe() == "cpu: fp32"


@pytest.mark.parametrize("override, key, words", [
    ('performance.compile_backend="inductr"', "performance.compile_backend", "did you mean 'inductor'"),
    ("performance.fused_optimizers=true", "performance.fused_optimizers", "RMSprop"),
])
def test_impossible_settings_are_recipe_errors(tmp_path, override, key, words):
    extra = [override] + (["performance.compile=true"] if "backend" in override else [])
    with pytest.raises(RecipeError) as info:
        _run(tmp_path, "wgan_shapes.toml", *extra)  # RMSprop: no fused kernel
    text = str(info.value)
    assert key in text and words in text and "wgan_shapes.toml" in text


def test_cuda_graphs_with_another_compile_mode_is_refused(tmp_path):
    spec = _recipe(tmp_path, "dcgan_shapes.toml", "performance.cuda_graphs=true",
                   'performance.compile_mode="max-autotune"').performance
    for device in ("cuda", "cpu"):  # a contradiction in the recipe, on any device
        with pytest.raises(RecipeError, match="reduce-overhead"):
            resolve_performance(spec, torch.device(device))


def test_unknown_precision_lists_the_choices(tmp_path):
    from gancompose.cli import cli
    from click.testing import CliRunner
    out = CliRunner().invoke(cli, ["validate", str(ROOT / "recipes" / "dcgan_shapes.toml"),
                                   "--set", 'performance.precision="fp16"'])
    assert out.exit_code != 0 and "performance.precision" in out.output and "'bf16'" in out.output
    assert "Traceback" not in out.output


# --------------------------------------------------------------------------------- on the CPU
def test_bf16_channels_last_fused_train_and_resume_exactly(tmp_path):
    extra = ['performance.precision="bf16"', "performance.channels_last=true", "performance.fused_optimizers=true"]
    run = _run(tmp_path, "dcgan_shapes.toml", *extra)
    conv = next(m for m in run.networks["discriminator"].modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(g["fused"] for opt in run.optimizers.values() for g in opt.param_groups)
    seen = {}
    run.networks["discriminator"].register_forward_hook(lambda m, i, o: seen.update(dtype=o.dtype))
    train(run, until=2)
    assert seen["dtype"] == torch.bfloat16  # the forward passes ran under bf16 autocast
    assert all(torch.isfinite(v).all() for v in _weights(run).values())

    from gancompose.checkpoint import Checkpoint, restore_run, save_checkpoint
    path = tmp_path / "c.safetensors"
    save_checkpoint(run, path)
    train(run, until=4)
    resumed = _run(tmp_path, "dcgan_shapes.toml", *extra)
    restore_run(resumed, Checkpoint(path))
    train(resumed, until=4)
    for k, v in _weights(run).items():
        assert torch.equal(v, _weights(resumed)[k]), k


def test_a_fused_checkpoint_resumes_unfused(tmp_path):
    """Saved optimizer groups carry the writing run's kernel flags; the resuming run's settings win."""
    from gancompose.checkpoint import Checkpoint, restore_run, save_checkpoint
    run = _run(tmp_path, "dcgan_shapes.toml", "performance.fused_optimizers=true")
    train(run, until=1)
    save_checkpoint(run, tmp_path / "c.safetensors")
    plain = _run(tmp_path, "dcgan_shapes.toml")
    restore_run(plain, Checkpoint(tmp_path / "c.safetensors"))
    assert not any(g["fused"] for opt in plain.optimizers.values() for g in opt.param_groups)
    train(plain, until=2)
    assert all(torch.isfinite(v).all() for v in _weights(plain).values())


# ------------------------------------------------------------------------------ compile fallback
def test_a_gradient_penalty_calls_the_critic_eager_and_the_adversarial_terms_compiled(tmp_path):
    """WGAN-GP: AOTAutograd cannot differentiate a compiled graph twice, so the penalty's call (its input a leaf
    that requires grad) runs eager, the critic's other calls and the generator stay compiled, nothing falls
    back, and the run equals an eager run."""
    eager = _run(tmp_path, "wgangp_ring.toml")
    train(eager, until=3)
    run = _run(tmp_path, "wgangp_ring.toml", "performance.compile=true", 'performance.compile_backend="aot_eager"')
    lines = []
    run.compiled.report = lines.append
    train(run, until=3)
    assert run.compiled.compiled == {"generator", "discriminator"} and not run.compiled.fallbacks and not lines
    for k, v in _weights(eager).items():
        torch.testing.assert_close(_weights(run)[k], v, rtol=1e-5, atol=1e-6)


def _double_backward_term(ctx):
    """A penalty whose input is not a leaf: its compiled graph is differentiated twice."""
    x = ctx.real.detach().requires_grad_(True) * 1.0  # a non-leaf that requires grad
    grad, = torch.autograd.grad(ctx.discriminator(x).sum(), x, create_graph=True)
    return grad.square().sum()


def test_double_backward_through_a_compiled_critic_falls_back_to_eager(tmp_path):
    """A term that differentiates a compiled graph twice where the leaf rule does not see it: the critic goes
    back to eager (one line), the generator stays compiled, and the run equals an eager run (the failed
    attempt's data and random draws were given back)."""
    eager = _with_discriminator_term(_run(tmp_path, "vanilla_gan_ring.toml"), _double_backward_term, "twice")
    train(eager, until=3)
    run = _with_discriminator_term(_run(tmp_path, "vanilla_gan_ring.toml", "performance.compile=true",
                                        'performance.compile_backend="aot_eager"'), _double_backward_term, "twice")
    lines = []
    run.compiled.report = lines.append
    train(run, until=3)
    assert run.compiled.compiled == {"generator"}
    why = run.compiled.fallbacks["discriminator"]  # torch words it either way, depending on what it compiled
    assert list(run.compiled.fallbacks) == ["discriminator"] and ("double backward" in why
                                                                  or "create_graph=False" in why), why
    assert len(lines) == 1 and lines[0].startswith("torch.compile: discriminator runs eager")
    for k, v in _weights(eager).items():
        torch.testing.assert_close(_weights(run)[k], v, rtol=1e-5, atol=1e-6)


def test_a_network_that_fails_to_compile_runs_eager(tmp_path):
    import torch._dynamo

    @torch._dynamo.register_backend(name="gancompose_test_broken")
    def broken(gm, example_inputs):
        raise RuntimeError("this backend cannot compile anything")

    run = _run(tmp_path, "vanilla_gan_ring.toml", "performance.compile=true",
               'performance.compile_backend="gancompose_test_broken"')
    run.compiled.report = lambda line: None
    before = _weights(run)
    train(run, until=2)
    assert run.compiled.compiled == set() and set(run.compiled.fallbacks) == {"generator", "discriminator"}
    assert all(not torch.equal(before[k], v) for k, v in _weights(run).items() if k.endswith("weight"))


def test_a_real_error_is_not_hidden_by_the_fallback(tmp_path):
    """An exception that eager networks raise too propagates (after the compiled networks of that phase were
    tried eager)."""
    run = _run(tmp_path, "vanilla_gan_ring.toml", "performance.compile=true",
               'performance.compile_backend="aot_eager"')
    run.compiled.report = lambda line: None

    def bad(ctx):
        ctx.fake  # a compiled network runs in the phase
        raise ValueError("a bug in a term")
    _with_discriminator_term(run, bad, "bad")
    with pytest.raises(ValueError, match="a bug in a term"):
        train(run, until=1)


# ----------------------------------------------------------------------------- no host syncs
def test_losses_are_read_once_per_interval_and_equal_the_per_step_values(tmp_path):
    run = _run(tmp_path, "vanilla_gan_ring.toml")
    logs, grads = StepLogs(), _GradSwitch(run.networks)
    per_step = []
    for step in range(4):
        one = StepLogs()
        run_step(run, step, one, grads)
        per_step.append(one.means())
        for key, value in one._sums.items():
            logs.add(key, value)
    means = logs.means()
    for key in means:
        assert means[key] == pytest.approx(sum(p[key] for p in per_step) / 4, rel=1e-6)
    # the values stay tensors on the device until read
    assert all(isinstance(v, torch.Tensor) for v in logs._sums.values())


def test_logged_values_are_folded_in_bounded_memory_and_their_means_are_exact():
    """A step appends its values (no device op per value); every FOLD_EVERY values of a key they are summed,
    so a run that never reads its logs holds a bounded number of tensors, and the means are those of all."""
    logs = StepLogs()
    n = 3 * StepLogs.FOLD_EVERY + 17
    for i in range(n):
        logs.add("d/adversarial", torch.tensor(float(i)))
        logs.add("g/adversarial", torch.tensor(2.0, dtype=torch.bfloat16))
        assert len(logs._recent["d/adversarial"]) < StepLogs.FOLD_EVERY
    means = logs.means()
    assert means["d/adversarial"] == pytest.approx((n - 1) / 2, rel=1e-6)
    assert means["g/adversarial"] == 2.0
    logs.reset()
    assert logs.means() == {}


# ------------------------------------------------------------------------------------ input pipeline
@pytest.mark.parametrize("recipe", ["dcgan_shapes.toml", "vanilla_gan_ring.toml"])
def test_in_memory_data_staged_on_a_device_gives_the_same_batches(tmp_path, recipe):
    """On a GPU the stream stages in-memory datasets there (gancompose/data/stream.py); the batches are those
    gathered on the host."""
    run = _run(tmp_path, recipe, "train.batch_size=8")
    ds = run.dataset
    idx = [5, 0, 3, 3, 17, 9, 2, 11]
    host = ds.get_batch(idx)
    assert ds.stage(torch.device("cpu"))  # the same code path as a CUDA device, on the CPU
    staged = ds.get_batch(idx)
    assert staged.keys() == host.keys()
    for k in host:
        assert torch.equal(staged[k], host[k]), k


def _tf32_as_torch_checks_it() -> tuple[bool, bool, str]:
    """What cuBLAS, cuDNN and inductor ask: allowTF32CuBLAS(), allowTF32CuDNN() and the matmul precision. Each
    raises "you have used mix of the legacy and new APIs" when the legacy and the fp32_precision state disagree."""
    return (torch._C._get_cublas_allow_tf32(), torch._C._get_cudnn_allow_tf32(),
            torch.get_float32_matmul_precision())


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("tf32", True), ("bf16", True)])
def test_cuda_float32_switches_are_set_consistently_while_training_and_put_back(tmp_path, monkeypatch, precision,
                                                                                  tf32):
    """The switches are process-wide: set inside train(), restored after (settable without a GPU), and set so
    that torch's own consistency checks pass: writing only torch.backends.cuda.matmul.fp32_precision = "tf32"
    made every later allowTF32CuBLAS() raise (cuBLASLt's fp32 matmul with bias, inductor's matmul templates)."""
    from gancompose.performance.settings import cuda_float32_flags
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    spec = _recipe(tmp_path, "dcgan_shapes.toml", f'performance.precision="{precision}"').performance
    perf = resolve_performance(spec, torch.device("cuda"))
    before, checked = cuda_float32_flags(), _tf32_as_torch_checks_it()
    with perf.cuda_switches():
        assert cuda_float32_flags() == (tf32, tf32, True)
        assert _tf32_as_torch_checks_it() == (tf32, tf32, "high" if tf32 else "highest")
        assert torch.backends.cuda.matmul.fp32_precision == ("tf32" if tf32 else "ieee")
    assert cuda_float32_flags() == before and _tf32_as_torch_checks_it() == checked


def test_cuda_switches_repair_a_process_that_mixed_the_two_apis(tmp_path, monkeypatch):
    """A process in which something wrote only the new switch (torch's checks now raise) is read through the new
    switch, trained with consistent flags, and left consistent."""
    from gancompose.performance.settings import cuda_float32_flags, set_cuda_float32_flags
    perf = resolve_performance(_recipe(tmp_path, "dcgan_shapes.toml", 'performance.precision="tf32"').performance,
                               torch.device("cuda"))
    before = cuda_float32_flags()
    try:
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
            _tf32_as_torch_checks_it()
        assert cuda_float32_flags()[0] is True
        with perf.cuda_switches():
            assert _tf32_as_torch_checks_it()[0] is True
        assert _tf32_as_torch_checks_it()[0] is True
    finally:
        set_cuda_float32_flags(*before)


def test_image_files_travel_as_uint8_and_are_scaled_after_the_copy(tmp_path):
    """Image-folder batches go through the loader as uint8 (a quarter of the bytes through workers, pinned
    memory and the bus) and are scaled to [-1, 1] on the device: the same values as the dataset's items."""
    from PIL import Image
    from gancompose.data import BatchStream
    from gancompose_data.image_folder import ImageFolderDataset, ImageFolderParams
    g = torch.Generator().manual_seed(0)
    for i in range(6):
        pixels = torch.randint(0, 256, (20, 24, 3), dtype=torch.uint8, generator=g)
        Image.fromarray(pixels.numpy()).save(tmp_path / f"{i}.png")
    ds = ImageFolderDataset(ImageFolderParams(root=str(tmp_path), image_size=16, crop="random", hflip=True))
    stream = BatchStream(ds, 3, seed=4, device=torch.device("cpu"))
    assert stream._uint8_keys == ("image",)
    batch = stream.next()
    items = stream.sampler.items(0)[:3]
    expected = torch.stack([ds[item]["image"] for item in items])
    assert batch["image"].dtype == torch.float32 and torch.equal(batch["image"], expected)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1


def test_cuda_graphs_mark_each_step_as_a_new_iteration(tmp_path, monkeypatch):
    """With CUDA graphs, outputs of an earlier step's replays may be overwritten: each step is marked as a new
    iteration for torch's CUDA-graph trees (wiring checked on the CPU)."""
    import dataclasses
    run = _run(tmp_path, "vanilla_gan_ring.toml")
    run.performance = dataclasses.replace(run.performance, cuda_graphs=True)
    marks = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(run.state.step))
    train(run, until=3)
    assert marks == [0, 1, 2]


def test_a_network_past_dynamos_recompile_limit_falls_back_with_its_line(tmp_path, monkeypatch):
    """Past the limit dynamo would run the network eager without a word; here it is reported like any failure."""
    import torch._dynamo
    from gancompose.performance import compile as compile_module
    monkeypatch.setattr(compile_module, "RECOMPILE_LIMIT", 1)
    torch._dynamo.reset()  # the limit counts entries of the code object every compiled network shares
    with torch._dynamo.config.patch(recompile_limit=1):
        run = _run(tmp_path, "vanilla_gan_ring.toml", "performance.compile=true",
                   'performance.compile_backend="aot_eager"')
        lines = []
        run.compiled.report = lines.append
        train(run, until=2)  # each network runs frozen in one phase, trainable in the other: a second entry each
    assert run.compiled.compiled == set() and len(lines) == 2
    assert all("limit" in why for why in run.compiled.fallbacks.values()), run.compiled.fallbacks


def test_a_compiled_progressive_generator_fades_in_without_recompiling_each_step(tmp_path, monkeypatch):
    """alpha reaches the compiled forward as a tensor (the growth buffer), so a fade-in does not compile a new
    graph at every step: through two fade-ins the generator stays compiled under a limit of 16 entries."""
    import torch._dynamo
    from gancompose.performance import compile as compile_module
    monkeypatch.setattr(compile_module, "RECOMPILE_LIMIT", 16)
    torch._dynamo.reset()  # the limit counts entries of the code object every compiled network shares
    with torch._dynamo.config.patch(recompile_limit=16):
        run = _run(tmp_path, "progan_shapes.toml", "performance.compile=true",
                   'performance.compile_backend="aot_eager"', "schedule.stabilise_kimg=0.008", "schedule.fade_kimg=0.04")
        run.compiled.report = lambda line: None
        alphas = set()
        for step in range(26):
            train(run, until=step + 1)
            alphas.add(run.networks["generator"].alpha)
    assert run.networks["generator"].resolution == 16 and len(alphas) > 8  # fade-ins with many distinct alphas
    assert "generator" in run.compiled.compiled, run.compiled.fallbacks


def test_path_length_runs_its_generator_call_eager_and_the_generator_stays_compiled(tmp_path):
    """StyleGAN2's path length differentiates through ws (not an input): the term asks for ctx.eager(), the
    generator's other calls stay compiled and nothing falls back."""
    run = _run(tmp_path, "stylegan2_shapes.toml", "performance.compile=true", 'performance.compile_backend="aot_eager"',
               "regularizers[0].every=2", "regularizers[1].every=2")
    lines = []
    run.compiled.report = lines.append
    train(run, until=3)  # steps 0 and 2 run both lazy terms
    assert run.compiled.compiled == {"generator", "discriminator"} and not lines, run.compiled.fallbacks


@needs_cpp_compiler
def test_a_spectrally_normalized_critic_stays_compiled_under_inductor(tmp_path):
    """SNGAN: inductor's backward used to trip over torch's in-place power iteration and send the critic back
    to eager; with gancompose.nn.spectral_norm both networks stay compiled and train like an eager run."""
    torch._dynamo.reset()
    eager = _run(tmp_path, "sngan_shapes.toml")
    train(eager, until=2)
    run = _run(tmp_path, "sngan_shapes.toml", "performance.compile=true")
    lines = []
    run.compiled.report = lines.append
    train(run, until=2)
    assert run.compiled.compiled == {"generator", "discriminator"} and not lines, run.compiled.fallbacks
    for k, v in _weights(eager).items():
        # the critic (weights, power-iteration vectors) as eager to float noise; in the generator, a conv bias
        # ahead of a BatchNorm has a zero gradient whose float noise Adam turns into lr-sized steps
        tol = dict(rtol=1e-4, atol=1e-5) if k.startswith("discriminator.") else dict(rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(_weights(run)[k], v, **tol)


@pytest.mark.parametrize("name, extra", [
    ("dcgan_shapes.toml", []), ("wgangp_shapes.toml", []), ("sngan_projection_shapes.toml", []),
    ("cyclegan_shapes.toml", []),
    ("progan_shapes.toml", ["schedule.stabilise_kimg=0.004", "schedule.fade_kimg=0.004"]),
    ("stylegan2_shapes.toml", []),
    ("stylegan2_ada_folder.toml", ["networks.discriminator.augment.p=0.5"]),  # ADA's pipeline in front of the critic
])
def test_compiled_networks_trace_without_graph_breaks(tmp_path, name, extra):
    """Every network's forward traces as one graph (dynamo only, backend "eager"): a graph break is a host read
    or a Python fallback in the middle of a network, i.e. a device sync per call on a GPU. ProGAN's growth,
    StyleGAN2's lazy regularizers (a few steps past their first R1 and path-length steps) and ADA in front of
    the critic included (its hue rotation's axis used to be read back with float())."""
    import torch._dynamo.utils
    run = _run(tmp_path, name, "performance.compile=true", 'performance.compile_backend="eager"', *extra)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    train(run, until=5)
    assert run.compiled.compiled == set(run.networks) and not run.compiled.fallbacks
    assert not torch._dynamo.utils.counters["graph_break"], dict(torch._dynamo.utils.counters["graph_break"])
