"""Checkpoints: one safetensors file with every tensor of a run, and the recipe in its metadata.

Tensor names:
    networks.NAME.<state_dict key>       weights and buffers, named as in the recipe
    ema.NAME.<state_dict key>            EMA copies
    optimizers.NAME.<param index>.<key>  optimizer state (exp_avg, step, ...)
    rng.cpu, rng.cuda                    random generator states (rng.cuda: the run's CUDA device; older
                                         files hold rng.cuda.<i> for every device, still read)
    schedule.<key>                       the schedule's own state, if it has any (e.g. CycleGAN's image pools)
    counters                             int64 [step, images_seen, data_epoch, data_position]
                                         (data_position: samples taken in the epoch; in format 1, batches)
Metadata (strings): format, gancompose_version, recipe (JSON), optimizers (JSON: param_groups and
non-tensor state), created. ``format`` is ``gancompose.<kind>/<version>``: ``checkpoint`` for a run,
``network`` for one network (gancompose/portable/export.py); a newer version is refused with a clear error.

A config plus a safetensors file is a complete, portable model: ``gancompose sample`` needs nothing else.
Writes are atomic: a temporary file in the same folder, flushed to disk, then renamed over the target.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Collection

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gancompose.version import __version__
from gancompose.errors import CheckpointError

FORMAT = "gancompose.checkpoint/2"
#: a single network with its part of the recipe (``gancompose export`` / ``gancompose import``)
NETWORK_FORMAT = "gancompose.network/1"
#: the newest version of each file kind this gancompose reads
READS = {"checkpoint": 2, "network": 1}
_FORMAT_RE = re.compile(r"gancompose\.([a-z_]+)/(\d+)")


def check_format(metadata: dict[str, str], path: Path, kinds: tuple[str, ...] = ("checkpoint",)) -> str:
    """The file's kind (``checkpoint`` or ``network``) from its ``format``; one clear error for a file of
    another program, of a newer gancompose, or of a kind not wanted here."""
    fmt = metadata.get("format")
    m = _FORMAT_RE.fullmatch(fmt or "")
    if m is None:
        raise CheckpointError(f"{path} is not a gancompose checkpoint (format {fmt!r}, expected {FORMAT!r})")
    kind, version = m.group(1), int(m.group(2))
    if kind not in READS or version > READS[kind]:
        writer = metadata.get("gancompose_version")
        raise CheckpointError(f"{path} was written by a newer gancompose (format {fmt!r}"
                              f"{f', gancompose {writer}' if writer else ''}); this is gancompose {__version__}, "
                              f"which reads {', '.join(f'gancompose.{k}/{v}' for k, v in READS.items())}",
                              hint="upgrade gancompose to read it")
    if kind not in kinds:
        wanted = " or ".join(kinds)
        raise CheckpointError(f"{path} is a gancompose {kind} file ({fmt}), not a {wanted} file",
                              hint="a single-network file (gancompose export/import) loads with "
                                   "gancompose.load_generator() or a network's init_from" if kind == "network" else None)
    return kind


# ------------------------------------------------------------------------------- writing
class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (disk full, permissions): a user-facing error that is still an OSError."""


