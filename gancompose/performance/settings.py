"""The ``[performance]`` section resolved for one device: ``"auto"`` becomes concrete, impossible requests
become recipe errors, and the run applies the result (precision flags, autocast, layout, fused optimizers)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from gancompose.errors import RecipeError, did_you_mean

#: backends that only trace (debugging); accepted, not advertised in errors
_DEBUG_BACKENDS = ("eager", "aot_eager", "aot_eager_decomp_partition")
_NO_AUTOCAST = contextlib.nullcontext()  # reusable: one object for every phase of a run without autocast


@dataclass(frozen=True)
class Performance:
    device_type: str
    precision: str  # "fp32", "tf32" or "bf16" (bf16 autocast on top of TF32)
    channels_last: bool
    fused_optimizers: bool
    cudnn_benchmark: bool
    compile: bool
    compile_mode: str
    compile_backend: str
    cuda_graphs: bool

    @property
    def tf32(self) -> bool:
        return self.device_type == "cuda" and self.precision in ("tf32", "bf16")

    def autocast(self):
        """The context the forward passes of a phase run in: bf16 autocast, or nothing."""
        if self.precision == "bf16":
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return _NO_AUTOCAST

    @contextlib.contextmanager
    def cuda_switches(self):
        """While training: TF32 (or exact fp32) matmuls and convolutions, and cuDNN's autotuner as resolved;
        the process's previous settings after (see :func:`set_cuda_float32_flags`)."""
        if self.device_type != "cuda":
            yield
            return
        old = cuda_float32_flags()
        set_cuda_float32_flags(self.tf32, self.tf32, self.cudnn_benchmark)
        try:
            yield
        finally:
            set_cuda_float32_flags(*old)

    def describe(self) -> str:
        """One line: ``cuda: bf16 autocast + TF32, channels_last, fused optimizers, compiled (inductor)``."""
        parts = [{"fp32": "fp32", "tf32": "TF32", "bf16": "bf16 autocast" + (" + TF32" if self.tf32 else "")}
                 [self.precision]]
        if self.channels_last:
            parts.append("channels_last")
        if self.fused_optimizers:
            parts.append("fused optimizers")
        if self.compile:
            mode = "" if self.compile_mode == "default" else f", {self.compile_mode}"
            parts.append(f"compiled ({self.compile_backend}{mode})" + (" with CUDA graphs" if self.cuda_graphs else ""))
        return f"{self.device_type}: " + ", ".join(parts)


def cuda_float32_flags() -> tuple[bool, bool, bool]:
    """(TF32 matmuls, TF32 cuDNN convolutions, cudnn.benchmark) as the process has them."""
    b = torch.backends
    try:
        matmul, conv = b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32
    except RuntimeError:  # someone wrote only torch's fp32_precision switches, which now disagree: read those
        matmul = b.cuda.matmul.fp32_precision == "tf32"
        conv = b.cudnn.conv.fp32_precision == "tf32"
    return matmul, conv, b.cudnn.benchmark


def set_cuda_float32_flags(matmul_tf32: bool, cudnn_tf32: bool, benchmark: bool) -> None:
    """Set TF32 for cuBLAS and cuDNN through torch's ``allow_tf32`` switches. In torch >= 2.9 each of them writes
    the legacy state and the new ``fp32_precision`` one together. Writing ``torch.backends.cuda.matmul.
    fp32_precision`` alone leaves ``float32_matmul_precision`` at "highest", and from then on whatever asks torch
    whether TF32 is allowed (inductor's compile-cache key and its matmul and conv templates, TunableOp, the
    ``allow_tf32`` getters) raises "you have used mix of the legacy and new APIs". These setters also repair
    such a state."""
    b = torch.backends
    b.cuda.matmul.allow_tf32 = bool(matmul_tf32)
    b.cudnn.allow_tf32 = bool(cudnn_tf32)
    b.cudnn.benchmark = bool(benchmark)


def _auto(value, device_type: str) -> bool:
    return device_type == "cuda" if value == "auto" else bool(value)


