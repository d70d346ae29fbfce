"""Speed of the engine against the hand-written reference loops, with FLOPs and the share of the device's peak:
one call, one process, one device.

    python bench/speed.py                                             # every workload, fp32,tf32,fast (CUDA)
    python bench/speed.py --which dcgan,cyclegan --settings fp32,fast --steps 100 --repeats 5
    python bench/speed.py --json speed.json --peak-tflops bf16=989,tf32=495,fp32=67
    python bench/speed.py --device cpu --smoke                        # tiny sizes, 1 step: checks the script

Workloads (``--which``): ``dcgan`` (DCGAN 64px, batch 128), ``wgangp`` (WGAN-GP 64px, batch 64, n_critic 5),
``cyclegan`` (CycleGAN ResNet-9 + PatchGAN 256px, batch 1), ``cyclegan_b4`` (the same, batch 4) and
``stylegan2`` (StyleGAN2-ADA's cifar configuration, 32px, batch 64; engine only: no reference loop). The
engine's recipes and helpers come from bench/engine_vs_loop.py.

Settings (``--settings``), each run by both sides:

* ``fp32``: the engine with ``performance.precision="fp32"``, no cudnn.benchmark, channels_last, fused optimizers or
  compile; the loop's ``fp32`` mode (exact float32, TF32 off).
* ``tf32``: the same with ``performance.precision="tf32"`` and cudnn.benchmark; the loop's ``tf32`` mode
  (like for like).
* ``fast``: the engine with every ``[performance]`` key on ``"auto"`` and ``compile = true`` (plus
  ``cuda_graphs = true`` for CycleGAN at batch 1 on CUDA); the loop's ``bf16_cl`` and ``bf16_cl_compile`` modes.

The loop side is ``../shared/bench/reference_loops.py`` (``--reference PATH``), imported by path; its
``make_*`` step functions run in its modes as its own ``bench()`` sets them up (TF32 flags, cudnn.benchmark,
bf16 autocast + channels_last, torch.compile of each network's forward). When the file is absent only the
engine runs. When the engine's recipes have no ``[performance]`` section yet, the engine runs its recipe as it
is (setting ``plain``).

Within a workload every side is built and warmed up first (warm-up includes compilation, reported
separately), then timings alternate over the sides, ``--repeats`` times; img/s is the median. Each side gets
back the global precision flags (TF32, cudnn.benchmark) it set up before each of its timings, so one side's
flags never leak into another's. FLOPs are counted once per workload with FlopCounterMode over training steps
(all phases, forward and backward) of the engine at fp32, divided by the images of those steps; the same
count turns every side's img/s into TFLOP/s, so TFLOP/s compares useful work. The loop's own count is printed
alongside.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib.util
import inspect
import json
import math
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_vs_loop import RECIPES, engine_recipe, engine_runner, recipe_for, synchronizer, timed  # noqa: E402

from gancompose.builder import build_run  # noqa: E402
from gancompose.errors import RecipeError  # noqa: E402
from gancompose.performance.settings import cuda_float32_flags, set_cuda_float32_flags  # noqa: E402
from gancompose.recipe import load_recipe  # noqa: E402

DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared/bench/reference_loops.py"
Steps = Callable[[int], None]


# ------------------------------------------------------------------------------------------ workloads
@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    variant: str                # engine_vs_loop.recipe_for's key
    reference: Optional[str]    # reference_loops.MAKERS' key, or None (no hand loop)
    batch: int
    image_size: int
    cuda_graphs: bool = False   # the "fast" setting adds performance.cuda_graphs = true (on CUDA)


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("dcgan", "DCGAN", "dcgan", "dcgan", 128, 64),
    Workload("wgangp", "WGAN-GP n_critic 5", "wgangp", "wgangp", 64, 64),
    Workload("cyclegan", "CycleGAN", "cyclegan", "cyclegan", 1, 256, cuda_graphs=True),
    Workload("cyclegan_b4", "CycleGAN", "cyclegan", "cyclegan_b4", 4, 256),
    Workload("stylegan2", "StyleGAN2 cifar config", "stylegan2", None, 64, 32),
)}

#: --smoke: sizes a CPU runs in seconds (the reference DCGAN networks are 64 px only; PatchGAN needs >= 32 px)
SMOKE: dict[str, dict[str, Any]] = {
    "dcgan": {"batch": 4},
    "wgangp": {"batch": 2},
    "cyclegan": {"image_size": 32},
    "cyclegan_b4": {"batch": 2, "image_size": 32},
    "stylegan2": {"variant": "stylegan2_small", "title": "StyleGAN2 (stylegan2_shapes)", "batch": 4},
}

#: generator steps per timing: (GPU, CPU, smoke)
STEPS: dict[str, tuple[int, int, int]] = {
    "dcgan": (200, 10, 1), "wgangp": (50, 3, 1), "cyclegan": (100, 2, 1), "cyclegan_b4": (50, 1, 1),
    "stylegan2": (64, 16, 1),
}

#: per image-step, as issue 14 gives them: (variant, image size) -> FLOPs
ISSUE_FLOPS: dict[tuple[str, int], float] = {("dcgan", 64): 2.5e9, ("cyclegan", 256): 1.9e12}

# ------------------------------------------------------------------------------------------- settings
_EXACT = ["performance.channels_last=false", "performance.fused_optimizers=false", "performance.compile=false"]
ENGINE_SETTINGS: dict[str, list[str]] = {  # like for like with the reference's modes (its fp32: no cudnn.benchmark)
    "fp32": ['performance.precision="fp32"', "performance.cudnn_benchmark=false", *_EXACT],
    "tf32": ['performance.precision="tf32"', "performance.cudnn_benchmark=true", *_EXACT],
    "fast": ['performance.precision="auto"', 'performance.channels_last="auto"',
             'performance.fused_optimizers="auto"', 'performance.cudnn_benchmark="auto"', "performance.compile=true"],
}
#: the reference's modes that each setting runs
LOOP_MODES: dict[str, list[str]] = {"fp32": ["fp32"], "tf32": ["tf32"], "fast": ["bf16_cl", "bf16_cl_compile"]}
#: which peak a setting or mode is measured against
PRECISION: dict[str, str] = {"fp32": "fp32", "plain": "fp32", "tf32": "tf32", "fast": "bf16",
                             "bf16_cl": "bf16", "bf16_cl_compile": "bf16"}
TARGETS: dict[str, float] = {"fp32": 0.97, "tf32": 0.97, "fast": 2.0}

#: dense (no sparsity) peak TFLOP/s by device name; the first substring found wins
PEAKS: list[tuple[str, dict[str, float]]] = [
    ("H200 NVL", {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    ("H200", {"bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    ("H100 NVL", {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    ("H100 PCIe", {"bf16": 756.5, "tf32": 378.0, "fp32": 51.2}),
    ("H100", {"bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),  # SXM5: "NVIDIA H100 80GB HBM3"
    ("A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
]


def peak_tflops(device: torch.device, override: Optional[str]) -> dict[str, float]:
    """``{precision: dense peak TFLOP/s}``: ``--peak-tflops`` (one number, or ``bf16=989,tf32=495,...``), else
    the table by device name; empty on the CPU or an unknown device."""
    if override:
        if "=" not in override:
            return dict.fromkeys(("bf16", "tf32", "fp32"), float(override))
        return {k.strip(): float(v) for k, v in (item.split("=", 1) for item in override.split(","))}
    if device.type != "cuda":
        return {}
    name = torch.cuda.get_device_name(device).lower()
    return next((dict(p) for key, p in PEAKS if key.lower() in name), {})


# ------------------------------------------------------------------------------- global precision flags
@dataclass(frozen=True)
class Backends:
    """The process-wide flags a side's speed depends on."""
    matmul_tf32: bool
    cudnn_tf32: bool
    cudnn_benchmark: bool


