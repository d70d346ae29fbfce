"""Loss and metric curves of a run as PNG, and a markdown summary of the run: ``gancompose plot RUN_DIR``.

Drawn with Pillow (already a dependency; its bundled TrueType font needs no download) rather than
matplotlib, which would add a ~40 MB dependency tree for a few line charts.

Writes ``RUN_DIR/plots/losses.png`` (every loss logged in metrics.jsonl, one panel), ``plots/metrics.png``
(one panel per metric value from ``[[metrics]]``) and ``RUN_DIR/summary.md`` showing them with the latest
sample grid, the latest mode-coverage scatter plot, the final values and any ``gancompose eval`` results.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from rich.markup import escape

from gancompose.commands.context import err_console
from gancompose.errors import GancomposeError

#: metrics.jsonl keys that are counters or timings, not curves
NOT_LOSSES = {"step", "images_seen", "sec_per_step", "img_per_s"}
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

Series = dict[str, tuple[list[float], list[float]]]


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run
    return out


def split_series(records: list[dict]) -> tuple[Series, Series]:
    """(losses, metrics): loss lines carry ``images_seen``; ``[[metrics]]`` lines carry ``name/key`` values."""
    losses: Series = {}
    metrics: Series = {}
    for r in records:
        target = losses if "images_seen" in r else metrics
        for k, v in r.items():
            if k in NOT_LOSSES or not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            xs, ys = target.setdefault(k, ([], []))
            xs.append(float(r.get("step", len(xs))))
            ys.append(float(v))
    return losses, metrics


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


def line_chart(series: Series, title: str, size: tuple[int, int] = (720, 420)):
    """A PIL image: the series as coloured lines over step, with axes, ticks and a legend."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default(size=12)
    big = ImageFont.load_default(size=15)
    w, h = size
    left, right, top, bottom = 64, 16, 34, 40
    legend_rows = math.ceil(len(series) / 3)
    bottom += 16 * legend_rows
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.text((left, 8), title, fill=(0, 0, 0), font=big)
    xs_all = [x for xs, _ in series.values() for x in xs]
    ys_all = [y for _, ys in series.values() for y in ys]
    if not xs_all:
        d.text((left, h // 2), "no data", fill=(120, 120, 120), font=font)
        return img
    x0, x1 = min(xs_all), max(xs_all)
    y0, y1 = min(ys_all), max(ys_all)
    if x1 == x0:
        x1 = x0 + 1
    pad = (y1 - y0) * 0.05 or abs(y0) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = w - left - right, h - top - bottom

    def px(x, y):
        return left + (x - x0) / (x1 - x0) * pw, top + (1 - (y - y0) / (y1 - y0)) * ph

    for t in _nice_ticks(y0, y1):
        _, y = px(x0, t)
        d.line([(left, y), (left + pw, y)], fill=(235, 235, 235))
        d.text((left - 6, y), _fmt(t), fill=(60, 60, 60), font=font, anchor="rm")
    for t in _nice_ticks(x0, x1):
        x, _ = px(t, y0)
        d.line([(x, top), (x, top + ph)], fill=(235, 235, 235))
        d.text((x, top + ph + 4), _fmt(t), fill=(60, 60, 60), font=font, anchor="ma")
    d.rectangle([left, top, left + pw, top + ph], outline=(90, 90, 90))
    d.text((left + pw, top + ph + 18), "step", fill=(60, 60, 60), font=font, anchor="ra")
    for i, (name, (xs, ys)) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = [px(x, y) for x, y in zip(xs, ys)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for x, y in pts if len(pts) <= 40 else []:
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        lx = left + (i % 3) * (pw // 3)
        ly = h - 16 * legend_rows - 4 + 16 * (i // 3)
        d.line([(lx, ly + 7), (lx + 18, ly + 7)], fill=colour, width=3)
        d.text((lx + 24, ly), name[:40], fill=(0, 0, 0), font=font)
    return img


def small_multiples(panels: dict[str, Series], title: str, panel: tuple[int, int] = (360, 260), columns: int = 3):
    """One line chart per panel, titled by its name, in a grid under ``title`` (for series whose scales differ:
    modes, FID, shares). A panel is a :data:`Series` of one or more lines."""
    from PIL import Image, ImageDraw, ImageFont
    names = list(panels)
    cols = max(1, min(columns, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    img = Image.new("RGB", (panel[0] * cols, panel[1] * rows + 30), "white")
    ImageDraw.Draw(img).text((10, 8), title, fill=(0, 0, 0), font=ImageFont.load_default(size=16))
    for i, name in enumerate(names):
        img.paste(line_chart(panels[name], name, panel), ((i % cols) * panel[0], 30 + (i // cols) * panel[1]))
    return img


def latest(folder: Path, pattern: str) -> Path | None:
    files = sorted(folder.glob(pattern))
    return files[-1] if files else None


def plot_run(run_dir: str | Path) -> dict[str, Path]:
    """Write the curves and the summary of a run folder; returns what was written, by name."""
    run_dir = Path(run_dir)
    records = read_jsonl(run_dir / "metrics.jsonl")
    if not (run_dir / "metrics.jsonl").is_file():
        raise GancomposeError(f"{run_dir} is not a run folder: it has no metrics.jsonl",
                              hint="give the folder a run wrote, e.g. runs/vanilla_gan_ring/20250101-120000")
    losses, metrics = split_series(records)
    out: dict[str, Path] = {}
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    if losses:
        out["losses"] = plots / "losses.png"
        line_chart(losses, f"losses: {run_dir.parent.name}/{run_dir.name}").save(out["losses"])
    if metrics:
        out["metrics"] = plots / "metrics.png"
        panels = {k: {k: v} for k, v in metrics.items()}  # one line per panel
        small_multiples(panels, f"metrics: {run_dir.parent.name}/{run_dir.name}").save(out["metrics"])
    out["summary"] = write_summary(run_dir, records, out)
    return out


def _table(rows: list[tuple[str, str]], head: tuple[str, str] = ("", "")) -> list[str]:
    return [f"| {head[0]} | {head[1]} |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]]


def write_summary(run_dir: Path, records: list[dict], plots: dict[str, Path]) -> Path:
    """RUN_DIR/summary.md: what ran, the final values, the curves and the latest samples (relative links)."""
    lines = [f"# {run_dir.parent.name} / {run_dir.name}", ""]
    recipe = run_dir / "recipe.toml"
    if recipe.is_file():
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            desc = tomllib.loads(recipe.read_text()).get("description", "")
        except Exception:  # a summary must not fail on an odd recipe file
            desc = ""
        if desc:
            lines += [desc, ""]
    logs = [r for r in records if "images_seen" in r]
    if logs:
        last = logs[-1]
        lines += [f"Trained {last['step']} steps, {last['images_seen']} images"
                  + (f", {last['img_per_s']:.0f} img/s at the end." if "img_per_s" in last else "."), ""]
    finals: dict[str, tuple[int, float]] = {}
    for r in records:
        if "images_seen" not in r:
            for k, v in r.items():
                if k != "step":
                    finals[k] = (r.get("step"), v)
    if finals:
        lines += ["## Metrics (last evaluation)", ""]
        lines += _table([(k, f"{v:.4g} (step {s})") for k, (s, v) in finals.items()], ("metric", "value")) + [""]
    evals = read_jsonl(run_dir / "eval.jsonl")
    if evals:
        lines += ["## gancompose eval", ""]
        for e in evals:
            vals = ", ".join(f"{m}/{k} {v:.4g}" for m, d in e.get("metrics", {}).items() for k, v in d.items())
            lines.append(f"- {Path(e.get('checkpoint', '?')).name} (step {e.get('step')}): {vals}")
        lines.append("")
    for key, caption in (("losses", "Losses"), ("metrics", "Metrics")):
        if key in plots:
            lines += [f"## {caption}", "", f"![{caption.lower()}]({plots[key].relative_to(run_dir).as_posix()})", ""]
    grid = latest(run_dir / "samples", "step_*.png")
    if grid is not None:
        lines += ["## Latest samples", "", f"![samples]({grid.relative_to(run_dir).as_posix()})", ""]
    modes = latest(run_dir / "samples", "modes_step_*.png")
    if modes is not None:
        lines += ["## Mode coverage", "", f"![modes]({modes.relative_to(run_dir).as_posix()})", ""]
    path = run_dir / "summary.md"
    path.write_text("\n".join(lines))
    return path


__all__ = ["plot_run", "line_chart", "split_series", "write_summary"]


def plot_command(run_dir):
    """``gancompose plot``: write the curves and the summary, saying where."""
    for name, path in plot_run(run_dir).items():
        err_console.print(f"wrote {name}: {escape(str(path))}", soft_wrap=True)
