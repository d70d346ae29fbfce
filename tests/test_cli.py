"""The ``gancompose`` command line, end to end, in-process through click's CliRunner.

Every command that could write files gets ``--output-dir``/``-o`` under ``tmp_path``.
User errors must exit 2 with one message naming the file and the TOML key path, never a traceback.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import ROOT
from gancompose.cli import cli
from gancompose.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent
RING = REPO / "recipes" / "vanilla_gan_ring.toml"
DIGITS = REPO / "recipes" / "vanilla_gan_digits.toml"
DCGAN = REPO / "recipes" / "dcgan_shapes.toml"


def invoke(*args):
    runner = CliRunner(env={"COLUMNS": "200"})  # wide tables: no folded names
    return runner.invoke(cli, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result


def run_dirs(output_dir: Path) -> list[Path]:
    return sorted(p.parent for p in output_dir.glob("*/*/recipe.toml"))


def user_error(result) -> str:
    """Assert a clean user error (exit 2, no traceback, one ``error:`` line) and return its text."""
    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught crash
    out = result.output
    assert "Traceback" not in out
    assert out.count("error:") == 1, out
    return " ".join(out.split())  # undo any wrapping


# ------------------------------------------------------------------------------ list-components
def test_list_components_table():
    res = ok(invoke("list-components"))
    out = res.stdout
    header = next(line for line in out.splitlines() if "kind" in line and "name" in line)
    assert [c for c in ("kind", "name", "plugin", "doc") if c in header] == ["kind", "name", "plugin", "doc"]
    assert header.index("kind") < header.index("name") < header.index("plugin") < header.index("doc")
    rows = {tuple(c.strip() for c in line.strip("│┃ ").split("│"))[:3] for line in out.splitlines() if "│" in line}
    assert ("block", "dcgan_generator", "dcgan") in rows
    assert ("loss", "bce", "objectives") in rows
    assert ("optimizer", "adam", "core") in rows
    assert ("dataset", "shapes", "data") in rows
    # the doc column is the factory's first docstring line
    assert any("Binary cross-entropy" in line and "bce" in line for line in out.splitlines())


def test_list_components_kind_json():
    res = ok(invoke("list-components", "--kind", "loss", "--json"))
    data = json.loads(res.stdout)
    comps = data["components"]
    assert comps and {c["kind"] for c in comps} == {"loss"}
    names = {c["name"] for c in comps}
    assert {"bce", "least_squares"} <= names
    bce = next(c for c in comps if c["name"] == "bce")
    assert bce["plugin"] == "objectives" and bce["doc"]
    assert bce["params"]["type"] == "object"
    assert {"saturating", "label_smoothing"} <= set(bce["params"]["properties"])
    assert data["failures"] == []


def test_list_components_rejects_unknown_kind():
    res = invoke("list-components", "--kind", "nosuchkind")
    assert res.exit_code == 2 and "Traceback" not in res.output


# ------------------------------------------------------------------------------ validate, explain
def test_validate_dcgan_reports_parameter_counts():
    res = ok(invoke("validate", DCGAN))
    out = " ".join(res.output.split())
    assert "ok" in out and "dcgan_shapes.toml" in out
    assert "generator (3,576,704 params)" in out
    assert "discriminator (2,765,568 params)" in out


def test_validate_applies_overrides():
    res = ok(invoke("validate", DCGAN, "--set", "networks.generator.ngf=8", "--set", "networks.discriminator.ndf=8"))
    out = " ".join(res.output.split())
    assert "3,576,704" not in out and "2,765,568" not in out


def test_explain_dcgan_layers_totals_and_schedule():
    res = ok(invoke("explain", DCGAN))
    out = res.stdout
    assert "ConvTranspose2d" in out and "Conv2d" in out
    assert "(512, 4, 4)" in out and "(3, 64, 64)" in out  # output shapes per layer
    totals = [line for line in out.splitlines() if line.strip("│ ").startswith("total")]
    assert len(totals) == 2
    assert "3,576,704" in totals[0] and "(3, 64, 64)" in totals[0]
    assert "2,765,568" in totals[1]
    assert "alternating" in out
    phases = [line for line in out.splitlines() if re.match(r"^│ (discriminator|generator) +│ \d", line)]
    assert [p.split("│")[1].strip() for p in phases] == ["discriminator", "generator"]
    assert "adversarial" in phases[0] and "adversarial" in phases[1]


# ------------------------------------------------------------------------------ run, resume, sample
RUN_ARGS = ("--set", "train.log_every=1", "--quiet", "--device", "cpu", "--seed", "1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The ring recipe trained 3 steps; returns (output_dir, run_dir, CliRunner result)."""
    out = tmp_path_factory.mktemp("runs")
    res = ok(invoke("run", RING, "--max-steps", 3, *RUN_ARGS, "--output-dir", out))
    dirs = run_dirs(out)
    assert len(dirs) == 1
    return out, dirs[0], res


