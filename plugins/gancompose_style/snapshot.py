"""Reading an official StyleGAN2-ADA ``network-snapshot-*.pkl`` without running code from it.

The official training loop (NVlabs/stylegan2-ada-pytorch, ``training/training_loop.py``) writes
``pickle.dump({'training_set_kwargs': ..., 'G': G, 'D': D, 'G_ema': G_ema, 'augment_pipe': ...})``. Its
networks are ``torch_utils.persistence`` classes: each pickles as a call
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta`` holds ``module_src`` (the source
of the module defining the class, which the official loader *executes*), ``class_name`` and ``state`` (the
object's ``__dict__``: ``_parameters``, ``_buffers``, ``_modules``, ``_init_args``, ``_init_kwargs``, ...).

:class:`SnapshotUnpickler` resolves only the globals needed to rebuild that data (tensors, parameters,
``OrderedDict``, sets, numeric numpy scalars, ``dnnlib.EasyDict`` as a plain dict) and replaces
``_reconstruct_persistent_obj`` with a recorder: each persistent object becomes a :class:`PersistentObject`
(class name, init arguments, state); ``module_src`` is kept as text and never executed. Any other global
(``os.system``, ``builtins.eval``, a class of the official code pickled without persistence, ...) is refused
with :class:`UnsafePickleError` naming it, before anything is called. Tensor storages are pickled by torch as
``torch.storage._load_from_bytes(bytes)``; those bytes are read here with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gancompose.errors import CheckpointError


class SnapshotError(CheckpointError):
    """An official snapshot that cannot be read or imported."""


class UnsafePickleError(SnapshotError):
    """The pickle asks for a global that is not on the allow list (loading it could run code)."""


class EasyDict(dict):
    """``dnnlib.util.EasyDict`` as data: a dict whose keys read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class PersistentObject:
    """What ``torch_utils.persistence`` pickled for one object: never instantiated, only recorded."""
    class_name: str
    version: Any
    module_src: str
    state: dict[str, Any]

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def source_sha256(self) -> str:
        return hashlib.sha256(self.module_src.encode("utf-8", "replace")).hexdigest()

    def children(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})

    def class_names(self, prefix: str = "") -> dict[str, str]:
        """Module path -> class name, for this object and every persistent submodule."""
        out = {prefix: self.class_name}
        for name, child in self.children().items():
            if isinstance(child, PersistentObject):
                out.update(child.class_names(f"{prefix}{name}."))
        return out

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers, by the names ``module.state_dict()`` would give."""
        out: dict[str, torch.Tensor] = {}
        non_persistent = set(self.state.get("_non_persistent_buffers_set") or ())
        for name, t in (self.state.get("_parameters") or {}).items():
            if t is not None:
                out[prefix + name] = t.detach() if isinstance(t, torch.Tensor) else t
        for name, t in (self.state.get("_buffers") or {}).items():
            if t is not None and name not in non_persistent:
                out[prefix + name] = t
        for name, child in self.children().items():
            if child is None:
                continue
            if not isinstance(child, PersistentObject):
                raise SnapshotError(f"submodule {prefix + name!r} is a {type(child).__name__}, not a recorded "
                                    f"persistent module")
            out.update(child.state_dict(f"{prefix}{name}."))
        for key, t in out.items():
            if not isinstance(t, torch.Tensor):
                raise SnapshotError(f"{key!r} is a {type(t).__name__}, not a tensor")
        return out


def _load_storage(data: bytes):
    """``torch.storage._load_from_bytes`` read with torch's own safe unpickler (weights_only=True)."""
    if not isinstance(data, (bytes, bytearray)):
        raise SnapshotError("a tensor storage is not stored as bytes")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise SnapshotError("a torch_utils.persistence record without type 'class' and a class name")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise SnapshotError(f"the persistent {meta['class_name']} has a state that is not a dict")
    src = meta.get("module_src")
    return PersistentObject(meta["class_name"], meta.get("version"), src if isinstance(src, str) else "", dict(state))


def _numpy_scalar(dtype, data=None):
    import numpy as np
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc":
        raise UnsafePickleError(f"refused a numpy scalar of dtype {dtype!r} (only numeric scalars are read)")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type(0)


def _numpy_dtype(*args):
    import numpy as np
    return np.dtype(*args)


def _rebuild_parameter(data, requires_grad, backward_hooks, *rest):
    return torch.nn.Parameter(data, requires_grad=False)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    from torch._utils import _rebuild_tensor_v2
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"refused a tensor built on a {type(storage).__name__}, not a storage")
    return _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())


def _builtin(name):
    return {"set": set, "frozenset": frozenset, "dict": dict, "list": list, "tuple": tuple,
            "bytearray": bytearray, "complex": complex, "slice": slice}[name]


#: (module, name) -> what it resolves to; nothing else is ever imported or called
ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    **{("builtins", n): _builtin(n) for n in ("set", "frozenset", "dict", "list", "tuple", "bytearray", "complex",
                                              "slice")},
    **{("__builtin__", n): _builtin(n) for n in ("set", "frozenset", "dict", "list", "tuple")},
}


class SnapshotUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds tensors and records persistent objects, and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused: the pickle asks for {module}.{name}, which is not needed to read network weights "
                "(loading it could run code from the file)",
                hint="only official StyleGAN2-ADA network snapshots (network-snapshot-*.pkl) are read") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused: the pickle uses persistent ids (a torch.save file, not a "
                                "StyleGAN2-ADA snapshot written with pickle.dump)")


@dataclass
class Snapshot:
    path: Path
    objects: dict[str, Any] = field(default_factory=dict)

    def network(self, key: str) -> PersistentObject:
        net = self.objects.get(key)
        if not isinstance(net, PersistentObject):
            have = ", ".join(k for k, v in self.objects.items() if v is not None) or "nothing"
            raise SnapshotError(f"{self.path} has no network {key!r} (it holds {have})")
        return net


def read_snapshot(path: str | Path) -> Snapshot:
    """The contents of an official snapshot, with every network as a :class:`PersistentObject`."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if head == b"PK\x03\x04":
            raise SnapshotError(f"{path} is a torch.save zip file, not a StyleGAN2-ADA snapshot (pickle.dump)")
        if not head or head[0] != 0x80:
            raise SnapshotError(f"{path} is not a pickle file (it starts with {head!r})")
        try:
            obj = SnapshotUnpickler(fh).load()
        except SnapshotError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, RuntimeError) as exc:
            raise SnapshotError(f"{path} is truncated or not a StyleGAN2-ADA snapshot ({type(exc).__name__}: "
                                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    if not isinstance(obj, dict):
        raise SnapshotError(f"{path} holds a {type(obj).__name__}, not the dict of a StyleGAN2-ADA snapshot "
                            "(G, D, G_ema, ...)")
    return Snapshot(path, dict(obj))
