"""The report of a sweep: ``report.json`` (every run), ``report.md`` (a table per dataset: mean ± sample std and n
per metric over the finished runs, reference rows, the runs, the curves and the samples), ``curves/*.png`` and
``samples/*.png``. The charts are drawn with Pillow through gancompose.commands.plots (no matplotlib needed)."""
from __future__ import annotations

import json
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

from gancompose_compare.layout import atomic_write_json, atomic_write_text

#: how known metric values are shown: key -> (column title, scale, direction: +1 higher is better, -1 lower)
DISPLAY: dict[str, tuple[str, float, int]] = {
    "mode_coverage/modes": ("modes", 1.0, +1),
    "mode_coverage/high_quality": ("high quality %", 100.0, +1),
    "mode_coverage/reverse_kl": ("reverse KL", 1.0, -1),
    "fid/value": ("FID", 1.0, -1),
    "kid/mean": ("KID", 1.0, -1),
    "kid/std": ("KID std (within run)", 1.0, 0),
    "inception_score/mean": ("IS", 1.0, +1),
    "inception_score/std": ("IS std (within run)", 1.0, 0),
    "precision_recall/precision": ("precision", 1.0, +1),
    "precision_recall/recall": ("recall", 1.0, +1),
    "class_accuracy/accuracy": ("class accuracy", 1.0, +1),
    "class_accuracy/worst_class": ("worst class", 1.0, +1),
}
#: run statuses left out of the means, with what the report says about them
EXCLUDED = ("interrupted", "failed", "diverged", "not started")


def display(key: str) -> tuple[str, float, int]:
    return DISPLAY.get(key, (key, 1.0, 0))


