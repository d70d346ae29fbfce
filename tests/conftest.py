"""Shared fixtures: tiny overrides that make any recipe train in a fraction of a second on the CPU."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
#: development tooling beside the docs (docgen.py, the mkdocs hook; matrix.py, the composition matrix's cells)
sys.path.insert(0, str(ROOT / "docs" / "hooks"))
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))

torch.set_num_threads(min(2, torch.get_num_threads()))

#: inductor compiles C++ on the CPU
needs_cpp_compiler = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                        reason="inductor on the CPU needs a C++ compiler")

#: the long soak of the fuzzing and kill loops (also marked ``soak``, which the default run leaves out)
soak = pytest.mark.skipif(not os.environ.get("GANCOMPOSE_SOAK"), reason="long soak: GANCOMPOSE_SOAK=1 pytest -m soak")


#: recipes on real data (absent here: no downloads) train in the tests on embedded data of the same shape
EMBEDDED_STAND_INS = {
    "mnist": lambda d: "data={type='digits'}",
    "cifar10": lambda d: "data={type='shapes', image_size=32}",
    "image_folder": lambda d: (f"data={{type='shapes', image_size={d.get('image_size', 64)}, "
                               f"channels={d.get('channels', 3)}}}"),
    "monet2photo": lambda d: "data={type='unpaired_shapes', image_size=32}",
    "unpaired_folders": lambda d: "data={type='unpaired_shapes', image_size=32}",
    "facades": lambda d: "data={type='paired_shapes', image_size=32}",
    "paired_folders": lambda d: "data={type='paired_shapes', image_size=32}",
}


def tiny_overrides(raw: dict, tmp_path: Path) -> list[str]:
    """Overrides that shrink a recipe (image size, widths, batch, data size) without changing its kind."""
    out = [f'train.output_dir="{tmp_path.as_posix()}"', "train.batch_size=4", "train.log_every=1",
           "train.sample_every=0", "train.checkpoint_every=0", "train.samples=4", 'train.device="cpu"']
    data = raw.get("data", {})
    if data.get("type") in EMBEDDED_STAND_INS:
        out.append(EMBEDDED_STAND_INS[data["type"]](data))
        data = {"type": "shapes", "image_size": data.get("image_size", 64)} if data["type"] != "mnist" else {
            "type": "digits"}
        if raw["data"]["type"] in ("monet2photo", "unpaired_folders"):
            data = {"type": "unpaired_shapes", "image_size": 32}
        if raw["data"]["type"] in ("facades", "paired_folders"):
            data = {"type": "paired_shapes", "image_size": 32, "size": 2000}
    if "image_size" in data:
        out.append("data.image_size=16")
    if "size" in data or data.get("type") in ("shapes", "digits", "gaussian_mixture", "unpaired_shapes"):
        out.append("data.size=64")
    stand_in_classes = {"shapes": 6, "digits": 10}.get(data.get("type"))
    for name, net in raw.get("networks", {}).items():
        if net.get("num_classes") and stand_in_classes and stand_in_classes != net["num_classes"]:
            out.append(f"networks.{name}.num_classes={stand_in_classes}")  # a block's classes are the data's
        for key, value in (("image_size", 16), ("ngf", 8), ("ndf", 8), ("ch", 16), ("channel_base", 256)):
            if key in net:
                out.append(f"networks.{name}.{key}={value}")
        if net.get("type") in ("patchgan_discriminator", "paired_patchgan") and net.get("n_layers", 3) > 2:
            out.append(f"networks.{name}.n_layers=2")  # 16 px images are too small for three stride-2 layers
    for i, metric in enumerate(raw.get("metrics", [])):
        if metric.get("type") in ("class_accuracy", "translation"):  # classifiers trained for a few steps only
            out.append(f"metrics[{i}].classifier_steps=20")
    return out


def invoke(*args):
    """``gancompose ARGS`` in-process (click's runner), wide enough that messages are not wrapped."""
    from click.testing import CliRunner
    from gancompose.cli import cli
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args])


def refusal(result) -> str:
    """The output of a command that refused the user's input as the CLI promises: exit 2, one ``error:`` line, no
    traceback."""
    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    return result.output