def resolve_performance(spec, device: torch.device) -> Performance:
    """Concrete settings for ``device``. Raises a RecipeError (key ``performance.*``) for a request the
    device or this torch cannot honour."""
    cuda = device.type == "cuda"
    key = ["performance"]
    precision = spec.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "tf32") if cuda else "fp32"
    elif precision == "tf32" and not cuda:
        precision = "fp32"  # TF32 is a CUDA tensor-core format; on other devices float32 is float32
    elif precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise RecipeError(f"precision 'bf16' asked for, but {torch.cuda.get_device_name(device)} has no bfloat16",
                          key=[*key, "precision"], hint="use precision = 'tf32' (or 'auto')")
    mode = spec.compile_mode
    if spec.cuda_graphs and mode not in ("default", "reduce-overhead"):
        raise RecipeError(f"cuda_graphs replays kernels with compile mode 'reduce-overhead'; compile_mode "
                          f"{mode!r} asks for another", key=[*key, "compile_mode"],
                          hint="leave compile_mode at 'default', or set cuda_graphs = false")
    cuda_graphs = spec.cuda_graphs and cuda  # CUDA graphs are CUDA's: elsewhere the recipe runs without them
    compiled = spec.compile or cuda_graphs
    if cuda_graphs:
        mode = "reduce-overhead"
    if compiled:
        _check_backend(spec.compile_backend, [*key, "compile_backend"])
    return Performance(device_type=device.type, precision=precision,
                       channels_last=_auto(spec.channels_last, device.type),
                       fused_optimizers=_auto(spec.fused_optimizers, device.type),
                       cudnn_benchmark=_auto(spec.cudnn_benchmark, device.type),
                       compile=compiled, compile_mode=mode, compile_backend=spec.compile_backend,
                       cuda_graphs=cuda_graphs)


def _check_backend(name: str, key: list) -> None:
    import torch._dynamo
    known = torch._dynamo.list_backends(exclude_tags=())
    if name not in known and name not in _DEBUG_BACKENDS:
        raise RecipeError(f"unknown torch.compile backend {name!r}", key=key,
                          hint=did_you_mean(name, torch._dynamo.list_backends()) or
                          f"known: {', '.join(torch._dynamo.list_backends())}")


# ----------------------------------------------------------------------------------------- applying
def to_channels_last(networks: torch.nn.Module) -> None:
    """4-D weights (convolutions) stored NHWC; other parameters are unchanged."""
    networks.to(memory_format=torch.channels_last)


def has_fused(opt: torch.optim.Optimizer) -> bool:
    """Whether the optimizer's class takes ``fused=True`` (torch.optim.Adam, AdamW, SGD, Adagrad)."""
    return "fused" in opt.defaults


def set_fused(opt: torch.optim.Optimizer, fused: bool) -> None:
    """Switch ``opt`` to its fused kernel (one launch for all parameters) or back to torch's default. Its
    ``step`` counters move where that kernel wants them (device for fused, CPU otherwise): a checkpoint
    written with the other setting resumes either way."""
    for group in opt.param_groups:
        group["fused"], group["foreach"] = (True, False) if fused else (False, None)
        for p in group["params"]:
            state = opt.state.get(p)
            if state and torch.is_tensor(state.get("step")) and not group.get("capturable", False):
                state["step"] = state["step"].to(device=p.device if fused else "cpu", dtype=torch.float32)


def apply_fused(perf: Performance, optimizers: dict[str, torch.optim.Optimizer], requested: bool) -> None:
    """Fused kernels, as ``perf`` says, for every optimizer that has them; ``requested`` (fused_optimizers =
    true, not 'auto'): an optimizer without them is a recipe error."""
    for name, opt in optimizers.items():
        if has_fused(opt):
            set_fused(opt, perf.fused_optimizers)
        elif requested and perf.fused_optimizers:
            raise RecipeError(f"fused_optimizers = true, but the optimizer of {name!r} "
                              f"({type(opt).__name__}) has no fused kernel", key=["performance", "fused_optimizers"],
                              hint="use 'auto' (fused where available), or Adam/AdamW/SGD")