def atomic_save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """Write a safetensors file atomically: a file that existed at ``path`` stays whole whatever happens
    (disk full, permissions, a second Ctrl-C); an OSError becomes a CheckpointError naming the path."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                Path(tmp).unlink(missing_ok=True)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise CheckpointWriteError(f"cannot write the checkpoint {path}: {exc.strerror or exc}"
                                  + (" (the previous file there is unchanged)" if path.exists() else ""),
                                  hint="free disk space or fix the folder's permissions, then resume from the "
                                       "last checkpoint") from exc
        raise
    return path


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").contiguous()


def add_module_tensors(tensors: dict[str, torch.Tensor], prefix: str, module: torch.nn.Module) -> None:
    seen: dict[int, str] = {}
    for key, value in module.state_dict().items():
        t = _cpu(value)
        ptr = value.data_ptr()
        # safetensors refuses tensors sharing memory: store tied weights as copies
        tensors[f"{prefix}.{key}"] = t.clone() if ptr in seen else t
        seen[ptr] = key


def run_tensors(run, stream_state: tuple[int, int]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors: dict[str, torch.Tensor] = {}
    for name, net in run.networks.items():
        add_module_tensors(tensors, f"networks.{name}", net)
    for name, net in run.ema.items():
        add_module_tensors(tensors, f"ema.{name}", net)
    opt_meta: dict[str, Any] = {}
    for name, opt in run.optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, state in sd["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizers.{name}.{idx}.{key}"] = _cpu(value)
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        opt_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars,
                          # the state tensors written, so a file missing some is refused on resume
                          "tensors": sorted(k for k in tensors if k.startswith(f"optimizers.{name}."))}
    if run.schedule is not None:
        for key, value in run.schedule.state_dict().items():
            tensors[f"schedule.{key}"] = _cpu(value)
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and run.device.type == "cuda":
        # the run's device only: under torchrun every process draws the same global numbers, so process 0's
        # state is every process's, and a checkpoint written on an 8-GPU machine resumes on a 1-GPU one
        tensors["rng.cuda"] = torch.cuda.get_rng_state(run.device)
    tensors["counters"] = torch.tensor([run.state.step, run.state.images_seen, *stream_state], dtype=torch.int64)
    metadata = {
        "format": FORMAT,
        "gancompose_version": __version__,
        "recipe": json.dumps(run.recipe.model_dump(mode="json")),
        "optimizers": json.dumps(opt_meta),
        "sample_shape": json.dumps(list(run.dataset.sample_shape)),
        "num_classes": json.dumps(run.dataset.num_classes),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return tensors, metadata


class NonFiniteStateError(CheckpointError):
    """A checkpoint would hold NaN or Inf values: it is not written."""


def nonfinite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors holding a NaN or an Inf: one fused max-abs
    (``_foreach_norm(inf)``, which cannot overflow) per device and dtype, one host sync for all of them."""
    buckets: dict[tuple, list[tuple[str, torch.Tensor]]] = {}
    for name, t in tensors.items():
        if t.is_floating_point() and t.numel():
            buckets.setdefault((t.device, t.dtype), []).append((name, t.detach()))
    if not buckets:
        return []
    names, flags = [], []
    for items in buckets.values():
        names += [n for n, _ in items]
        norms = torch._foreach_norm([t for _, t in items], float("inf"))
        flags.append(torch.isfinite(torch.stack(norms)).to("cpu"))
    ok = torch.cat(flags).tolist()
    return [n for n, good in zip(names, ok) if not good]


def describe_nonfinite(names: list[str], limit: int = 6) -> str:
    """``networks.generator.0.weight, optimizers.generator.0.exp_avg_sq, ... (12 tensors)``."""
    text = ", ".join(names[:limit])
    return text + (f", ... ({len(names)} tensors)" if len(names) > limit else "")


def require_finite(tensors: dict[str, torch.Tensor], path: str | Path, use: str, hint: str | None = None) -> None:
    """A CheckpointError when any of ``tensors`` (read from the file at ``path``) holds a NaN or an Inf: gancompose
    never writes such a file, so it was altered or damaged, and ``use`` (e.g. "a run cannot continue from it")
    would only spread the values."""
    bad = nonfinite(tensors)
    if bad:
        raise CheckpointError(f"{path} holds non-finite values (NaN/Inf) in {describe_nonfinite(bad)}: {use} "
                              "(gancompose never writes such a file: it was altered or damaged)", hint=hint)


def save_checkpoint(run, path: str | Path) -> Path:
    """Write everything needed to resume ``run`` exactly, atomically. Refuses (NonFiniteStateError, nothing
    written) when a tensor it would write holds a NaN or an Inf: a checkpoint is always a good one."""
    stream_state = run.stream.state() if run.stream is not None else (0, 0)
    tensors, metadata = run_tensors(run, stream_state)
    bad = nonfinite(tensors)
    if bad:
        raise NonFiniteStateError(f"not writing the checkpoint {path}: non-finite values (NaN/Inf) in "
                                  f"{describe_nonfinite(bad)}",
                                  hint="lower the learning rate, or set train.on_nan = 'rollback'")
    return atomic_save(tensors, path, metadata)