def test_run_writes_run_folder(trained):
    out, run_dir, res = trained
    assert run_dir.parent.name == "vanilla_gan_ring"
    assert "done at step 3" in res.stderr
    # the resolved recipe, re-loadable and equal to what the command line asked for
    saved = load_recipe(run_dir / "recipe.toml")
    expected = load_recipe(RING, ["train.log_every=1", 'train.device="cpu"', "train.seed=1",
                                  f"train.output_dir={json.dumps(str(out))}"])
    assert saved.train.seed == 1
    assert saved.model_dump() == expected.model_dump()
    # metrics: one training line per step (evaluation lines of [[metrics]] may come in between)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(isinstance(r["step"], int) for r in records)
    records = [r for r in records if "img_per_s" in r]
    assert len(records) == 3
    assert [r["step"] for r in records] == [1, 2, 3]
    for r in records:
        assert r["img_per_s"] > 0
        losses = {k: v for k, v in r.items() if k.startswith(("discriminator/", "generator/"))}
        assert {k.split("/")[0] for k in losses} == {"discriminator", "generator"}, r
        assert all(isinstance(v, float) and v == v for v in losses.values())
    pngs = list((run_dir / "samples").glob("*.png"))
    assert pngs
    with Image.open(pngs[0]) as im:
        assert im.format == "PNG" and min(im.size) >= 32
    assert (run_dir / "checkpoints" / "last.safetensors").stat().st_size > 0


def test_run_resume_continues_same_folder(trained, tmp_path):
    out0, run0, _ = trained
    out = tmp_path / "runs"
    shutil.copytree(out0, out)
    run_dir = out / run0.relative_to(out0)
    res = ok(invoke("run", RING, "--max-steps", 5, *RUN_ARGS, "--output-dir", out,
                    "--resume", run_dir / "checkpoints" / "last.safetensors"))
    assert run_dirs(out) == [run_dir]  # no new run folder
    assert "done at step 5" in res.stderr
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "img_per_s" in r] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in records] == sorted(r["step"] for r in records)
    assert (run_dir / "checkpoints" / "step_0000005.safetensors").exists()
    assert (run_dir / "checkpoints" / "step_0000003.safetensors").exists()


def test_resume_with_other_networks_is_refused(trained, tmp_path):
    _, run_dir, _ = trained
    res = invoke("run", RING, "--max-steps", 5, *RUN_ARGS, "--output-dir", tmp_path,
                 "--set", "networks.generator.hidden=[64]", "--resume", run_dir / "checkpoints" / "last.safetensors")
    msg = user_error(res)
    assert "other networks" in msg
    assert not run_dirs(tmp_path)


def test_sample_ring_checkpoint(trained, tmp_path):
    _, run_dir, _ = trained
    png = tmp_path / "grid.png"
    res = ok(invoke("sample", run_dir / "checkpoints" / "last.safetensors", "-n", 16, "-o", png))
    assert "16 samples" in res.stderr
    with Image.open(png) as im:
        assert im.format == "PNG"
        assert 64 <= im.size[0] <= 4096 and 64 <= im.size[1] <= 4096


