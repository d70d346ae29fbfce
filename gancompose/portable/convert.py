"""Converting another project's trained weights into a block's layout, checked by outputs.

The file's state dict is loaded strictly into a rebuild of the other project's module tree, so a file of another
layout is refused with the keys that do not fit; its tensors are then renamed into the block's layout and both
networks are run, in eval mode, on one probe input: the conversion stops if their outputs differ. Used by the
importers of image-to-image families (``gancompose import FORMAT``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch

from gancompose.errors import CheckpointError

#: the statistics a norm layer may carry in a state dict
NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
#: the largest output difference a conversion accepts (the same operations in the same order give 0)
TOLERANCE = 1e-5


@dataclass
class ImportResult:
    """What ``gancompose import FORMAT`` wrote: the file, the settings read from the source, the parameter count,
    the tensors written, the source keys left out (with why in the importer's docs) and the probe's difference."""
    path: Path
    config: Any
    params: int
    tensors: int
    dropped: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None

    def summary(self, network: str, settings: str) -> str:
        """One line for the command to print: ``imported NETWORK (SETTINGS): N parameters, T tensors...``."""
        return (f"imported {network} ({settings}): {self.params:,} parameters, {self.tensors} tensors"
                + (f", dropped {len(self.dropped)} stale InstanceNorm statistics" if self.dropped else "")
                + (f"; same outputs as the official layout (max diff {self.max_abs_diff:.1e})"
                   if self.max_abs_diff is not None else ""))


def stale_instance_norm_statistics(state: dict[str, torch.Tensor]) -> list[str]:
    """Keys of running statistics in a network whose norm is InstanceNorm without tracked statistics: files
    written by PyTorch < 0.4 carry them, and reference code deletes them when loading."""
    return [k for k in state if k.rsplit(".", 1)[-1] in NORM_STATISTICS]


class Converted(NamedTuple):
    state: dict[str, torch.Tensor]  #: the block's state dict (contiguous tensors)
    params: int  #: the block's parameter count
    max_abs_diff: float | None  #: the probe's difference (None when not verified)


def convert_checked(source: Path, state: dict[str, torch.Tensor], reference: torch.nn.Module,
                    ours: torch.nn.Module, rename: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
                    probe_shape: tuple[int, ...], *, what: str, verify: bool = True) -> Converted:
    """``state`` loaded strictly into ``reference`` (the other project's module tree; a mismatch is refused naming
    ``what``), renamed by ``rename`` and loaded strictly into ``ours``; with ``verify``, both run in eval mode on a
    seeded probe of ``probe_shape`` in [-1, 1] and a difference over :data:`TOLERANCE` is refused."""
    try:
        reference.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise CheckpointError(f"{source} does not match the official {what}: {' '.join(lines[1:4])}") from None
    ours.load_state_dict(rename(state), strict=True)
    diff = None
    if verify:
        reference.eval()
        ours.eval()
        x = torch.rand(*probe_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
        with torch.no_grad():
            diff = float((reference(x.clone()) - ours(x.clone())).abs().max())  # (in-place layers may change x)
        if diff > TOLERANCE:
            raise CheckpointError(f"the converted network differs from the official {what} by {diff:g}: a bug in "
                                  "the importer, please report it")
    return Converted({k: v.detach().contiguous() for k, v in ours.state_dict().items()},
                     sum(p.numel() for p in ours.parameters()), diff)


def write_imported(output: str | Path, converted: Converted, config: Any, *, block: str, name: str,
                   channels: tuple[int, int], image_size: int, source: Path, fmt: str, code: str, layout: str,
                   dropped: list[str]) -> ImportResult:
    """A converted image-to-image network as a gancompose network file, and what the importer reports of it: the
    block and its settings (``config``, a dataclass of the block's parameters: the network's recipe table,
    ``input = "data"``), its (in, out) ``channels`` at ``image_size``, and where its weights came from (the format
    ``fmt``, the reference ``code``, the ``source`` file and its sha256, the keys ``dropped``, the reference module
    tree ``layout``)."""
    from gancompose.portable.export import write_network_file
    from gancompose.portable.load import NetworkInfo
    from gancompose.weights_file import sha256_of
    info = NetworkInfo(path=Path(output), name=name, spec={"type": block, "input": "data", **asdict(config)},
                       input_shape=(channels[0], image_size, image_size),
                       sample_shape=(channels[1], image_size, image_size), latent=None, weights="imported",
                       source={"format": fmt, "code": code, "file": source.name, "sha256": sha256_of(source),
                               "dropped": dropped, "layout": layout})
    path = write_network_file(output, converted.state, info, params=str(converted.params), block=block)
    return ImportResult(path, config, converted.params, len(converted.state), dropped, converted.max_abs_diff)