def clean_exit(result) -> None:
    """A run or one clear message: never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}\n{result.output}")
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "error: " in result.output and "Traceback" not in result.output, result.output


def tiny_ring_raw(out: Path) -> dict:
    """The ring recipe as a dict, tiny: small MLPs, 64 samples, batch 4, no metrics."""
    from gancompose.recipe import load_raw
    raw = load_raw(ROOT / "recipes" / "vanilla_gan_ring.toml")
    raw["networks"]["generator"]["hidden"] = [16, 16]
    raw["networks"]["discriminator"]["hidden"] = [16, 16]
    raw["data"]["size"] = 64
    raw["train"].update(batch_size=4, log_every=1, sample_every=0, checkpoint_every=0, samples=4, device="cpu",
                        output_dir=out.as_posix(), steps=20)
    raw.pop("metrics", None)
    return raw


def write_recipe(raw: dict, folder: Path) -> Path | None:
    """``raw`` written as FOLDER/recipe.toml; None where TOML cannot hold it (the writer refuses)."""
    import tomli_w
    try:
        text = tomli_w.dumps(raw)
    except (TypeError, ValueError):
        return None  # not representable in TOML (the writer refuses): nothing to test
    path = folder / "recipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def all_finite(path) -> bool:
    """Whether every floating-point network tensor of the checkpoint at ``path`` is finite."""
    from gancompose.checkpoint import Checkpoint
    return all(torch.isfinite(t).all() for k, t in Checkpoint(path).tensors("networks.").items()
               if t.is_floating_point())


def installed(distribution: str) -> bool:
    """Whether a distribution is installed, asked through importlib.metadata (importlib's find_spec("pip") would
    make setuptools' distutils hack step aside for the rest of the process)."""
    import importlib.metadata
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def subprocess_env(site: Path | None = None) -> dict[str, str]:
    """The environment for a gancompose subprocess: one thread, and ``site`` (a --target install) alone on
    PYTHONPATH."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


@pytest.fixture
def recipes_dir() -> Path:
    return ROOT / "recipes"


#: The slow tier (``pytest -m slow``; .ci/run runs it after the fast tier): training to a quality bar, torchrun
#: process groups, inductor compiles, wheel and package builds, reference-package comparisons on Inception.
#: Chosen from measured durations (``pytest --durations=120``: each over ~8 s on 2 cores); a node id prefix here
#: that matches no collected test is an error, so the list cannot go stale silently.
SLOW = (
    "tests/test_distributed.py::",  # torchrun: two processes per test
    "tests/test_fid_reference.py::",  # pytorch-fid / torch-fidelity on Inception at 299 px, scipy's sqrtm
    "tests/test_performance.py::test_a_spectrally_normalized_critic_stays_compiled_under_inductor",
    "tests/test_performance.py::test_compiled_networks_trace_without_graph_breaks",
    "tests/test_performance.py::test_a_compiled_progressive_generator_fades_in_without_recompiling_each_step",
    "tests/test_performance.py::test_path_length_runs_its_generator_call_eager_and_the_generator_stays_compiled",
    "tests/test_spectral_norm.py::test_a_critic_compiled_with_inductor_trains_like_eager",
    "tests/test_engine.py::test_vanilla_gan_learns_the_ring",  # training to a quality bar
    "tests/test_conditional.py::test_class_accuracy_metric_separates_conditioned_from_ignored_labels",
    "tests/test_resume.py::test_dcgan_100_plus_100_equals_200",
    "tests/test_interrupts.py::test_sigkill_at_random_points",  # 3 SIGKILLs of a subprocess, resumed
    "tests/test_packaging.py::test_the_wheel_runs_the_readme_commands_in_an_empty_folder",  # builds a wheel
    "tests/test_example_plugin.py::test_its_own_tests_pass",  # a pytest run of the example package
    "tests/test_bench.py::test_speed_builds_every_side_counts_flops_and_writes_json_and_markdown",
    "tests/test_compare.py::test_sigterm_marks_the_run_interrupted_and_the_next_sweep_finishes_only_it",  # 2 sweeps
    "tests/test_compare.py::test_the_ray_executor_on_a_local_ray_instance",  # starts a Ray instance
    "tests/test_compare.py::test_a_sweep_on_ray",
    # the official StyleGAN2-ADA code at full size (skipped, saying so, without GANCOMPOSE_STYLEGAN2_ADA_CODE)
    "tests/test_stylegan2_import.py::test_the_official_configurations_at_full_size_import_exactly",
)


def pytest_collection_modifyitems(config, items):
    used = set()
    for item in items:
        for prefix in SLOW:
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.slow)
                used.add(prefix)
    selected_files = {item.nodeid.split("::")[0] for item in items}
    stale = [p for p in SLOW if p not in used and p.split("::")[0] in selected_files]
    if stale:
        raise pytest.UsageError(f"tests/conftest.py SLOW names tests that do not exist: {stale}")