# ------------------------------------------------------------------------------- reading
def _refuse_pickle(path: Path) -> None:
    """One clear error for a pickle or ``torch.save`` file (never unpickled: loading runs code)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head == b"PK\x03\x04" or (len(head) >= 3 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[2] != 0):
        raise CheckpointError(f"{path} is a pickle / torch.save file, not a gancompose checkpoint (safetensors); "
                              "gancompose does not unpickle files, which can run code",
                              hint="official weights convert with `gancompose import`; checkpoints of "
                                   "`gancompose run` end in .safetensors")


class Checkpoint:
    """A checkpoint file opened lazily: metadata at once, tensors on demand."""

    #: the file kinds this class opens (see :func:`check_format`)
    kinds: tuple[str, ...] = ("checkpoint",)

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"checkpoint not found: {self.path}")
        try:
            with safe_open(str(self.path), framework="pt") as f:
                self.metadata = f.metadata() or {}
                self.keys = list(f.keys())
        except Exception as exc:
            _refuse_pickle(self.path)  # a better message when it is a pickle / torch.save file
            raise CheckpointError(f"{self.path} is truncated or corrupted (not a readable safetensors file: "
                                  f"{exc})") from None
        self.kind = check_format(self.metadata, self.path, self.kinds)

    @property
    def recipe(self) -> dict[str, Any]:
        try:
            return json.loads(self.metadata["recipe"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{self.path}: the recipe in its metadata is missing or corrupted ({exc})") from None

    def meta_json(self, key: str, default: Any = None) -> Any:
        """The metadata entry ``key`` read as JSON (``default`` when the file has none)."""
        if key not in self.metadata:
            return default
        try:
            return json.loads(self.metadata[key])
        except ValueError as exc:
            raise CheckpointError(f"{self.path}: the metadata entry {key!r} is corrupted ({exc})") from None

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        out = {}
        with safe_open(str(self.path), framework="pt") as f:
            for key in self.keys:
                if key.startswith(prefix):
                    out[key[len(prefix):]] = f.get_tensor(key)
        return out

    def counters(self) -> list[int]:
        return self.tensors("counters")[""].tolist()


def _mismatches(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """``name: int8 [128, 2] in the file, float32 [128, 2] here`` for each tensor of another shape or of another
    kind of number (floating point, integer, bool) than the network's."""
    def kind(t):
        return "float" if t.is_floating_point() else ("bool" if t.dtype == torch.bool else
                                                      "complex" if t.is_complex() else "int")
    out = []
    for key, want in expected.items():
        got = state.get(key)
        if got is not None and (tuple(got.shape) != tuple(want.shape) or kind(got) != kind(want)):
            out.append(f"{key}: {str(got.dtype).replace('torch.', '')} {list(got.shape)} in the file, "
                       f"{str(want.dtype).replace('torch.', '')} {list(want.shape)} here")
    return out


def load_module(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{what}: the checkpoint does not match the network "
                              f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                              f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})")
    bad = _mismatches(expected, state)
    if bad:
        raise CheckpointError(f"{what}: {len(bad)} tensor(s) of the checkpoint do not fit the network: "
                              + "; ".join(bad[:5]) + ("; ..." if len(bad) > 5 else ""))
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{what}: {str(exc).splitlines()[-1].strip()}") from None


def load_networks(run, ckpt: Checkpoint, *, ema: bool = True) -> None:
    for name, net in run.networks.items():
        load_module(net, ckpt.tensors(f"networks.{name}."), f"network {name!r}")
    if ema:
        for name, net in run.ema.items():
            state = ckpt.tensors(f"ema.{name}.")
            if state:
                load_module(net, state, f"EMA of {name!r}")


