"""The benchmark scripts run end to end (tiny sizes on the CPU) and produce what a GPU session needs: every side
built and timed without error, ratios and FLOP counts filled in, the JSON and the Markdown table for
docs/performance.md. Timings themselves are not asserted: speed is measured by bench/, not by tests."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

REFERENCE = ROOT.parent / "shared" / "bench" / "reference_loops.py"


def _bench(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_engine_vs_loop_reports_both_sides_and_the_ratio():
    proc = _bench("bench/engine_vs_loop.py", "--device", "cpu", "--variant", "wgangp", "--steps", "2",
                  "--repeats", "1", "--batch-size", "4", "--image-size", "32")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["variant"] == "wgangp" and figures["engine_img_s"] > 0 and figures["loop_img_s"] > 0
    assert figures["ratio"] == pytest.approx(figures["engine_img_s"] / figures["loop_img_s"])  # one pair
    assert figures["ratio_of_medians"] == pytest.approx(figures["ratio"])


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the hand-written reference loops live in ../shared/bench")
def test_speed_builds_every_side_counts_flops_and_writes_json_and_markdown(tmp_path):
    out_json, out_md = tmp_path / "speed.json", tmp_path / "speed.md"
    _bench("bench/speed.py", "--device", "cpu", "--smoke", "--which", "dcgan", "--repeats", "1", "--plain",
           "--json", str(out_json), "--markdown", str(out_md))
    dcgan = json.loads(out_json.read_text())["workloads"]["dcgan"]
    sides = {(s["side"], s["setting"]): s for s in dcgan["sides"]}
    assert {("engine", "fp32"), ("engine", "fast"), ("loop", "fp32")} <= set(sides)
    assert all(s["error"] is None and s["img_s"] > 0 for s in sides.values()), sides
    assert dcgan["ratios"]["fp32"]["ratio"] is not None and dcgan["ratios"]["fast"]["ratio"] is not None
    # DCGAN 64 px: about 2.5 GFLOP per image-step (the figure); the engine's recipe counts 2.27
    assert dcgan["flops_per_image"]["engine"] == pytest.approx(2.27e9, rel=0.02)
    markdown = out_md.read_text()
    assert markdown.startswith("Measured ") and "torch " in markdown and "bench/speed.py" in markdown
    assert "| dcgan | engine | fast |" in markdown and "**Ratios**" in markdown


@pytest.mark.slow
def test_cli_startup_reports_each_command_against_import_torch(tmp_path):
    """bench/cli_startup.py runs (one round): every command's CPU time and its ratio to `import torch`."""
    out = tmp_path / "startup.json"
    _bench("bench/cli_startup.py", "--rounds", "1", "--json", str(out))
    figures = json.loads(out.read_text())
    assert figures["reference"] == "import torch" and figures["reference_cpu_s"] > 0
    assert {"gancompose --help", "gancompose list-components", "gancompose validate vanilla_gan_ring"} <= set(
        figures["commands"])
    assert all(c["cpu_s"] > 0 and c["ratio"] > 0.5 for c in figures["commands"].values())