def test_sample_digits_grid_size(tmp_path):
    out = tmp_path / "runs"
    ok(invoke("run", DIGITS, "--max-steps", 1, "--set", "train.batch_size=4", "--set", "train.samples=4",
              "--set", "data.size=64", "--quiet", "--device", "cpu", "--output-dir", out))
    (run_dir,) = run_dirs(out)
    png = tmp_path / "grid.png"
    ok(invoke("sample", run_dir / "checkpoints" / "last.safetensors", "-n", 16, "-o", png))
    with Image.open(png) as im:
        # 4 x 4 images of 28 x 28 with 2-pixel padding: 4 * 30 + 2
        assert im.size == (122, 122)


def test_sample_missing_checkpoint(tmp_path):
    msg = user_error(invoke("sample", tmp_path / "nope.safetensors", "-o", tmp_path / "x.png"))
    assert "nope.safetensors" in msg
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------------ error paths
def _validate(recipe, *sets):
    args = ["validate", recipe]
    for s in sets:
        args += ["--set", s]
    return invoke(*args)


def test_error_unknown_component_name():
    msg = user_error(_validate(RING, "loss.type=bcee"))
    assert "vanilla_gan_ring.toml" in msg
    assert "loss.type" in msg
    assert "did you mean 'bce'" in msg


def test_error_unknown_component_name_in_run(tmp_path):
    msg = user_error(invoke("run", RING, "--set", "loss.type=bcee", "--max-steps", 1, "--output-dir", tmp_path))
    assert "vanilla_gan_ring.toml" in msg and "loss.type" in msg and "did you mean 'bce'" in msg
    assert not any(tmp_path.iterdir())  # nothing written


def test_error_unknown_key():
    msg = user_error(_validate(RING, "train.batch_sizee=3"))
    assert "vanilla_gan_ring.toml" in msg
    assert "train.batch_sizee" in msg
    assert "did you mean 'batch_size'" in msg


def test_error_wrong_type():
    msg = user_error(_validate(RING, "train.batch_size=abc"))
    assert "vanilla_gan_ring.toml" in msg
    assert "train.batch_size" in msg and "abc" in msg


def test_error_not_toml(tmp_path):
    bad = tmp_path / "garbage.toml"
    bad.write_text("this is = = not toml [[\n")
    msg = user_error(_validate(bad))
    assert "garbage.toml" in msg and "not valid TOML" in msg


def test_error_missing_file(tmp_path):
    msg = user_error(_validate(tmp_path / "nosuch.toml"))
    assert "nosuch.toml" in msg and "not found" in msg


def _digits_variant(tmp_path: Path, old: str, new: str, name: str = "variant.toml") -> Path:
    src = DIGITS.read_text()
    assert old in src
    path = tmp_path / name
    path.write_text(src.replace(old, new, 1))
    return path


def test_error_impossible_reshape(tmp_path):
    recipe = _digits_variant(tmp_path, "shape = [1, 28, 28]", "shape = [1, 27, 27]", "reshape.toml")
    msg = user_error(_validate(recipe))
    assert "reshape.toml" in msg
    assert "networks.generator.layers[6]" in msg
    assert "729" in msg and "784" in msg


def test_run_with_impossible_shapes_writes_nothing(tmp_path):
    recipe = _digits_variant(tmp_path, "shape = [1, 28, 28]", "shape = [1, 27, 27]", "reshape.toml")
    out = tmp_path / "runs"
    msg = user_error(invoke("run", recipe, "--max-steps", 1, "--set", "data.size=64", "--output-dir", out))
    assert "reshape.toml" in msg and "networks.generator.layers[6]" in msg
    assert not out.exists() or not any(out.rglob("*"))


def test_error_explicit_wrong_in_features(tmp_path):
    recipe = _digits_variant(tmp_path, '{ type = "flatten" },\n    { type = "linear", out_features = 256 },',
                             '{ type = "flatten" },\n    { type = "linear", out_features = 256, in_features = 100 },',
                             "in_features.toml")
    msg = user_error(_validate(recipe))
    assert "in_features.toml" in msg
    assert "networks.discriminator.layers[1].in_features" in msg
    assert "784" in msg