def _states_like_params(opt: torch.optim.Optimizer) -> None:
    """Optimizer states (Adam's moments) in the memory layout of their parameter, as the optimizer made them:
    a file stores them contiguous, and a fused kernel walks a channels_last parameter and its moments in
    memory order."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _check_counters_and_rng(ckpt: Checkpoint) -> list[int]:
    """The four counters, after checking they and the CPU generator state are there and whole."""
    problems = []
    counters = None
    if "counters" not in ckpt.keys:
        problems.append("the tensor 'counters' is missing")
    else:
        t = ckpt.tensors("counters")[""]
        if t.dtype != torch.int64 or t.dim() != 1 or t.numel() != 4:
            problems.append(f"'counters' is {str(t.dtype)[6:]} {list(t.shape)}, expected int64 [4] (step, images "
                            "seen, data epoch, data position)")
        else:
            counters = t.tolist()
            if min(counters) < 0:
                problems.append(f"'counters' holds negative values {counters}")
    want = torch.get_rng_state()
    if "rng.cpu" not in ckpt.keys:
        problems.append("the tensor 'rng.cpu' (the random generator's state) is missing")
    else:
        t = ckpt.tensors("rng.cpu")[""]
        if t.dtype != want.dtype or t.shape != want.shape:
            problems.append(f"'rng.cpu' is {str(t.dtype)[6:]} {list(t.shape)}, expected {str(want.dtype)[6:]} "
                            f"{list(want.shape)}")
    if problems:
        raise CheckpointError(f"{ckpt.path} cannot be resumed: {'; '.join(problems)}",
                              hint="the file was altered or cut; resume from another checkpoint")
    return counters


def cuda_rng_state(rng: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor | None:
    """The CUDA generator state to give ``device`` from a checkpoint's ``rng.*`` tensors: ``rng.cuda``, or in an
    older file (one ``rng.cuda.<i>`` per device of the writing machine) the one of the same index (else 0);
    None on the CPU or when the file has none (it was written on the CPU)."""
    if device.type != "cuda":
        return None
    if "cuda" in rng:
        return rng["cuda"]
    return rng.get(f"cuda.{device.index or 0}", rng.get("cuda.0"))


def restore_run(run, ckpt: Checkpoint, *, fresh_optimizers: Collection[str] = ()) -> None:
    """Put ``run`` back in the state the checkpoint was written in (weights, optimizers, RNG, counters).
    ``fresh_optimizers``: optimizers whose saved state is not loaded (their type changed, ``--allow-change``)."""
    counters = _check_counters_and_rng(ckpt)
    load_networks(run, ckpt)
    try:
        opt_meta = json.loads(ckpt.metadata.get("optimizers", "{}"))
    except ValueError:
        raise CheckpointError(f"{ckpt.path}: the optimizer metadata is corrupted (not JSON)") from None
    for name, opt in run.optimizers.items():
        if name in fresh_optimizers:
            continue
        if name not in opt_meta:
            raise CheckpointError(f"{ckpt.path}: the checkpoint has no optimizer state for {name!r}")
        flat = ckpt.tensors(f"optimizers.{name}.")
        listed = opt_meta[name].get("tensors")  # files written since the list was kept
        gone = sorted(set(listed or ()) - {f"optimizers.{name}.{k}" for k in flat})
        if gone:
            raise CheckpointError(f"{ckpt.path}: the optimizer state of {name!r} is incomplete: {len(gone)} "
                                  f"tensor(s) missing ({', '.join(gone[:4])}{', ...' if len(gone) > 4 else ''})",
                                  hint="the file was altered or cut; resume from another checkpoint")
        params = [p for g in opt.param_groups for p in g["params"]]
        state: dict[int, dict[str, Any]] = {}
        for key, value in flat.items():
            idx, _, field = key.partition(".")
            if not idx.isdigit() or int(idx) >= len(params):
                raise CheckpointError(f"{ckpt.path}: optimizers.{name}.{key} names no parameter of {name!r} "
                                      f"({len(params)} parameters)")
            p = params[int(idx)]
            if field != "step" and p.is_floating_point() and not value.is_floating_point():
                raise CheckpointError(f"{ckpt.path}: optimizers.{name}.{key} holds {str(value.dtype)[6:]} values "
                                      f"where floating point is expected")
            state.setdefault(int(idx), {})[field] = value.to(run.device) if field != "step" else value
        for idx, scalars in opt_meta[name]["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        opt.load_state_dict({"state": state, "param_groups": opt_meta[name]["param_groups"]})
        _states_like_params(opt)
    if run.schedule is not None:
        run.schedule.load_state_dict({k: v.to(run.device) for k, v in ckpt.tensors("schedule.").items()})
    rng = ckpt.tensors("rng.")
    try:
        torch.set_rng_state(rng["cpu"])
    except RuntimeError as exc:
        raise CheckpointError(f"{ckpt.path}: 'rng.cpu' is not a random generator state ({exc})") from None
    cuda_state = cuda_rng_state(rng, run.device)
    if cuda_state is not None:
        torch.cuda.set_rng_state(cuda_state, run.device)
    step, images_seen, epoch, position = counters
    if ckpt.metadata.get("format") == "gancompose.checkpoint/1":  # counted batches, not samples
        position *= run.recipe.train.batch_size
    run.state.step, run.state.images_seen = step, images_seen
    if run.stream is not None:
        run.stream.epoch, run.stream.position = epoch, position
        run.stream._it = None
    if run.performance is not None:  # the saved groups carry the writing run's kernel flags
        from gancompose.performance.settings import apply_fused
        apply_fused(run.performance, run.optimizers, requested=False)
