"""Files that are not gancompose checkpoints, given as one (issue 11): pickle and torch.save files are refused
without being unpickled, truncated and foreign safetensors files are named as such."""
from __future__ import annotations

import pickle

import pytest
import torch

from conftest import ROOT, invoke, tiny_overrides
from gancompose.builder import build_run
from gancompose.checkpoint import Checkpoint, save_checkpoint
from gancompose.errors import CheckpointError
from gancompose.recipe import load_raw, load_recipe

RING = ROOT / "recipes" / "vanilla_gan_ring.toml"


def ring(tmp_path, *extra):
    return load_recipe(RING, [*tiny_overrides(load_raw(RING), tmp_path), "metrics=[]",
                              "networks.generator.hidden=[16, 16]", "networks.discriminator.hidden=[16, 16]",
                              *extra])


@pytest.mark.parametrize("kind", ["torch_save", "pickle2", "pickle5"])
def test_pickle_file_as_checkpoint(tmp_path, kind):
    path = tmp_path / "model.pt"
    obj = {"w": torch.ones(2)} if kind == "torch_save" else {"w": [1.0, 2.0]}
    if kind == "torch_save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2 if kind == "pickle2" else 5))
    with pytest.raises(CheckpointError, match="is a pickle / torch.save file, not a gancompose checkpoint"):
        Checkpoint(path)
    result = invoke("sample", path, "-o", tmp_path / "g.png")
    assert result.exit_code == 2 and result.output.startswith("error:") and "pickle" in result.output
    assert len(result.output.strip().splitlines()) == 2  # the message and its hint


def test_truncated_and_foreign_files(tmp_path):
    run = build_run(ring(tmp_path))
    good = save_checkpoint(run, tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        Checkpoint(cut)
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(3)}, tmp_path / "foreign.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="is not a gancompose checkpoint"):
        Checkpoint(tmp_path / "foreign.safetensors")