def test_error_layer_that_cannot_take_previous_shape(tmp_path):
    # a conv2d straight after the flat latent: the layer itself refuses the shape
    recipe = _digits_variant(tmp_path, '{ type = "linear", out_features = 256 },\n    { type = "relu" },',
                             '{ type = "conv2d", out_channels = 4 },\n    { type = "relu" },', "conv.toml")
    msg = user_error(_validate(recipe))
    assert "conv.toml" in msg
    assert "networks.generator.layers[0]" in msg


def test_error_shape_found_by_dry_forward(tmp_path):
    # the layer builds, but its forward pass fails: a 9x9 kernel on 8x8 images
    recipe = _digits_variant(tmp_path, '{ type = "linear", out_features = 256 },\n    { type = "relu" },',
                             '{ type = "linear", out_features = 256 },\n    { type = "reshape", shape = [4, 8, 8] },\n'
                             '    { type = "conv2d", out_channels = 4, kernel_size = 9 },', "kernel.toml")
    msg = user_error(_validate(recipe))
    assert "kernel.toml" in msg
    assert "networks.generator.layers[2]" in msg
    assert "(4, 8, 8)" in msg


def test_error_unknown_layer_type(tmp_path):
    recipe = _digits_variant(tmp_path, '{ type = "linear", out_features = 256 },\n    { type = "relu" },',
                             '{ type = "lineer", out_features = 256 },\n    { type = "relu" },', "layer.toml")
    msg = user_error(_validate(recipe))
    assert "layer.toml" in msg
    assert "networks.generator.layers[0].type" in msg
    assert "did you mean 'linear'" in msg


def test_error_resume_missing_checkpoint(tmp_path):
    missing = tmp_path / "gone" / "last.safetensors"
    msg = user_error(invoke("run", RING, "--max-steps", 1, "--output-dir", tmp_path / "runs", "--resume", missing))
    assert "last.safetensors" in msg
    assert not (tmp_path / "runs").exists() or not run_dirs(tmp_path / "runs")


def test_error_data_download_unknown(tmp_path):
    msg = user_error(invoke("data", "download", "nosuch", "--root", tmp_path))
    assert "nosuch" in msg
    assert "mnist" in msg  # names what exists
    assert not any(tmp_path.iterdir())


