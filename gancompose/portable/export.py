"""Self-contained network files: ``gancompose export`` (read back by gancompose/portable/load.py).

An export is a safetensors file (format ``gancompose.network/1``) holding one network's weights as
``networks.NAME.<state_dict key>`` and, in its metadata, everything needed to rebuild the module with the
installed plugins: the network's recipe table, its per-sample input shape, the latent spec, the data's
sample shape and number of classes, and where the weights came from. No recipe file is needed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from gancompose.version import __version__
from gancompose.checkpoint import NETWORK_FORMAT, atomic_save, require_finite
from gancompose.errors import CheckpointError
from gancompose.portable.load import NetworkInfo, network_from_checkpoint
from gancompose.registry import Registry, default_registry
from gancompose.weights_file import WeightsFile, sha256_of


def export_network(checkpoint: str | Path, output: str | Path, *, network: str | None = None, ema: bool = False,
                   half: bool = False, registry: Registry | None = None) -> tuple[Path, NetworkInfo]:
    """Write one network of a run checkpoint as a self-contained network file."""
    registry = registry or default_registry()
    ck = WeightsFile(checkpoint)
    if ck.kind != "checkpoint":
        raise CheckpointError(f"{ck.path} is already a network file", hint="copy it, or load it with load_generator")
    net, info = network_from_checkpoint(ck, network, ema, registry)
    info.source["sha256"] = sha256_of(ck.path)
    tensors = {}
    for key, value in net.state_dict().items():
        t = value.detach().to("cpu").clone()
        if half and t.is_floating_point():
            t = t.to(torch.float16)
        tensors[f"networks.{info.name}.{key}"] = t.contiguous()
    require_finite(tensors, ck.path, "exporting it would pass them on", hint="export an earlier checkpoint of the run")
    info.dtype = "float16" if half else "float32"
    path = atomic_save(tensors, output, network_metadata(info))
    info.path = path
    return path, info


def write_network_file(output: str | Path, state: dict[str, torch.Tensor], info: NetworkInfo,
                       **extra: str) -> Path:
    """Write one network's state dict as a network file (atomically): the tensors under ``networks.NAME.``, the
    metadata :func:`network_metadata` makes of ``info`` and any ``extra`` string entries. What ``gancompose export``
    and a plugin's ``gancompose import FORMAT`` write alike."""
    tensors = {f"networks.{info.name}.{k}": v.detach().contiguous() for k, v in state.items()}
    return atomic_save(tensors, output, {**network_metadata(info), **extra})


def network_metadata(info: NetworkInfo) -> dict[str, str]:
    return {
        "format": NETWORK_FORMAT,
        "gancompose_version": __version__,
        "network_name": info.name,
        "network": json.dumps(info.spec),
        "input_shape": json.dumps(list(info.input_shape)),
        "sample_shape": json.dumps(None if info.sample_shape is None else list(info.sample_shape)),
        "latent": json.dumps(info.latent),
        "num_classes": json.dumps(info.num_classes),
        "weights": info.weights,
        "dtype": info.dtype,
        "source": json.dumps(info.source),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


