"""Opening any gancompose weights file: a run checkpoint or a single-network file.

Both are safetensors files (loading never runs code from them) whose network tensors are named
``networks.NAME.<state_dict key>`` (and ``ema.NAME.*`` for EMA copies in checkpoints). A network file
(``gancompose export`` / ``gancompose import``, format ``gancompose.network/1``) holds one network and, in
its metadata, the network's recipe table, its input shape, the latent spec and the data's sample shape.
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from gancompose.checkpoint import Checkpoint
from gancompose.errors import CheckpointError

Shape = tuple[int, ...]


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class WeightsFile(Checkpoint):
    """A run checkpoint or a network file, opened lazily (metadata at once, tensors on demand)."""

    kinds = ("checkpoint", "network")

    # ------------------------------------------------------------------------ metadata
    @property
    def network_names(self) -> list[str]:
        if self.kind == "network":
            return [self.metadata.get("network_name", "generator")]
        return list(self.recipe.get("networks", {}))

    def network_spec(self, name: str) -> dict[str, Any] | None:
        if self.kind == "network":
            return self.meta_json("network") if name in self.network_names else None
        return self.recipe.get("networks", {}).get(name)

    def has_ema(self, name: str) -> bool:
        return any(k.startswith(f"ema.{name}.") for k in self.keys)

    def step(self) -> int | None:
        if self.kind == "checkpoint" and "counters" in self.keys:
            return int(self.counters()[0])
        source = self.meta_json("source", {}) or {}
        return source.get("step")

    # ------------------------------------------------------------------------- tensors
    def shapes(self, prefix: str = "") -> dict[str, Shape]:
        """Tensor shapes under ``prefix`` (prefix removed), read from the header without loading data."""
        out = {}
        with safe_open(str(self.path), framework="pt") as f:
            for key in self.keys:
                if key.startswith(prefix):
                    out[key[len(prefix):]] = tuple(f.get_slice(key).get_shape())
        return out

    def table(self) -> list[tuple[str, Shape, str]]:
        """(name, shape, dtype) of every tensor, in file order."""
        rows = []
        with safe_open(str(self.path), framework="pt") as f:
            for key in self.keys:
                sl = f.get_slice(key)
                rows.append((key, tuple(sl.get_shape()), str(sl.get_dtype())))
        return rows

    def network_prefix(self, name: str | None, *, ema: bool = False, wanted_by: str = "",
                       drop_ema: str = "set ema = false") -> str:
        """``networks.NAME.`` (or ``ema.NAME.``) for a network of this file; one clear error if it has none.
        ``name`` None: the file's only network. ``drop_ema``: how the caller's user asks for the trained weights
        instead (a recipe key, or a command-line flag)."""
        names = self.network_names
        where = f"{wanted_by}: " if wanted_by else ""
        if name is None:
            if len(names) != 1:
                raise CheckpointError(f"{where}{self.path} holds several networks ({', '.join(names)}): "
                                      "say which one", hint="set network = \"NAME\"")
            name = names[0]
        if name not in names:
            raise CheckpointError(f"{where}{self.path} has no network {name!r} (it has: {', '.join(names)})")
        if ema:
            if self.kind != "checkpoint" or not self.has_ema(name):
                raise CheckpointError(f"{where}{self.path} has no EMA copy of {name!r}",
                                      hint=f"{drop_ema}, or train with train.ema = {{ network = "
                                           f"\"{name}\" }}")
            return f"ema.{name}."
        return f"networks.{name}."

    def network_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        try:
            return self.tensors(prefix)
        except Exception as exc:  # a file changed or damaged after it was opened
            raise CheckpointError(f"{self.path}: cannot read its tensors ({exc})") from None


def open_weights(path: str | Path) -> WeightsFile:
    return WeightsFile(path)


def read_pth_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from another project's ``.pth`` file (``torch.save(net.state_dict())``), loaded with
    ``weights_only=True``: no code from the file runs. A ``{"state_dict": ...}`` wrapper and ``nn.DataParallel``'s
    ``module.`` prefixes are taken off. What a plugin's ``gancompose import FORMAT`` reads official weights with."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: refused: the file holds more than tensors and plain containers, and loading "
                              f"it would run code from it ({first})",
                              hint="only state dicts saved with torch.save(net.state_dict()) are imported") from None
    except Exception as exc:  # truncated zip, not a torch file, ...
        raise CheckpointError(f"{path} is truncated or not a PyTorch file ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items()):
        raise CheckpointError(f"{path} is not a state dict (a mapping of names to tensors)")
    if all(k.startswith("module.") for k in obj):  # saved from nn.DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)
