"""TensorBoard logging: a tiny run with train.tensorboard (or --tensorboard), its event files read back with
tensorboard's EventAccumulator and compared with metrics.jsonl and the sample PNGs; a clear error naming the
extra when tensorboard is not installed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorboard", reason="the tensorboard extra (in dev) is not installed")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from gancompose.errors import RecipeError  # noqa: E402
from gancompose.recipe import load_recipe  # noqa: E402
from gancompose.runner import run_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RING = ROOT / "recipes" / "vanilla_gan_ring.toml"


def _tiny(tmp_path: Path, *extra: str) -> list[str]:
    return [f'train.output_dir="{tmp_path.as_posix()}"', "train.steps=6", "train.batch_size=16", "train.log_every=2",
            "train.sample_every=3", "train.checkpoint_every=0", "train.samples=32", 'train.device="cpu"',
            "data.size=64", "metrics[0].every=3", "metrics[0].samples=64", "metrics[0].plot=false", *extra]


def _events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_event_files_hold_losses_lrs_metrics_and_grids(tmp_path):
    recipe = load_recipe(RING, _tiny(tmp_path, "train.tensorboard=true",
                                     "optimizers.generator.lr_schedule={type='step_decay', every=2, gamma=0.5}"))
    result = run_recipe(recipe, progress=False)
    acc = _events(result.run_dir)
    tags = set(acc.Tags()["scalars"])
    assert {"loss/discriminator/adversarial", "loss/generator/adversarial", "speed/img_per_s", "lr/generator",
            "lr/discriminator", "metrics/mode_coverage/modes", "metrics/mode_coverage/high_quality",
            "metrics/mode_coverage/reverse_kl"} <= tags

    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [line for line in lines if "generator/adversarial" in line]
    evaluated = [line for line in lines if "mode_coverage/modes" in line]
    for key in ("discriminator/adversarial", "generator/adversarial"):
        events = acc.Scalars(f"loss/{key}")
        assert [e.step for e in events] == [2, 4, 6] == [line["step"] for line in logged]
        assert [e.value for e in events] == pytest.approx([line[key] for line in logged], rel=1e-6)
    metric = acc.Scalars("metrics/mode_coverage/modes")
    assert [e.step for e in metric] == [3, 6] == [line["step"] for line in evaluated]
    assert [e.value for e in metric] == [line["mode_coverage/modes"] for line in evaluated]

    # the generator's rate halves every 2 steps (the rate of the last step of each interval); D's is constant
    assert [e.value for e in acc.Scalars("lr/generator")] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert [e.value for e in acc.Scalars("lr/discriminator")] == pytest.approx([1e-3] * 3)

    images = acc.Images("samples")
    assert [e.step for e in images] == [3, 6]
    from PIL import Image
    with Image.open(result.run_dir / "samples" / "step_0000006.png") as png:
        assert (images[-1].width, images[-1].height) == png.size


def test_off_by_default_and_on_from_the_command_line(tmp_path):
    from click.testing import CliRunner
    from gancompose.cli import cli
    recipe = load_recipe(RING, _tiny(tmp_path / "off"))
    assert recipe.train.tensorboard is False
    assert not (run_recipe(recipe, progress=False).run_dir / "tensorboard").exists()
    args = [str(RING), "--tensorboard", "--quiet", *[a for s in _tiny(tmp_path / "on") for a in ("--set", s)]]
    out = CliRunner().invoke(cli, ["run", *args])
    assert out.exit_code == 0, out.output
    run_dir = next((tmp_path / "on" / "vanilla_gan_ring").iterdir())
    assert [e.step for e in _events(run_dir).Scalars("loss/generator/adversarial")] == [2, 4, 6]


def test_missing_tensorboard_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # "import" now raises ImportError
    recipe = load_recipe(RING, _tiny(tmp_path, "train.tensorboard=true"))
    with pytest.raises(RecipeError) as info:
        run_recipe(recipe, progress=False)
    assert info.value.key == "train.tensorboard"
    assert 'pip install "gancompose[tensorboard]"' in str(info.value)
    assert not any(tmp_path.iterdir())  # failed before building anything or making a run folder


def test_resumed_run_replaces_the_events_after_its_checkpoint(tmp_path):
    recipe = load_recipe(RING, _tiny(tmp_path, "train.tensorboard=true", "train.checkpoint_every=3"))
    first = run_recipe(recipe, progress=False)
    before = {e.step: e.value for e in _events(first.run_dir).Scalars("loss/generator/adversarial")}
    again = run_recipe(recipe, resume=first.run_dir / "checkpoints" / "step_0000003.safetensors", progress=False)
    assert again.run_dir == first.run_dir
    events = _events(first.run_dir).Scalars("loss/generator/adversarial")
    assert [e.step for e in events] == [2, 4, 6]  # steps 4 and 6 written once more, not twice
    assert events[0].value == before[2]