def stats(values: Sequence[float]) -> dict:
    """mean, sample standard deviation (n - 1; 0 for a single value) and n of the finite values."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "n": len(vals)}


def decimals(x: float) -> int:
    x = abs(x)
    return 1 if x >= 10 else 2 if x >= 1 else 3


def fmt(x: float | None, digits: int | None = None) -> str:
    if x is None:
        return "–"
    return f"{x:.{decimals(x) if digits is None else digits}f}"


def fmt_mean_std(mean: float, std: float) -> str:
    d = decimals(mean)
    return f"{mean:.{d}f} ± {std:.{d}f}"


# ------------------------------------------------------------------------------------------- references
def plugin_reference_files(registry=None) -> list[tuple[str, Path]]:
    """``references.toml`` at the top of every loaded plugin's package (this plugin's PacGAN rows, a third-party
    family's paper table), as ``(module/references.toml, path)``, in the registry's order of modules."""
    import importlib.util
    from gancompose.registry import default_registry
    out = []
    for module in (registry or default_registry()).modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):  # a plugin that fails to import is reported by the registry
            continue
        for entry in (spec.submodule_search_locations or []) if spec is not None else []:
            path = Path(entry) / "references.toml"
            if path.is_file():
                out.append((f"{module}/references.toml", path))
                break
    return out


def load_references(extra_files: Sequence[Path] = (), registry=None) -> list[dict]:
    """Reference rows: those the loaded plugins ship (:func:`plugin_reference_files`), then ``--reference``
    files."""
    from gancompose.recipe.load import tomllib
    from gancompose_compare.sweep import CompareError
    texts = [(where, path.read_text(encoding="utf-8")) for where, path in plugin_reference_files(registry)]
    for f in extra_files:
        try:
            texts.append((str(f), Path(f).read_text(encoding="utf-8")))
        except OSError as exc:
            raise CompareError(f"--reference {f}: {exc.strerror or exc}") from None
    out = []
    for where, text in texts:
        try:
            rows = tomllib.loads(text).get("reference", [])
        except tomllib.TOMLDecodeError as exc:
            raise CompareError(f"--reference {where}: not TOML: {exc}") from None
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get("label"), str) or \
                    not isinstance(row.get("values"), dict):
                raise CompareError(f"--reference {where}: [[reference]] {i + 1} needs a label and a values table",
                                   hint='label = "X (paper, Table 1)"\nvalues = { "fid/value" = 12.3 }\n'
                                        'match = { "data.type" = "image_folder" }')
            out.append({**row, "file": where})
    return out


def _lookup(values: dict, dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def matches(reference: dict, recipe) -> bool:
    values = json.loads(json.dumps(recipe.model_dump(mode="json"), default=str))
    for key, want in (reference.get("match") or {}).items():
        if _lookup(values, key) != want:
            return False
    return all(_lookup(values, key) is None for key in reference.get("unset", []))


# ----------------------------------------------------------------------------------------------- summary
def summarize(entries, runs: list[dict]) -> dict:
    out = {}
    for e in entries:
        mine = [r for r in runs if r["recipe"] == e.label]
        used = [r for r in mine if r["status"] == "finished" and r["metrics"]]
        keys: list[str] = []
        for r in used:
            keys += [k for k in r["metrics"] if k not in keys]
        counts = {s: sum(r["status"] == s for r in mine) for s in ("finished", *EXCLUDED)}
        out[e.label] = {
            "metrics": {k: {**stats([r["metrics"].get(k) for r in used]),
                            "seeds": [r["seed"] for r in used if k in r["metrics"]]} for k in keys},
            "counts": counts, "runs": len(mine),
            "wall_s_per_run": stats([r["wall_s"] for r in mine if r["status"] == "finished"])["mean"],
            "cpu_minutes_per_run": stats([r["cpu_minutes"] for r in mine if r["status"] == "finished"])["mean"],
        }
    return out


def versions() -> dict:
    import torch
    import gancompose
    return {"gancompose": gancompose.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}"}


def write(report_dir: Path, entries, runs: list[dict], settings, *, command: str, executor: str, outcome,
          references: list[dict]) -> dict[str, Path]:
    """Write report.json, the charts and report.md; returns what was written."""
    summary = summarize(entries, runs)
    refs = [{**{k: v for k, v in r.items() if k not in ("match", "unset")},
             "recipes": [e.label for e in entries if matches(r, e.recipe)]} for r in references]
    refs = [r for r in refs if r["recipes"]]
    images = {}
    try:
        images = draw(report_dir, entries, runs)
    except Exception as exc:  # noqa: BLE001 - charts are a convenience: the numbers are written regardless
        images = {"error": f"{type(exc).__name__}: {exc}"}
    data = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command, "report_dir": str(report_dir),
        "executor": executor, "seeds": list(settings.seeds), "overrides": list(settings.overrides),
        "extra_metrics": list(settings.extra_metrics), "vary_data": settings.vary_data,
        "threads_per_run": settings.threads, "versions": versions(),
        "sweep": {"jobs_run": outcome.jobs, "wall_s": round(outcome.wall_s, 3),
                  "stopped_by": _signame(outcome.stopped_by), "executor_errors": outcome.errors},
        "recipes": [{"label": e.label, "name": e.recipe.name, "file": str(e.file), "fingerprint": e.fingerprint,
                     "folder": str(e.folder), "metrics": e.metrics, "data_sample": e.data_sample,
                     "data": e.group_title, "description": getattr(e.recipe, "description", None)}
                    for e in entries],
        "runs": runs, "summary": summary, "references": refs,
        "images": {k: (str(v) if isinstance(v, Path) else v) for k, v in images.items()},
    }
    paths = {"report.json": atomic_write_json(report_dir / "report.json", data)}
    paths["report.md"] = atomic_write_text(report_dir / "report.md", markdown(report_dir, entries, runs, summary,
                                                                             refs, data, images))
    return paths


def _signame(signum) -> str | None:
    if signum is None:
        return None
    import signal
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


# ------------------------------------------------------------------------------------------------ markdown
def results_tables(entries, summary: dict, refs: list[dict]) -> list[str]:
    lines: list[str] = []
    groups: dict[str, list] = {}
    for e in entries:
        groups.setdefault(e.group, []).append(e)
    for members in groups.values():
        lines += [f"### {members[0].group_title}", ""]
        keys: list[str] = []
        for e in members:
            keys += [k for k in summary[e.label]["metrics"] if k not in keys]
        my_refs = [r for r in refs if any(e.label in r["recipes"] for e in members)]
        for r in my_refs:
            keys += [k for k in r["values"] if k not in keys]
        head = ["recipe", "n"] + [display(k)[0] + {1: " ↑", -1: " ↓", 0: ""}[display(k)[2]] for k in keys] + \
            ["left out", "min/run", "CPU min/run"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in my_refs:
            cells = [f"{r['label']}*", str(r.get("n", ""))]
            for k in keys:
                v = r["values"].get(k)
                cells.append("" if v is None else fmt(float(v) * display(k)[1]))
            lines.append("| " + " | ".join(cells + ["", "", ""]) + " |")
        best: dict[str, float] = {}
        for k in keys:
            direction = display(k)[2]
            means = [summary[e.label]["metrics"][k]["mean"] for e in members
                     if k in summary[e.label]["metrics"] and summary[e.label]["metrics"][k]["mean"] is not None]
            if direction and len(means) > 1:
                best[k] = max(means) if direction > 0 else min(means)
        for e in members:
            s = summary[e.label]
            n = s["counts"]["finished"]
            cells = [f"`{e.label}`", str(n)]
            for k in keys:
                m = s["metrics"].get(k)
                if m is None or m["mean"] is None:
                    cells.append("–")
                    continue
                scale = display(k)[1]
                text = fmt_mean_std(m["mean"] * scale, m["std"] * scale)
                if m["n"] != n:
                    text += f" (n={m['n']})"
                if k in best and m["mean"] == best[k]:
                    text = f"**{text}**"
                cells.append(text)
            left = [f"{s['counts'][st]} {st}" for st in EXCLUDED if s["counts"][st]]
            cells += [", ".join(left) or "–", fmt(s["wall_s_per_run"] / 60) if s["wall_s_per_run"] else "–",
                      fmt(s["cpu_minutes_per_run"]) if s["cpu_minutes_per_run"] else "–"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def markdown(report_dir: Path, entries, runs, summary, refs, data, images) -> str:
    seeds = data["seeds"]
    seed_text = f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    stopped = data["sweep"]["stopped_by"]
    lines = [f"# gancompose compare: {', '.join(e.label for e in entries)}", "",
             f"`{data['command']}`", "",
             f"Seeds {seed_text} ({len(seeds)} per recipe), {data['threads_per_run']} thread(s) per run, executor "
             f"{data['executor']}; {data['created']}; gancompose {data['versions']['gancompose']}, torch "
             f"{data['versions']['torch']}, {data['versions']['machine']}." + (
                 f" Overrides: `{' '.join('--set ' + o for o in data['overrides'])}`." if data["overrides"] else ""),
             ""]
    if stopped:
        lines += [f"> **The sweep was stopped by {stopped}.** Runs cut short are marked interrupted and left out of "
                  "the means; run the same command again to finish them (finished runs are reused).", ""]
    lines += ["## Results", "",
              "Mean ± sample standard deviation (n − 1) over the finished runs, n = their count; the final "
              "checkpoint of each run is evaluated with its recipe's `[[metrics]]`"
              + (f" and `{'`, `'.join(data['extra_metrics'])}`" if data["extra_metrics"] else "")
              + ". Interrupted, failed, diverged and unstarted runs are listed in *left out* and not averaged. "
                "↑/↓: higher/lower is better; the best mean of a column is in bold. min/run: wall minutes of "
                "training per finished run; CPU min/run: its CPU time.", ""]
    lines += results_tables(entries, summary, refs)
    if refs:
        lines += ["\\* reference rows, not measured here:", ""]
        seen = set()
        for r in refs:
            if (r["label"], r.get("source")) not in seen:
                seen.add((r["label"], r.get("source")))
                lines.append(f"- {r['label']}: {r.get('source', r['file'])}")
        lines.append("")
    lines += ["## Data and seeds", "",
              "`train.seed` sets each run's initial weights, latent draws, batch order and its evaluation's latents. "
              "The data sample itself:", ""]
    for e in entries:
        lines.append(f"- `{e.label}`: {e.data_sample}")
    keys = _all_keys(runs)
    head = ["recipe", "seed", "status", "step", *(_short(k) for k in keys), "wall s", "CPU min", "this time",
            "run folder"]
    lines += ["", "## Runs", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        status = r["status"] + (f" ({r['signal']})" if r.get("signal") and r["status"] != "finished" else "")
        if r.get("error") and r["status"] in ("failed", "diverged"):
            status += f": {r['error'][:120]}"
        if r.get("eval_error"):
            status += f"; not evaluated: {r['eval_error'][:120]}"
        step = ("–" if r.get("step") is None else str(r["step"])) + (f"/{r['total_steps']}" if r.get("total_steps")
                                                                    else "")
        vals = [_value(r["metrics"].get(k), display(k)[1]) for k in keys]
        now = "trained" if r["trained_now"] else ("evaluated" if r["evaluated_now"] else
                                                  "reused" if r["status"] != "not started" else "–")
        folder = Path(r["folder"]) / r["run_dir"] if r.get("run_dir") else Path(r["folder"])
        cells = [f"`{r['recipe']}`", str(r["seed"]), status.replace("|", "/"), step, *vals, f"{r['wall_s']:.0f}",
                 f"{r['cpu_minutes']:.2f}", now, _rel(folder, report_dir)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if isinstance(images.get("error"), str):
        lines += [f"(the charts could not be drawn: {images['error']})", ""]
    curves = [(k, v) for k, v in images.items() if k.startswith("curves/")]
    if curves:
        lines += ["## Curves", "", "Every loss and metric of the runs' metrics.jsonl over steps, one line per seed"
                  + ("; `curves/metrics_N.png`: the metrics of the recipes on the same data, mean over their finished "
                     "seeds" if any(k.startswith("curves/metrics") for k in images) else "") + ".", ""]
        for k, v in curves:
            lines += [f"![{k}]({_rel(v, report_dir)})", ""]
    grids = [(k, v) for k, v in images.items() if k.startswith("samples/")]
    if grids:
        lines += ["## Samples", "", "The final generator of each finished run (EMA weights where the recipe keeps "
                  "them), the same latents for every run; 2-D data: samples over the modes (red: 3 std), blue = "
                  "high quality.", ""]
        for k, v in grids:
            lines += [f"![{k}]({_rel(v, report_dir)})", ""]
    lines += ["## Files", "",
              "`report.json` holds every run's numbers, seed, status, steps, wall time and CPU minutes; the runs are "
              "under `runs/NAME/FINGERPRINT/seed_S/` (see `gancompose compare --help`).", ""]
    return "\n".join(lines)


def _value(v, scale: float) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        return "–" if v is None else str(v)
    v = v * scale
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e9 else fmt(v)


def _short(key: str) -> str:
    return display(key)[0]


def _all_keys(runs) -> list[str]:
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r["metrics"] if k not in keys]
    return keys


def _rel(path, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        return str(path)


# -------------------------------------------------------------------------------------------------- charts
def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def draw(report_dir: Path, entries, runs: list[dict]) -> dict[str, Path]:
    from PIL import Image, ImageDraw, ImageFont
    from gancompose.commands.plots import read_jsonl, small_multiples, split_series
    out: dict[str, Path] = {}
    curves_dir, samples_dir = report_dir / "curves", report_dir / "samples"
    per_recipe_metric: dict[str, dict[str, dict[int, list[float]]]] = {}
    for e in entries:
        mine = [r for r in runs if r["recipe"] == e.label and r.get("run_dir")]
        panels: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
        for r in mine:
            records = read_jsonl(Path(r["folder"]) / r["run_dir"] / "metrics.jsonl")
            losses, metrics = split_series(records)
            tag = f"seed {r['seed']}" + ("" if r["status"] == "finished" else f" ({r['status']})")
            for k, series in {**losses, **metrics}.items():
                panels.setdefault(k, {})[tag] = series
            if r["status"] == "finished":
                for k, (xs, ys) in metrics.items():
                    acc = per_recipe_metric.setdefault(k, {}).setdefault(e.label, {})
                    for x, y in zip(xs, ys):
                        acc.setdefault(int(x), []).append(y)
        if panels:
            curves_dir.mkdir(parents=True, exist_ok=True)
            path = curves_dir / f"{_safe(e.label)}.png"
            small_multiples(panels, f"{e.label}: {len(mine)} run(s)", (420, 300)).save(path)
            out[f"curves/{e.label}"] = path
    groups: dict[str, list] = {}
    for e in entries:
        groups.setdefault(e.group, []).append(e)
    for i, members in enumerate(g for g in groups.values() if len(g) > 1):
        labels = {e.label for e in members}
        panels = {}
        for k, by_recipe in per_recipe_metric.items():
            for label, points in by_recipe.items():
                if label not in labels:
                    continue
                n = max(len(v) for v in points.values())
                steps = sorted(s for s, v in points.items() if len(v) == n)  # steps every finished seed reached
                panels.setdefault(k, {})[label] = (steps, [statistics.fmean(points[s]) for s in steps])
        if panels:
            curves_dir.mkdir(parents=True, exist_ok=True)
            path = curves_dir / f"metrics_{i + 1}.png"
            small_multiples(panels, f"{members[0].group_title}: metrics during training, mean over seeds",
                            (420, 300)).save(path)
            out[f"curves/metrics: {members[0].group_title}"] = path
    font = ImageFont.load_default(size=14)
    for e in entries:
        mine = [r for r in runs if r["recipe"] == e.label and r.get("samples")]
        if not mine:
            continue
        tiles = []
        for r in mine:
            img = Image.open(r["samples"]).convert("RGB")
            scale = 256 / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                             Image.NEAREST if scale >= 1 else Image.BILINEAR)
            tiles.append((f"seed {r['seed']}", img))
        w = sum(t.width for _, t in tiles) + 8 * (len(tiles) + 1)
        h = max(t.height for _, t in tiles) + 30 + 8 + 22
        sheet = Image.new("RGB", (w, h), "white")
        d = ImageDraw.Draw(sheet)
        d.text((8, 6), e.label, fill=(0, 0, 0), font=ImageFont.load_default(size=16))
        x = 8
        for caption, t in tiles:
            sheet.paste(t, (x, 30 + 22))
            d.text((x, 30), caption, fill=(40, 40, 40), font=font)
            x += t.width + 8
        samples_dir.mkdir(parents=True, exist_ok=True)
        path = samples_dir / f"{_safe(e.label)}.png"
        sheet.save(path)
        out[f"samples/{e.label}"] = path
    for folder in (curves_dir, samples_dir):  # the charts of an earlier report that this one has not redrawn
        for old in folder.glob("*.png") if folder.is_dir() else ():
            if old not in out.values():
                old.unlink(missing_ok=True)
    return out