def read_backends() -> Backends:
    return Backends(*cuda_float32_flags())


def write_backends(state: Backends) -> None:
    """Through the switches gancompose itself uses, which keep torch's legacy and new TF32 state in agreement
    (the reference loops set the legacy ones too)."""
    set_cuda_float32_flags(state.matmul_tf32, state.cudnn_tf32, state.cudnn_benchmark)


# ------------------------------------------------------------------------------------------------ sides
@dataclass
class Side:
    workload: str
    side: str                    # "engine" or "loop"
    setting: str                 # engine: fp32, tf32, fast or plain; loop: the reference's mode
    precision: str               # the peak it is measured against
    batch: int
    steps: Optional[Steps] = None
    backends: Optional[Backends] = None
    run: Any = None              # the engine's Run
    warmup_steps: int = 0
    warmup_s: Optional[float] = None
    times: list[float] = field(default_factory=list)
    error: Optional[str] = None
    note: str = ""

    def img_s(self, steps: int) -> Optional[float]:
        return self.batch * steps / statistics.median(self.times) if self.times and not self.error else None

    def compile_s(self, steps: int) -> Optional[float]:
        """Warm-up time beyond what its steps take once warm: compilation, autotuning, CUDA graph capture."""
        if self.warmup_s is None or not self.times or self.error:
            return None
        return max(0.0, self.warmup_s - self.warmup_steps * statistics.median(self.times) / steps)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:240]}"