def test_error_is_clean_in_a_real_process():
    """Outside CliRunner too: exit status 2, the message on stderr, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "gancompose.cli", "validate", str(RING), "--set", "loss.type=bcee"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "loss.type" in proc.stderr and "did you mean 'bce'" in proc.stderr


# ------------------------------------------------------------------------------ --set parsing
def test_set_values_are_toml(tmp_path):
    out = tmp_path / "runs"
    ok(invoke("run", RING, "--max-steps", 1, "--quiet", "--device", "cpu", "--output-dir", out,
              "--set", 'train.ema={network="generator",decay=0.9}',
              "--set", "optimizers.generator.betas=[0.0, 0.9]", "--set", "train.batch_size=8",
              "--set", "data.size=64"))
    (run_dir,) = run_dirs(out)
    saved = load_recipe(run_dir / "recipe.toml")
    assert saved.train.ema is not None
    assert saved.train.ema.network == "generator" and saved.train.ema.decay == 0.9
    assert tuple(saved.optimizers["generator"].betas) == (0.0, 0.9)
    assert saved.train.batch_size == 8 and isinstance(saved.train.batch_size, int)


def test_set_without_equals_is_a_clear_error():
    msg = user_error(_validate(RING, "train.batch_size"))
    assert "--set" in msg and "KEY=VALUE" in msg and "train.batch_size" in msg


def test_set_bad_key_path_is_a_clear_error():
    msg = user_error(_validate(RING, "train..batch_size=3"))
    assert "train..batch_size" in msg


# ------------------------------------------------------------------------------ schema, version
def test_schema_lists_components():
    res = ok(invoke("schema"))
    schema = json.loads(res.stdout)
    assert schema.get("title") == "gancompose recipe"
    text = res.stdout
    for name in ("dcgan_generator", "dcgan_discriminator", "mlp", "sequential", "bce", "least_squares", "adam",
                 "alternating", "shapes", "gaussian_mixture", "linear", "conv2d"):
        assert f'"{name}"' in text, name
    assert {"networks", "loss", "optimizers", "schedule", "data", "train"} <= set(schema["properties"])


def test_version():
    res = ok(invoke("--version"))
    assert "gancompose" in res.output


@pytest.mark.parametrize("value", ["[b]x", "[/x]"])
def test_error_text_that_looks_like_markup_is_printed_verbatim(value):
    msg = user_error(_validate(RING, f'train.batch_size="{value}"'))
    assert "train.batch_size" in msg and value in msg


# ------------------------------------------------------------------------------------- performance
def test_run_reports_the_performance_line_and_a_compile_fallback_once(tmp_path):
    """What a user sees with compile on: the resolved settings; with a gradient penalty no fallback (its call
    runs eager, the rest compiled); with a backend that fails, one line per network that goes back to eager."""
    import torch._dynamo

    res = ok(invoke("run", REPO / "recipes" / "wgangp_ring.toml", "--max-steps", "3", "--device", "cpu",
                    "--output-dir", tmp_path / "gp", "--set", "metrics=[]", "--set", "performance.compile=true",
                    "--set", 'performance.compile_backend="aot_eager"'))
    out = " ".join(res.output.split())
    assert "performance: cpu: fp32, compiled (aot_eager)" in out and "done at step 3" in out
    assert "runs eager" not in out

    @torch._dynamo.register_backend(name="gancompose_cli_broken")
    def broken(gm, example_inputs):
        raise RuntimeError("this backend cannot compile anything")

    res = ok(invoke("run", REPO / "recipes" / "wgangp_ring.toml", "--max-steps", "3", "--device", "cpu",
                    "--output-dir", tmp_path / "broken", "--set", "metrics=[]", "--set", "performance.compile=true",
                    "--set", 'performance.compile_backend="gancompose_cli_broken"'))
    out = " ".join(res.output.split())
    assert out.count("torch.compile: discriminator runs eager from now on") == 1
    assert out.count("torch.compile: generator runs eager from now on") == 1
    assert "BackendCompilerFailed" in out and "done at step 3" in out


def _python(code: str) -> None:
    """Run ``code`` in a fresh interpreter (what it imports is its own); its asserts must hold."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("recipe", ["vanilla_gan_ring", "stylegan2_shapes", "progan_shapes", "sngan_shapes"])
def test_validate_does_not_import_dynamo_and_leaves_torch_as_it_was(recipe):
    """validate and explain build a recipe without importing torch._dynamo (about a second of CPU, most of what
    validate cost beyond importing torch: bench/cli_startup.py): neither for the optimizers nor for the meta-device
    size check of StyleGAN's filters, ProGAN's equalized layers or spectral norm. Torch is as it was after: the
    stand-in is gone, no function keeps it, and an optimizer built for training imports dynamo as torch means."""
    _python(f"""
        import sys
        from gancompose.commands.check import build_for_inspection
        build_for_inspection({recipe!r}, ())
        assert 'torch._dynamo' not in sys.modules, 'validate imported dynamo'
        import torch
        assert '_dynamo' not in vars(torch)
        fn = torch.optim.Optimizer.add_param_group.__wrapped__
        assert '__dynamo_disable' not in vars(fn)
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
        assert type(sys.modules['torch._dynamo']).__name__ == 'module'
        assert vars(fn)['__dynamo_disable'] is not fn  # dynamo's own disable
        """)


def test_the_dynamo_stand_in_hands_anything_but_disable_to_the_real_module():
    """Code that asks torch._dynamo for more than disable() while a recipe is inspected gets the real module."""
    _python("""
        import sys
        from gancompose.commands.check import without_dynamo
        import torch
        with without_dynamo():
            import torch._dynamo
            assert torch._dynamo.disable(len) is len
            config = torch._dynamo.config  # anything else: the real module
            assert type(sys.modules['torch._dynamo']).__name__ == 'module'
        assert sys.modules['torch._dynamo'].config is config and torch._dynamo is sys.modules['torch._dynamo']
        """)
