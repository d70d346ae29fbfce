"""Portable weights (issue #8): stable names, init_from, frozen layers, inspect, export/load_generator,
the CycleGAN importer, and clear errors for damaged, foreign or newer files."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import gancompose
from conftest import ROOT, tiny_overrides
from gancompose.builder import build_run
from gancompose.checkpoint import Checkpoint
from gancompose.cli import cli
from gancompose.engine.loop import _GradSwitch
from gancompose.errors import CheckpointError, RecipeError
from gancompose.portable.export import export_network
from gancompose.portable.load import load_generator
from gancompose_cycle import importer as cyclegan
from gancompose_cycle.reference import OfficialResnetGenerator, ResnetGenerator
from gancompose.builder.init_from import match
from gancompose.portable.inspect import diff_with_recipe, inspect_file
from gancompose.recipe import apply_overrides, load_raw, load_recipe, validate_recipe
from gancompose.registry import default_registry
from gancompose.runner import load_for_sampling, run_recipe
from gancompose.sampling import generate

DCGAN = ROOT / "recipes" / "dcgan_shapes.toml"
LSGAN = ROOT / "recipes" / "lsgan_shapes.toml"


def _recipe(path, tmp_path, extra=()):
    return load_recipe(path, [*tiny_overrides(load_raw(path), tmp_path), *extra])


def _raw_recipe(path, tmp_path, edit, extra=(), source=None):
    """A recipe edited as a dict (for what --set cannot do: remove or rename tables)."""
    raw = apply_overrides(load_raw(path), [*tiny_overrides(load_raw(path), tmp_path), *extra])
    raw.setdefault("name", path.stem)
    edit(raw)
    recipe = validate_recipe(raw, file=str(source or path))
    recipe._source = str(source or path)
    return recipe


def _invoke(*args):
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args])


def _params(net):
    return {k: v.detach().clone() for k, v in net.named_parameters()}


@pytest.fixture(scope="module")
def dcgan_ckpt(tmp_path_factory):
    """A tiny DCGAN run (2 steps, with an EMA copy of the generator): its last checkpoint."""
    tmp = tmp_path_factory.mktemp("dcgan")
    recipe = _recipe(DCGAN, tmp, ["train.ema={network='generator'}"])
    result = run_recipe(recipe, max_steps=2, progress=False)
    return result.run_dir / "checkpoints" / "last.safetensors"


# ------------------------------------------------------------------------------ names
def test_the_same_block_in_two_recipes_has_the_same_names(tmp_path, dcgan_ckpt):
    a = build_run(_recipe(DCGAN, tmp_path), with_data=False)
    b = build_run(_recipe(LSGAN, tmp_path), with_data=False)
    assert list(a.networks["generator"].state_dict()) == list(b.networks["generator"].state_dict())
    names = {k for k in Checkpoint(dcgan_ckpt).keys if k.startswith("networks.generator.")}
    assert names == {f"networks.generator.{k}" for k in b.networks["generator"].state_dict()}


def test_match_aligns_one_wrapper_prefix():
    r = match({"main.0.weight": (2, 3), "main.1.weight": (4,)},
              {"net.main.0.weight": (2, 3), "net.main.1.weight": (5,), "embed.weight": (10, 3)})
    assert r.renamed == ("", "net.", 2)
    assert r.matched == ["net.main.0.weight"]
    assert r.mismatched == [("net.main.1.weight", (4,), (5,))]
    assert r.missing == ["embed.weight"] and r.unexpected == []


# -------------------------------------------------------------------------- init_from
def test_init_from_a_dcgan_run_into_lsgan(tmp_path, dcgan_ckpt):
    recipe = _recipe(LSGAN, tmp_path, [f"networks.generator.init_from={{path='{dcgan_ckpt.as_posix()}'}}"])
    run = build_run(recipe, with_data=False)
    report = run.init_reports["generator"]
    source = Checkpoint(dcgan_ckpt).tensors("networks.generator.")
    assert sorted(report.matched) == sorted(source)
    assert report.missing == report.unexpected == report.mismatched == [] and report.fits
    assert report.step == 2
    for key, value in run.networks["generator"].state_dict().items():
        torch.testing.assert_close(value, source[key], rtol=0, atol=0)
    assert "discriminator" not in run.init_reports
    # the loaded generator computes what the trained one computes
    trained = load_for_sampling(dcgan_ckpt)
    torch.testing.assert_close(generate(run, 4, seed=1), generate(trained, 4, seed=1, use_ema=False))


def test_init_from_a_network_of_another_name_with_a_relative_path(tmp_path, dcgan_ckpt):
    shutil.copy(dcgan_ckpt, tmp_path / "pretrained.safetensors")

    def rename(raw):
        raw["networks"]["G"] = raw["networks"].pop("generator")
        raw["networks"]["G"]["init_from"] = {"path": "pretrained.safetensors", "network": "generator", "ema": True}
        raw["optimizers"]["G"] = raw["optimizers"].pop("generator")
        raw["schedule"]["generator"] = "G"

    recipe = _raw_recipe(LSGAN, tmp_path, rename, source=tmp_path / "finetune.toml")
    run = build_run(recipe, with_data=False)
    report = run.init_reports["G"]
    assert report.fits and "[ema.generator]" in report.source
    ema = Checkpoint(dcgan_ckpt).tensors("ema.generator.")
    for key, value in run.networks["G"].state_dict().items():
        torch.testing.assert_close(value, ema[key], rtol=0, atol=0)


def test_init_from_into_wgangp_shares_the_generator_not_the_critic(tmp_path, dcgan_ckpt):
    wgangp = ROOT / "recipes" / "wgangp_shapes.toml"
    if not wgangp.exists():
        pytest.skip("no wgangp_shapes recipe in this tree")
    path = dcgan_ckpt.as_posix()
    recipe = _recipe(wgangp, tmp_path, [f"networks.generator.init_from={{path='{path}'}}",
                                        f"networks.discriminator.init_from={{path='{path}'}}"])
    run = build_run(recipe, with_data=False)
    assert run.init_reports["generator"].fits
    d = run.init_reports["discriminator"]  # no BatchNorm in the critic: the layer indices after it shift
    assert "main.3.running_mean" in d.unexpected and not d.fits and d.matched


def test_partial_init_lists_shape_mismatches_and_strict_refuses(tmp_path, dcgan_ckpt):
    init = f"networks.generator.init_from={{path='{dcgan_ckpt.as_posix()}'}}"
    run = build_run(_recipe(LSGAN, tmp_path, [init, "networks.generator.ngf=4"]), with_data=False)
    report = run.init_reports["generator"]
    mismatched = {name: (src, dst) for name, src, dst in report.mismatched}
    assert mismatched["main.0.weight"] == ((100, 16, 4, 4), (100, 8, 4, 4))
    assert "main.6.weight" in mismatched and report.missing == [] and report.unexpected == []
    assert report.matched == ["main.1.num_batches_tracked", "main.4.num_batches_tracked"]
    strict = f"networks.generator.init_from={{path='{dcgan_ckpt.as_posix()}', strict=true}}"
    with pytest.raises(CheckpointError, match=r"strict loading failed: shape-mismatched 11: main\.0\.weight"):
        build_run(_recipe(LSGAN, tmp_path, [strict, "networks.generator.ngf=4"]), with_data=False)


def test_strict_names_missing_and_unexpected_tensors(tmp_path, dcgan_ckpt):
    # the critic of the DCGAN run into a BatchNorm-free critic: the BatchNorm tensors are unexpected
    init = f"networks.discriminator.init_from={{path='{dcgan_ckpt.as_posix()}', strict=true}}"
    with pytest.raises(CheckpointError) as exc:
        build_run(_recipe(LSGAN, tmp_path, [init, "networks.discriminator.batch_norm=false"]), with_data=False)
    msg = str(exc.value)
    assert "missing 1: main.4.weight" in msg and "unexpected 6: main.3.bias" in msg


def test_wrong_network_or_file_is_one_clear_error(tmp_path, dcgan_ckpt):
    path = dcgan_ckpt.as_posix()
    with pytest.raises(CheckpointError, match="has no network 'critic' \\(it has: generator, discriminator\\)"):
        build_run(_recipe(LSGAN, tmp_path, [f"networks.generator.init_from={{path='{path}', network='critic'}}"]),
                  with_data=False)
    with pytest.raises(CheckpointError, match="no tensor matches by name and shape"):
        build_run(_recipe(LSGAN, tmp_path,
                          [f"networks.discriminator.init_from={{path='{path}', network='generator'}}"]),
                  with_data=False)
    with pytest.raises(CheckpointError, match="no EMA copy of 'discriminator'"):
        build_run(_recipe(LSGAN, tmp_path, [f"networks.discriminator.init_from={{path='{path}', ema=true}}"]),
                  with_data=False)
    with pytest.raises(RecipeError) as exc:
        build_run(_recipe(LSGAN, tmp_path, ["networks.generator.init_from={path='nowhere.safetensors'}"]),
                  with_data=False)
    assert exc.value.key == "networks.generator.init_from.path"
    assert str(ROOT / "recipes" / "nowhere.safetensors") in str(exc.value)
    assert exc.value.file == str(LSGAN)


def test_resume_does_not_read_init_from_again(tmp_path, dcgan_ckpt):
    pretrained = tmp_path / "pretrained.safetensors"
    shutil.copy(dcgan_ckpt, pretrained)
    extra = [f"networks.generator.init_from={{path='{pretrained.as_posix()}'}}", "train.checkpoint_every=1"]
    first = run_recipe(_recipe(LSGAN, tmp_path, extra), max_steps=1, progress=False)
    pretrained.unlink()
    resumed = run_recipe(_recipe(LSGAN, tmp_path, extra), max_steps=2, progress=False,
                         resume=first.run_dir / "checkpoints" / "last.safetensors")
    assert resumed.run.state.step == 2 and resumed.run.init_reports == {}


def test_checkpoints_written_before_the_new_keys_still_resume(tmp_path):
    recipe = _recipe(DCGAN, tmp_path)
    first = run_recipe(recipe, max_steps=1, progress=False)
    path = first.run_dir / "checkpoints" / "last.safetensors"
    ck = Checkpoint(path)
    old = dict(ck.metadata)
    raw = json.loads(old["recipe"])
    for spec in raw["networks"].values():
        for key in ("init_from", "trainable", "freeze"):
            spec.pop(key)
    old["recipe"] = json.dumps(raw)
    save_file(load_file(path), path, metadata=old)
    assert run_recipe(recipe, resume=path, max_steps=2, progress=False).run.state.step == 2


# ---------------------------------------------------------------------- frozen layers
def test_a_non_trainable_network_keeps_its_weights(tmp_path):
    def frozen_generator(raw):
        raw["networks"]["generator"]["trainable"] = False
        del raw["optimizers"]["generator"]

    # reuse_fake = false: the discriminator phase freezes and unfreezes the generator every step
    recipe = _raw_recipe(DCGAN, tmp_path, frozen_generator, ["schedule.reuse_fake=false"])
    before = build_run(recipe, with_data=False)
    result = run_recipe(recipe, max_steps=3, progress=False)
    g, d = result.run.networks["generator"], result.run.networks["discriminator"]
    for name, value in _params(before.networks["generator"]).items():
        torch.testing.assert_close(dict(g.named_parameters())[name], value, rtol=0, atol=0)
    assert not any(p.requires_grad for p in g.parameters())
    assert "generator" not in result.run.optimizers
    assert any(not torch.equal(p, q) for p, q in zip(d.parameters(), before.networks["discriminator"].parameters()))


def test_freeze_prefixes_keep_those_layers_and_train_the_rest(tmp_path):
    recipe = _recipe(DCGAN, tmp_path, ['networks.generator.freeze=["main.0", "main.1"]', "schedule.reuse_fake=false"])
    before = _params(build_run(recipe, with_data=False).networks["generator"])
    run = run_recipe(recipe, max_steps=3, progress=False).run
    after = dict(run.networks["generator"].named_parameters())
    for name in ("main.0.weight", "main.1.weight", "main.1.bias"):
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0)
        assert not after[name].requires_grad                 # the engine's per-phase switch kept it frozen
    assert not torch.equal(after["main.3.weight"], before["main.3.weight"]) and after["main.3.weight"].requires_grad
    opt_params = [p for group in run.optimizers["generator"].param_groups for p in group["params"]]
    assert len(opt_params) == len(after) - 3


def test_grad_switch_restores_the_recipe_flags_not_true():
    nets = torch.nn.ModuleDict({"g": torch.nn.Linear(2, 2), "d": torch.nn.Linear(2, 2)})
    nets["g"].weight.requires_grad_(False)
    switch = _GradSwitch(nets)
    switch.set({"g"})
    assert not nets["g"].bias.requires_grad
    switch.set({"d"})
    assert nets["g"].bias.requires_grad and not nets["g"].weight.requires_grad
    switch.set(())
    assert not nets["g"].weight.requires_grad and nets["d"].weight.requires_grad


def test_frozen_layer_errors(tmp_path):
    with pytest.raises(RecipeError) as exc:
        _recipe(DCGAN, tmp_path, ["networks.generator.trainable=false"])
    assert exc.value.key == "optimizers.generator" and "trainable = false" in str(exc.value)
    with pytest.raises(RecipeError) as exc:
        build_run(_recipe(DCGAN, tmp_path, ['networks.generator.freeze=["main.00"]']), with_data=False)
    assert exc.value.key == "networks.generator.freeze[0]" and "'main.0'" in str(exc.value)
    with pytest.raises(RecipeError, match="freezes every parameter"):
        build_run(_recipe(DCGAN, tmp_path, ['networks.generator.freeze=["main"]']), with_data=False)


# -------------------------------------------------------------------- export and load
def test_export_and_load_generator_without_the_recipe(tmp_path, dcgan_ckpt):
    run_dir = tmp_path / "run"
    shutil.copytree(dcgan_ckpt.parent.parent, run_dir)
    ckpt = run_dir / "checkpoints" / "last.safetensors"
    reference = load_for_sampling(ckpt)
    expected = {ema: generate(reference, 6, seed=3, use_ema=ema) for ema in (False, True)}
    exports = {ema: export_network(ckpt, tmp_path / f"g_{ema}.safetensors", ema=ema)[0] for ema in (False, True)}
    half, _ = export_network(ckpt, tmp_path / "g_half.safetensors", ema=True, half=True)
    shutil.rmtree(run_dir)  # neither the run folder nor its recipe is needed any more
    for ema, path in exports.items():
        g = gancompose.load_generator(path)
        assert not g.training and g.gancompose.weights == ("ema" if ema else "trained")
        with torch.no_grad():
            out = g(g.gancompose.sample_latent(6, seed=3))
        torch.testing.assert_close(out, expected[ema], rtol=0, atol=0)
    g16 = load_generator(half)
    assert g16.gancompose.dtype == "float16" and next(g16.parameters()).dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(g16(g16.gancompose.sample_latent(6, seed=3)), expected[True], rtol=0, atol=2e-2)
    assert half.stat().st_size < exports[True].stat().st_size
    state = torch.get_rng_state()
    load_generator(exports[True])
    assert torch.equal(state, torch.get_rng_state())  # loading does not disturb the caller's random state


def test_load_generator_from_a_checkpoint_and_an_export_as_init_from(tmp_path, dcgan_ckpt):
    g = load_generator(dcgan_ckpt, ema=True)
    expected = generate(load_for_sampling(dcgan_ckpt), 4, seed=0)
    with torch.no_grad():
        torch.testing.assert_close(g(g.gancompose.sample_latent(4, seed=0)), expected)
    exported, _ = export_network(dcgan_ckpt, tmp_path / "g.safetensors", ema=True)
    run = build_run(_recipe(LSGAN, tmp_path, [f"networks.generator.init_from={{path='{exported.as_posix()}'}}"]),
                    with_data=False)
    assert run.init_reports["generator"].fits
    with pytest.raises(CheckpointError, match="network file"):
        load_for_sampling(exported)  # sampling a run needs a run checkpoint, and says what the file is


# -------------------------------------------------------------------- CycleGAN import
def _official(tmp_path, **kw):
    torch.manual_seed(0)
    net = OfficialResnetGenerator(**kw)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
        for name, b in net.named_buffers():
            if "running_var" in name:
                b.uniform_(0.5, 1.5)
            elif "running_mean" in name:
                b.normal_(0, 0.1)
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(net.state_dict(), path)
    return net.eval(), path


def test_cyclegan_reference_matches_the_official_parameter_count():
    net = OfficialResnetGenerator(3, 3, ngf=64, norm="instance", use_dropout=False, n_blocks=9)
    assert sum(p.numel() for p in net.parameters()) == 11_378_179
    sd = net.state_dict()
    assert {"model.1.weight", "model.10.conv_block.1.weight", "model.18.conv_block.5.bias", "model.26.weight"} <= set(sd)
    assert sorted(cyclegan.rename(sd, cyclegan.Config())) == sorted(ResnetGenerator().state_dict())


@pytest.mark.parametrize("kw", [dict(ngf=8, n_blocks=2), dict(ngf=4, n_blocks=3, norm="batch", use_dropout=True)])
def test_cyclegan_import_gives_the_official_outputs(tmp_path, kw):
    official, src = _official(tmp_path, **kw)
    result = cyclegan.import_cyclegan(src, tmp_path / "g.safetensors")
    assert result.config.ngf == kw["ngf"] and result.config.n_blocks == kw["n_blocks"]
    assert result.params == sum(p.numel() for p in official.parameters()) and result.max_abs_diff == 0.0
    ours = result.config.gancompose().eval()
    ours.load_state_dict({k.removeprefix("networks.generator."): v for k, v in load_file(result.path).items()})
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours(x), official(x), rtol=0, atol=0)
    report = inspect_file(result.path)
    assert report.kind == "network" and report.networks[0]["type"] == "resnet_generator"
    assert report.networks[0]["params"] == result.params and report.source["format"] == "cyclegan"
    # the cycle plugin's resnet_generator block takes the file as it is
    g = load_generator(result.path)
    with torch.no_grad():
        torch.testing.assert_close(g(x), official(x), rtol=0, atol=0)
    assert g.gancompose.input_shape == (3, 256, 256)
    # ... and gancompose translate uses it as it is
    from PIL import Image
    from click.testing import CliRunner
    from gancompose.cli import cli
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "in" / "x.jpg")
    res = CliRunner().invoke(cli, ["translate", str(result.path), "--input", str(tmp_path / "in"),
                                   "--output", str(tmp_path / "out"), "--size", "32"])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "out" / "x.png").size == (32, 32)


def test_cyclegan_import_drops_stale_instance_norm_statistics(tmp_path):
    _, src = _official(tmp_path, ngf=4, n_blocks=1)
    sd = torch.load(src, weights_only=True)
    sd["model.2.running_mean"], sd["model.2.running_var"] = torch.zeros(4), torch.ones(4)  # PyTorch < 0.4 files
    torch.save(sd, src)
    assert cyclegan.import_cyclegan(src, tmp_path / "g.safetensors").dropped == ["model.2.running_mean",
                                                                                 "model.2.running_var"]


class _NotATensor:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cyclegan_import_never_unpickles_objects(tmp_path, capsys):
    evil = tmp_path / "evil.pth"
    torch.save({"model.1.weight": torch.zeros(1), "x": _NotATensor()}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        cyclegan.import_cyclegan(evil, tmp_path / "g.safetensors")
    assert "this must never run" not in capsys.readouterr().out
    truncated = tmp_path / "truncated.pth"
    _, src = _official(tmp_path, ngf=4, n_blocks=1)
    truncated.write_bytes(src.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch file"):
        cyclegan.import_cyclegan(truncated, tmp_path / "g.safetensors")


# ------------------------------------------------------------------ damaged and foreign
def test_truncated_corrupted_and_newer_files(tmp_path, dcgan_ckpt):
    data = dcgan_ckpt.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[:-1000])
    corrupted = tmp_path / "corrupted.safetensors"
    corrupted.write_bytes(data[:8] + b"\x00garbage" + data[17:])
    for bad in (truncated, corrupted):
        for load in (Checkpoint, load_generator, load_for_sampling, inspect_file):
            with pytest.raises(CheckpointError, match="truncated or corrupted"):
                load(bad)
    tensors = load_file(dcgan_ckpt)
    meta = dict(Checkpoint(dcgan_ckpt).metadata)
    for fmt in ("gancompose.checkpoint/3", "gancompose.network/2"):
        newer = tmp_path / "newer.safetensors"
        save_file(tensors, newer, metadata={**meta, "format": fmt, "gancompose_version": "9.0"})
        for load in (Checkpoint, load_generator, inspect_file):
            with pytest.raises(CheckpointError, match="written by a newer gancompose .*gancompose 9.0"):
                load(newer)
    bad_recipe = tmp_path / "bad_recipe.safetensors"
    save_file(tensors, bad_recipe, metadata={**meta, "recipe": "{not json"})
    with pytest.raises(CheckpointError, match="recipe in its metadata is missing or corrupted"):
        load_for_sampling(bad_recipe)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a gancompose checkpoint"):
        load_generator(foreign)


# ------------------------------------------------------------------------------- CLI
def test_cli_inspect_export_import(tmp_path, dcgan_ckpt):
    result = _invoke("inspect", dcgan_ckpt, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["sha256"] == hashlib.sha256(dcgan_ckpt.read_bytes()).hexdigest()
    assert info["step"] == 2 and info["images_seen"] == 8 and info["recipe"]["name"] == "dcgan_shapes"
    nets = {n["name"]: n for n in info["networks"]}
    assert nets["generator"]["params"] == 28_080 and nets["generator"]["ema"]
    assert {"name": "networks.generator.main.0.weight", "shape": [100, 16, 4, 4], "dtype": "F32"} in info["tensors"]
    text = _invoke("inspect", dcgan_ckpt)
    assert text.exit_code == 0 and "networks.generator.main.0.weight" in text.output and "28,080" in text.output

    tiny = tiny_overrides(load_raw(LSGAN), tmp_path)
    sets = [a for o in tiny for a in ("--set", o)]
    fits = json.loads(_invoke("inspect", dcgan_ckpt, "--diff", LSGAN, *sets, "--json").output)
    assert fits["fits"] and fits["networks"]["generator"]["missing"] == []
    diff = _invoke("inspect", dcgan_ckpt, "--diff", LSGAN, *sets, "--set", "networks.generator.ngf=4")
    assert diff.exit_code == 0 and "shape-mismatched" in diff.output and "does not fit" in diff.output
    assert "main.0.weight (100, 16, 4, 4) -> (100, 8, 4, 4)" in diff.output

    out = tmp_path / "g.safetensors"
    exported = _invoke("export", dcgan_ckpt, "--network", "generator", "-o", out, "--ema", "--half")
    assert exported.exit_code == 0, exported.output
    assert load_generator(out).gancompose.dtype == "float16"
    one = diff_with_recipe(out, _recipe(LSGAN, tmp_path))  # a single-network file pairs with the generator
    assert list(one.reports) == ["generator"] and one.reports["generator"].fits

    _, src = _official(tmp_path, ngf=4, n_blocks=2)
    imported = _invoke("import", "cyclegan", src, "-o", tmp_path / "cg.safetensors")
    assert imported.exit_code == 0, imported.output
    assert "n_blocks=2" in imported.output and "resnet_generator" in imported.output
    shown = _invoke("inspect", tmp_path / "cg.safetensors")
    assert shown.exit_code == 0 and "resnet_generator" in shown.output and "blocks.1.conv2.weight" in shown.output

    newer = tmp_path / "newer.safetensors"
    save_file({"w": torch.zeros(1)}, newer, metadata={"format": "gancompose.checkpoint/3"})
    refused = _invoke("inspect", newer)
    assert refused.exit_code == 2 and "written by a newer gancompose" in refused.output
    assert "Traceback" not in refused.output