def load_reference(path: Path) -> Optional[ModuleType]:
    if not path.is_file():
        print(f"reference loops: {path} not found; the loop side is skipped (--reference PATH)")
        return None
    spec = importlib.util.spec_from_file_location("reference_loops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_has_performance() -> bool:
    """Whether recipes take a [performance] section (``gancompose validate --set performance.precision=...``)."""
    try:
        load_recipe(RECIPES / "dcgan_shapes.toml", ['performance.precision="fp32"'])
        return True
    except RecipeError:
        return False


def engine_overrides(setting: str, wl: Workload, device: torch.device, backend: Optional[str]) -> list[str]:
    if setting == "plain":
        return []
    out = list(ENGINE_SETTINGS[setting])
    if setting == "fast":
        if wl.cuda_graphs and device.type == "cuda":
            out.append("performance.cuda_graphs=true")
        if backend:
            out.append(f'performance.compile_backend="{backend}"')
    return out


def build_engine(side: Side, wl: Workload, device: torch.device, backend: Optional[str]) -> None:
    _, _, recipe = engine_recipe(wl.variant, str(device), wl.batch, wl.image_size,
                                 engine_overrides(side.setting, wl, device, backend))
    side.run = build_run(recipe)
    side.steps = engine_runner(side.run)
    perf = getattr(side.run, "performance", None)
    if perf is not None:
        side.precision = perf.precision
        side.note = perf.describe()


def build_loop(side: Side, wl: Workload, ref: ModuleType, device: torch.device, backend: Optional[str]) -> None:
    """The reference's step in one of its modes, set up as its ``bench()`` does."""
    mode = side.setting
    make = ref.MAKERS[wl.reference][0]
    sized = "size" in inspect.signature(make).parameters
    if not sized and wl.image_size != 64:
        raise ValueError(f"the reference {wl.reference} networks are 64 px only (asked {wl.image_size})")
    torch.manual_seed(0)
    nets, step = make(str(device), wl.batch, **({"size": wl.image_size} if sized else {}))
    amp = channels_last = mode in ("bf16_cl", "bf16_cl_compile")
    if channels_last:
        for net in nets:
            net.to(memory_format=torch.channels_last)
    if mode == "bf16_cl_compile":
        for net in nets:
            net.forward = torch.compile(net.forward, **({"backend": backend} if backend else {}))

    def steps(n: int) -> None:
        for _ in range(n):
            step(amp, channels_last)
    side.steps = steps
    bf16 = "bf16 autocast" if device.type == "cuda" else "no autocast (the reference's is CUDA's)"
    side.note = {"fp32": "fp32", "tf32": "TF32, cudnn.benchmark", "bf16_cl": f"{bf16}, channels_last",
                 "bf16_cl_compile": f"{bf16}, channels_last, compiled forwards"}.get(mode, mode)


def loop_flags(mode: str) -> Backends:
    fast = mode != "fp32"  # the reference's bench(): TF32 and cudnn.benchmark in every mode but fp32
    return Backends(fast, fast, fast)


class _TotalOnly:
    """FlopCounterMode's module tracker reduced to the total. The real one hooks each module's backward,
    which ``autograd.grad`` with ``create_graph`` (gradient penalty, R1, path length) refuses: "A leaf node
    was passed to _will_engine_execute_node but we are currently running autograd.grad()"."""
    parents = ("Global",)

    def __enter__(self) -> "_TotalOnly":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def count_flops(steps: Steps, n: int) -> float:
    """FLOPs of ``n`` steps by FlopCounterMode's formulas (matmuls and convolutions, forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _TotalOnly()
    with counter:
        steps(n)
    return float(counter.get_total_flops())


def lazy_period(recipe) -> int:
    """Steps after which the recipe's lazy regularizers (``every``) have all fired in proportion."""
    period = 1
    for reg in recipe.regularizers:
        period = math.lcm(period, int(getattr(reg, "every", 1) or 1))
    return period


# --------------------------------------------------------------------------------------------- workload
@dataclass
class Result:
    wl: Workload
    steps: int
    sides: list[Side]
    flops_engine: Optional[float] = None  # per image
    flops_loop: Optional[float] = None
    note: str = ""


def run_workload(wl: Workload, a: argparse.Namespace, device: torch.device, ref: Optional[ModuleType],
                 engine_settings: list[str], defaults: Backends) -> Result:
    sync = synchronizer(device)
    try:
        period = lazy_period(engine_recipe(wl.variant, str(device), wl.batch, wl.image_size)[2])
    except Exception as exc:  # noqa: BLE001 - the other workloads still run
        return Result(wl, 0, [], note=f"error: {_error(exc)}")
    steps = a.steps or STEPS[wl.name][2 if a.smoke else 1 if device.type == "cpu" else 0]
    steps = -(-steps // period) * period  # whole periods of the lazy regularizers in every timing
    warmup = a.warmup if a.warmup is not None else (1 if device.type == "cpu" else max(5, period))
    result = Result(wl, steps, [])
    if period > 1:
        result.note = f"steps rounded to whole periods of the lazy regularizers ({period})"

    sides: list[Side] = []
    for setting in a.settings:
        if setting in engine_settings:
            sides.append(Side(wl.name, "engine", setting, PRECISION[setting], wl.batch))
        if ref is not None and wl.reference is not None:
            sides += [Side(wl.name, "loop", mode, PRECISION[mode], wl.batch) for mode in LOOP_MODES[setting]]
    if "plain" in engine_settings:
        sides.insert(0, Side(wl.name, "engine", "plain", "fp32", wl.batch))
    result.sides = sides

    for side in sides:  # build each from the process defaults; keep the flags it set up for its timings
        write_backends(defaults)
        try:
            if side.side == "engine":
                build_engine(side, wl, device, a.compile_backend)
                side.backends = read_backends()
            else:
                build_loop(side, wl, ref, device, a.compile_backend)
                side.backends = loop_flags(side.setting)
        except Exception as exc:  # noqa: BLE001 - one side failing must not stop the others
            side.error = _error(exc)

    # FLOPs per image: the engine's fp32 (or plain) step and the loop's fp32 step, counted before any warm-up
    for who, pick in (("engine", ("fp32", "plain")), ("loop", ("fp32",))):
        side = next((s for s in sides if s.side == who and s.setting in pick and not s.error), None)
        if side is None and who == "engine":  # no fp32 engine side timed: a build of its own, for the count
            side = Side(wl.name, "engine", "plain" if "plain" in engine_settings else "fp32", "fp32", wl.batch)
            try:
                build_engine(side, wl, device, a.compile_backend)
            except Exception as exc:  # noqa: BLE001
                print(f"  {wl.name}: FLOP count skipped ({_error(exc)})")
                side = None
        if side is None:
            continue
        write_backends(side.backends or defaults)
        n = period if who == "engine" else 1
        try:
            per_image = count_flops(side.steps, n) / (n * wl.batch)
        except Exception as exc:  # noqa: BLE001
            print(f"  {wl.name}: {who} FLOP count failed ({_error(exc)})")
            continue
        if who == "engine":
            result.flops_engine = per_image
        else:
            result.flops_loop = per_image

    live = [s for s in sides if not s.error]
    for side in live:  # warm-up: compilation, autotuning, CUDA graph capture, allocator, first touch
        write_backends(side.backends)
        side.warmup_steps = warmup
        try:
            side.warmup_s = timed(side.steps, warmup, sync)
        except Exception as exc:  # noqa: BLE001
            side.error = _error(exc)
    for _ in range(a.repeats):  # alternate the sides so drift in machine load hits all of them
        for side in sides:
            if side.error:
                continue
            write_backends(side.backends)
            try:
                side.times.append(timed(side.steps, steps, sync))
            except Exception as exc:  # noqa: BLE001
                side.error = _error(exc)
    for side in sides:
        fallbacks = getattr(getattr(side.run, "compiled", None), "fallbacks", None)
        if fallbacks:
            side.note += "; eager again: " + ", ".join(f"{k} ({v[:80]})" for k, v in fallbacks.items())
        side.steps = side.run = None
    write_backends(defaults)
    return result


# ---------------------------------------------------------------------------------------------- report
def _fmt(x: Optional[float], spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    return num / den if num and den else None


def ratios(r: Result, engine_settings: list[str]) -> dict[str, dict[str, Any]]:
    """engine/loop at fp32 and tf32 (like for like) and engine fast / the loop's best setting."""
    def ips(side: str, setting: str) -> Optional[float]:
        s = next((s for s in r.sides if s.side == side and s.setting == setting), None)
        return s.img_s(r.steps) if s else None

    out: dict[str, dict[str, Any]] = {}
    fp32_engine = "fp32" if "fp32" in engine_settings else "plain"
    out["fp32"] = {"engine": fp32_engine, "loop": "fp32",
                   "ratio": _ratio(ips("engine", fp32_engine), ips("loop", "fp32"))}
    out["tf32"] = {"engine": "tf32", "loop": "tf32", "ratio": _ratio(ips("engine", "tf32"), ips("loop", "tf32"))}
    loops = [(s.img_s(r.steps), s.setting) for s in r.sides if s.side == "loop" and s.img_s(r.steps)]
    best = max(loops) if loops else (None, None)
    out["fast"] = {"engine": "fast", "loop": best[1], "ratio": _ratio(ips("engine", "fast"), best[0])}
    for key, row in out.items():
        row["target"] = TARGETS[key]
    return out


def print_table(title: str, headers: list[str], rows: list[list[str]], plain: bool) -> None:
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if not plain:
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(headers):
            table.add_column(h, justify="left" if i < 3 or h in ("note", "vs") else "right", overflow="fold")
        for row in rows:
            table.add_row(*row)
        Console(width=max(140, Console().width)).print(table)
        return
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


Table = tuple[str, list[str], list[list[str]]]  # title, headers, rows


def tables(results: list[Result], peaks: dict[str, float], settings: list[str],
           engine_settings: list[str]) -> list[Table]:
    """The report's three tables: throughput, ratios against the loop, FLOPs per image-step."""
    out: list[Table] = []
    rows = []
    for r in results:
        for s in r.sides:
            ips = s.img_s(r.steps)
            tflops = ips * r.flops_engine / 1e12 if ips and r.flops_engine else None
            peak = peaks.get(s.precision)
            share = f"{100 * tflops / peak:.1f}" if tflops and peak else "n/a"
            rows.append([r.wl.name, s.side, s.setting, f"{s.batch}x{r.wl.image_size}px", _fmt(ips, ".1f"),
                         _fmt(tflops, ".3f"), share, _fmt(s.warmup_s, ".1f"), _fmt(s.compile_s(r.steps), ".1f"),
                         f"error: {s.error}" if s.error else s.note])
    out.append(("Throughput (median of the repeats; TFLOP/s from each workload's FLOPs per image)",
                ["workload", "side", "setting", "batch", "img/s", "TFLOP/s", "% peak", "warm-up s", "compile s",
                 "note"], rows))

    rows = []
    for r in results:
        if not any(s.side == "loop" for s in r.sides):
            rows.append([r.wl.name, "no loop side", "-", "-", "-"])
            continue
        for key, row in ratios(r, engine_settings).items():
            if key not in settings:
                continue
            ratio = row["ratio"]
            verdict = "-" if ratio is None else ("ok" if ratio >= row["target"] else "below")
            rows.append([r.wl.name, f"engine {row['engine']} / loop {row['loop'] or '-'}",
                         _fmt(ratio, ".3f"), f">= {row['target']:g}", verdict])
    out.append(("Ratios", ["workload", "engine / loop", "ratio", "target", "vs"], rows))

    rows = []
    for r in results:
        issue = ISSUE_FLOPS.get((r.wl.variant, r.wl.image_size))
        rows.append([r.wl.name, f"{r.wl.image_size}px", _fmt(r.flops_engine and r.flops_engine / 1e9, ".3f"),
                     _fmt(r.flops_loop and r.flops_loop / 1e9, ".3f"), _fmt(issue and issue / 1e9, ".1f"),
                     _fmt(_ratio(r.flops_engine, issue), ".2f"), r.note])
    out.append(("FLOPs per image-step (FlopCounterMode, forward + backward of every phase)",
                ["workload", "size", "engine GFLOP", "loop GFLOP", "issue GFLOP", "engine / issue", "note"],
                rows))
    return out


def to_markdown(report_tables: list[Table], heading: str) -> str:
    """The tables as Markdown, under a line saying when, where and with which torch they were measured (what
    docs/performance.md keeps)."""
    lines = [heading, ""]
    for title, headers, rows in report_tables:
        lines += [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def to_json(results: list[Result], meta: dict[str, Any], engine_settings: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {**meta, "workloads": {}}
    for r in results:
        out["workloads"][r.wl.name] = {
            "title": r.wl.title, "recipe": str(recipe_for(r.wl.variant)[0].name), "batch": r.wl.batch,
            "image_size": r.wl.image_size, "steps_per_timing": r.steps,
            "flops_per_image": {"engine": r.flops_engine, "loop": r.flops_loop,
                                "issue": ISSUE_FLOPS.get((r.wl.variant, r.wl.image_size))},
            "sides": [{"side": s.side, "setting": s.setting, "precision": s.precision, "img_s": s.img_s(r.steps),
                       "tflops": (s.img_s(r.steps) or 0) * (r.flops_engine or 0) / 1e12 or None,
                       "peak_tflops": meta["peak_tflops"].get(s.precision),
                       "per_repeat_img_s": [s.batch * r.steps / t for t in s.times],
                       "warmup_steps": s.warmup_steps, "warmup_s": s.warmup_s, "compile_s": s.compile_s(r.steps),
                       "note": s.note, "error": s.error} for s in r.sides],
            "ratios": ratios(r, engine_settings), "note": r.note,
        }
    return out


# ------------------------------------------------------------------------------------------------- main
def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--which", default=",".join(WORKLOADS), help=f"workloads, from {','.join(WORKLOADS)}")
    ap.add_argument("--settings", default=None, help="from fp32,tf32,fast (default all three; smoke fp32,fast)")
    ap.add_argument("--steps", type=int, default=None,
                    help="generator steps per timing (default: GPU 200 DCGAN, 50 WGAN-GP, 100/50 CycleGAN b1/b4, "
                         "64 StyleGAN2; fewer on the CPU)")
    ap.add_argument("--repeats", type=int, default=None, help="alternating timings of each side (default 5; smoke 2)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps per side first (default GPU 5, CPU 1)")
    ap.add_argument("--image-size", type=int, default=None, help="one image size for every workload")
    ap.add_argument("--batch-size", type=int, default=None, help="one batch size for every workload")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny batches and sizes, 1 step, 2 repeats, settings fp32,fast, compile backend 'eager': "
                         "checks the whole script on a CPU in about a minute or two")
    ap.add_argument("--compile-backend", default=None,
                    help="torch.compile backend of both sides (default: inductor; with --smoke: eager)")
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the hand-written loops' file")
    ap.add_argument("--peak-tflops", default=None, help="dense peak: one number, or bf16=..,tf32=..,fp32=..")
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    ap.add_argument("--plain", action="store_true", help="plain-text tables instead of rich")
    ap.add_argument("--markdown", type=Path, default=None,
                    help="also write the tables as Markdown, headed by the date, device and torch version")
    a = ap.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda, but torch sees no CUDA device")
    a.settings = a.settings or ("fp32,fast" if a.smoke else "fp32,tf32,fast")
    a.compile_backend = a.compile_backend or ("eager" if a.smoke else None)
    a.repeats = a.repeats or (2 if a.smoke else 5)
    a.which = [w.strip() for w in a.which.split(",") if w.strip()]
    a.settings = [s.strip() for s in a.settings.split(",") if s.strip()]
    for w in a.which:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}")
    for s in a.settings:
        if s not in ENGINE_SETTINGS:
            ap.error(f"unknown setting {s!r}; known: {', '.join(ENGINE_SETTINGS)}")
    return a


def workload(name: str, a: argparse.Namespace) -> Workload:
    wl = WORKLOADS[name]
    if a.smoke:
        wl = dataclasses.replace(wl, **SMOKE[name])
    if a.image_size:
        wl = dataclasses.replace(wl, image_size=a.image_size)
    if a.batch_size:
        wl = dataclasses.replace(wl, batch=a.batch_size)
    return wl


def main(argv: Optional[list[str]] = None) -> None:
    a = parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cpu":  # the reference's bf16 modes ask for CUDA autocast: a warning per step otherwise
        warnings.filterwarnings("ignore", message="CUDA is not available.*autocast")
    defaults = read_backends()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu x{torch.get_num_threads()} threads"
    peaks = peak_tflops(device, a.peak_tflops)
    ref = load_reference(a.reference)
    engine_settings = list(a.settings) if engine_has_performance() else ["plain"]
    print(f"torch {torch.__version__} on {where}; peak TFLOP/s (dense): "
          f"{', '.join(f'{k} {v:g}' for k, v in peaks.items()) or 'n/a'}")
    print(f"reference loops: {a.reference if ref else 'none'}; engine settings: {', '.join(engine_settings)}"
          + ("" if "plain" not in engine_settings else
             " (recipes take no [performance] section yet: the engine runs each recipe as it is)"))
    results = []
    for name in a.which:
        wl = workload(name, a)
        t0 = time.perf_counter()
        print(f"{wl.name}: {wl.title} {wl.image_size}px, batch {wl.batch} ...", flush=True)
        results.append(run_workload(wl, a, device, ref, engine_settings, defaults))
        print(f"{wl.name}: done in {time.perf_counter() - t0:.1f} s", flush=True)
        gc.collect()
        if "torch._dynamo" in sys.modules:  # fresh compile caches (and recompile limits) for the next workload
            torch._dynamo.reset()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report_tables = tables(results, peaks, a.settings, engine_settings)
    for table in report_tables:
        print_table(*table, a.plain)
    if a.markdown:
        heading = (f"Measured {datetime.date.today().isoformat()} on {where}, torch {torch.__version__} "
                   f"(`python bench/speed.py {' '.join(argv if argv is not None else sys.argv[1:])}`)")
        a.markdown.write_text(to_markdown(report_tables, heading))
        print(f"wrote {a.markdown}")
    if a.json:
        meta = {"torch": torch.__version__, "device": where, "peak_tflops": peaks,
                "reference": str(a.reference) if ref else None, "engine_settings": engine_settings,
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}}
        a.json.write_text(json.dumps(to_json(results, meta, engine_settings), indent=1))
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
