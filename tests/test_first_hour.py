"""What a new user meets in the first hour (issue 24, items 2, 3 and 8): training on a folder of their own
images with no recipe to write, watching a run (latest grid, a speed that never reads 0 img/s, the same loss
names as metrics.jsonl, a metrics file even for a run stopped early), and the small messages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gancompose.callbacks.progress import _losses, rate
from gancompose.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TINY_FOLDER_RUN = ["--set", "networks.generator.channel_base=256", "--set", "networks.discriminator.channel_base=256",
                   "--set", "networks.generator.image_size=16", "--set", "networks.discriminator.image_size=16",
                   "--set", "data.image_size=16", "--set", "train.batch_size=4", "--set", "train.samples=4",
                   "--set", "train.sample_every=2", "--max-steps", "3", "--quiet", "--device", "cpu"]


def _images(folder: Path, n: int = 12) -> Path:
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n):  # any size and aspect ratio: resized and cropped by the recipe
        w, h = 40 + 7 * i, 30 + 5 * (i % 4)
        pixels = (torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"img_{i}.{'png' if i % 2 else 'jpg'}")
    return folder


def test_run_a_shipped_folder_recipe_on_your_own_images(tmp_path, monkeypatch):
    folder = _images(tmp_path / "my images")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["run", "stylegan2_ada_folder", "--data", str(folder), *TINY_FOLDER_RUN])
    assert res.exit_code == 0, res.output
    run_dir, = (tmp_path / "runs" / "stylegan2_ada_folder").iterdir()
    saved = (run_dir / "recipe.toml").read_text()
    assert str(folder) in saved  # the resolved recipe, editable and rerunnable
    assert (run_dir / "samples" / "latest.png").is_file()


def test_data_on_a_recipe_that_generates_its_data_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["run", "vanilla_gan_ring", "--data", str(tmp_path)])
    assert res.exit_code == 2 and "not read from one" in res.output and "stylegan2_ada_folder" in res.output
    res = CliRunner().invoke(cli, ["run", "stylegan2_ada_folder", "--data", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no such folder" in res.output


def test_a_run_stopped_before_its_first_interval_has_its_metrics_and_the_newest_grid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["run", "vanilla_gan_ring", "--max-steps", "3", "--quiet", "--set",
                                   "train.log_every=100", "--set", "train.sample_every=2"])
    assert res.exit_code == 0, res.output
    run_dir, = (tmp_path / "runs" / "vanilla_gan_ring").iterdir()
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [x for x in lines if "discriminator/adversarial" in x]  # (the recipe's metrics add their own line)
    assert [x["step"] for x in losses] == [3]
    latest = (run_dir / "samples" / "latest.png").read_bytes()
    newest = sorted((run_dir / "samples").glob("step_*.png"))[-1]
    assert latest == newest.read_bytes() and newest.name == "step_0000003.png"


@pytest.mark.parametrize("ips,text", [(12345.6, "12,346 img/s"), (3.21, "3.2 img/s"), (0.25, "4.0 s/img"),
                                      (0.001, "1000.0 s/img")])
def test_the_speed_never_reads_zero(ips, text):
    assert rate({"img_per_s": ips, "sec_per_step": 1.0}) == text


def test_console_loss_names_are_the_metrics_keys():
    record = {"step": 10, "img_per_s": 5.0, "discriminator/adversarial": 0.5, "generator/adversarial": 1.25,
              "discriminator/gradient_penalty": 0.125}
    shown = _losses(record)
    for key in ("discriminator/adversarial", "generator/adversarial", "discriminator/gradient_penalty"):
        assert key in shown


def test_export_ema_without_an_ema_copy_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["run", "vanilla_gan_ring", "--max-steps", "2", "--quiet"])
    assert res.exit_code == 0, res.output
    ckpt, = (tmp_path / "runs" / "vanilla_gan_ring").glob("*/checkpoints/last.safetensors")
    res = CliRunner().invoke(cli, ["export", str(ckpt), "-o", "g.safetensors", "--ema"])
    assert res.exit_code == 2 and "without --ema" in res.output and "set ema = false" not in res.output


def test_py_typed_ships():
    assert (ROOT / "gancompose" / "py.typed").is_file()
