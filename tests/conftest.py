"""Shared fixtures: tiny overrides that make any recipe train in a fraction of a second on the CPU."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))

torch.set_num_threads(min(2, torch.get_num_threads()))

#: inductor compiles C++ on the CPU
needs_cpp_compiler = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                        reason="inductor on the CPU needs a C++ compiler")


#: recipes on real data (absent here: no downloads) train in the tests on embedded data of the same shape
EMBEDDED_STAND_INS = {
    "mnist": lambda d: "data={type='digits'}",
    "cifar10": lambda d: "data={type='shapes', image_size=32}",
    "image_folder": lambda d: (f"data={{type='shapes', image_size={d.get('image_size', 64)}, "
                               f"channels={d.get('channels', 3)}}}"),
    "monet2photo": lambda d: "data={type='unpaired_shapes', image_size=32}",
    "unpaired_folders": lambda d: "data={type='unpaired_shapes', image_size=32}",
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
        if net.get("type") == "patchgan_discriminator" and net.get("n_layers", 3) > 2:
            out.append(f"networks.{name}.n_layers=2")  # 16 px images are too small for three stride-2 layers
    for i, metric in enumerate(raw.get("metrics", [])):
        if metric.get("type") in ("class_accuracy", "translation"):  # classifiers trained for a few steps only
            out.append(f"metrics[{i}].classifier_steps=20")
    return out


@pytest.fixture
def recipes_dir() -> Path:
    return ROOT / "recipes"
