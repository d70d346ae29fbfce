"""``gancompose compare`` (issue 26, items 1-3): recipes x seeds -> one report, runs reused and resumed, interrupted
runs left out of the means, the table's arithmetic, the executors behind one interface, and the refusals.

The sweep trains the 2-D ring recipe for 20 steps (one subprocess per run); one sweep is shared by the module
and copied where a test changes it."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from conftest import installed, invoke, refusal, subprocess_env

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "wgangp_ring"
TINY = ["train.steps=20", "train.batch_size=16", "train.log_every=5", "train.checkpoint_every=10",
        "train.keep_checkpoints=5", "metrics[0].samples=500", "metrics[0].every=10",
        "metrics[0].std_radius=30"]  # within 0.3 of a mode: a generator trained 20 steps has samples there
SEEDS = (["--seeds", "2", "--seed-start", "7"])


def sets(overrides=TINY) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def compare(report: Path, *extra, seeds=SEEDS, recipes=(RECIPE,)):
    return invoke("compare", *recipes, *seeds, *sets(), "-o", report, *extra)


def load(report: Path) -> dict:
    return json.loads((report / "report.json").read_text())


def seed_dir(report: Path, seed: int) -> Path:
    (found,) = (report / "runs" / RECIPE).glob(f"*/seed_{seed}")
    return found


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A finished sweep of 2 seeds (7, 8) on 2 local workers; its report.json as it was written then."""
    report = tmp_path_factory.mktemp("sweep") / "report"
    res = compare(report, "--workers", "2")
    assert res.exit_code == 0, res.output + repr(res.exception)
    return report, load(report), res.output


def copy_of(sweep, tmp_path) -> Path:
    copy = tmp_path / "report"
    shutil.copytree(sweep[0], copy)
    (copy / ".lock").unlink(missing_ok=True)
    return copy


def md_row(text: str, label: str, header_start: str = "| recipe | n |") -> dict[str, str]:
    """The cells of ``label``'s row in the results table, by column title."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    titles = [c.strip() for c in lines[head].strip("|").split("|")]
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == f"`{label}`":
            return dict(zip(titles, cells))
    raise AssertionError(f"no row {label} in\n{text}")


# ------------------------------------------------------------------------------------------------ the sweep
def test_a_sweep_trains_every_seed_and_writes_the_report(sweep):
    report, data, output = sweep
    runs = data["runs"]
    assert [(r["seed"], r["status"], r["trained_now"]) for r in runs] == [(7, "finished", True), (8, "finished", True)]
    for r in runs:
        assert set(r["metrics"]) == {"mode_coverage/modes", "mode_coverage/high_quality", "mode_coverage/reverse_kl"}
        assert r["step"] == r["total_steps"] == 20 and r["wall_s"] > 0 and r["cpu_minutes"] > 0
        d = Path(r["folder"])
        assert (d / "done.json").is_file() and json.loads((d / "done.json").read_text())["status"] == "finished"
        run_recipe = (d / r["run_dir"] / "recipe.toml").read_text()
        assert f"seed = {r['seed']}" in run_recipe  # train.seed is the run's seed
    # each run's own numbers, not one run's twice: the seeds train different networks
    losses = [(Path(r["folder"]) / r["run_dir"] / "metrics.jsonl").read_text().splitlines()[0] for r in runs]
    assert losses[0] != losses[1]
    md = (report / "report.md").read_text()
    assert "PacGAN4 (PacGAN Table 1)*" in md and "GAN (PacGAN Table 1)*" in md  # reference rows of the ring
    assert "data.seed = 0" in md and "the same for every seed" in md  # says the data sample does not vary
    from PIL import Image
    for png in ("curves/wgangp_ring.png", "samples/wgangp_ring.png"):
        with Image.open(report / png) as img:
            assert img.format == "PNG" and img.width > 200
        assert f"]({png})" in md
    assert data["summary"][RECIPE]["counts"]["finished"] == 2
    assert "[2/2]" in output and "finished" in output


def test_the_table_is_the_mean_sample_std_and_n_of_the_runs(sweep):
    report, data, _ = sweep
    runs = [r for r in data["runs"] if r["status"] == "finished"]
    md = (report / "report.md").read_text()
    row = md_row(md, RECIPE)
    assert row["n"] == "2"
    for key, title, scale in (("mode_coverage/modes", "modes ↑", 1), ("mode_coverage/high_quality",
                                                                       "high quality % ↑", 100),
                              ("mode_coverage/reverse_kl", "reverse KL ↓", 1)):
        values = [r["metrics"][key] for r in runs if math.isfinite(r["metrics"][key])]
        mean, std = statistics.fmean(values), statistics.stdev(values)  # sample std: n - 1
        summary = data["summary"][RECIPE]["metrics"][key]
        assert summary["n"] == len(values)
        assert summary["mean"] == pytest.approx(mean) and summary["std"] == pytest.approx(std)
        shown_mean, shown_std = (float(x) for x in row[title].replace("*", "").split(" (n=")[0].split(" ± "))
        digits = len(row[title].split(" ± ")[0].split(".")[1])
        assert abs(shown_mean - mean * scale) <= 0.51 * 10 ** -digits, (row[title], mean)
        assert abs(shown_std - std * scale) <= 0.51 * 10 ** -digits, (row[title], std)
    pac = md_row(md.replace("| PacGAN4 (PacGAN Table 1)* |", "| `PacGAN4` |"), "PacGAN4")
    assert (pac["modes ↑"], pac["high quality % ↑"], pac["reverse KL ↓"]) == ("7.80", "95.9", "0.070")


def test_a_second_invocation_trains_nothing(sweep):
    report = sweep[0]
    ckpts = {p: p.stat().st_mtime_ns for p in report.glob("runs/**/last.safetensors")}
    assert len(ckpts) == 2
    res = compare(report)
    assert res.exit_code == 0, res.output
    assert "nothing to train" in res.output
    runs = load(report)["runs"]
    assert [(r["status"], r["trained_now"], r["evaluated_now"]) for r in runs] == [("finished", False, False)] * 2
    assert {p: p.stat().st_mtime_ns for p in ckpts} == ckpts
    assert [r["metrics"] for r in runs] == [r["metrics"] for r in sweep[1]["runs"]]


class InlineExecutor:
    """An executor of the interface in its smallest form: ``submit`` runs the job at once in this process's thread
    and returns a finished concurrent.futures.Future (gancompose_compare.executors.Executor gives ``map``)."""

    def __new__(cls):
        from gancompose_compare.executors import Executor

        class Inline(Executor):
            name = "inline (test)"

            def __init__(self):
                self.jobs = []

            def submit(self, fn, job):
                self.jobs.append(job)
                fut = Future()
                try:
                    fut.set_result(fn(job))
                except Exception as exc:  # noqa: BLE001
                    fut.set_exception(exc)
                return fut
        return Inline()


def test_an_interrupted_run_is_resumed_and_only_it_trains(sweep, tmp_path):
    """A run cut short (its last checkpoint at step 10, no done.json, its attempt recorded as interrupted) is the
    only one trained by the next invocation, from step 10; here through an executor written in the test."""
    from gancompose_compare.sweep import Settings, compare_command
    report = copy_of(sweep, tmp_path)
    d = seed_dir(report, 8)
    (run,) = (d / RECIPE).iterdir()
    ckpts = run / "checkpoints"
    shutil.copy(ckpts / "step_0000010.safetensors", ckpts / "last.safetensors")
    (ckpts / "step_0000020.safetensors").unlink()
    for name in ("done.json", "eval.json", "samples.png"):
        (d / name).unlink()
    with (d / "attempts.jsonl").open("a") as fh:
        fh.write(json.dumps({"status": "interrupted", "signal": "SIGTERM", "start_step": 0, "end_step": 10,
                             "wall_s": 1.0, "cpu_s": 1.0, "run_dir": f"{RECIPE}/{run.name}"}) + "\n")
    other = seed_dir(report, 7) / "done.json"
    before = other.stat().st_mtime_ns
    ex = InlineExecutor()
    code = compare_command([RECIPE], Settings(seeds=[7, 8], overrides=tuple(TINY)), report, executor_obj=ex,
                           say=lambda line: None, show=lambda text: None)
    assert code == 0
    assert [j["seed"] for j in ex.jobs] == [8]  # only the cut-short run
    runs = {r["seed"]: r for r in load(report)["runs"]}
    assert runs[8]["status"] == "finished" and runs[8]["trained_now"] and not runs[7]["trained_now"]
    last = [json.loads(line) for line in (d / "attempts.jsonl").read_text().splitlines()][-1]
    assert (last["start_step"], last["end_step"], last["resumed_from"]) == (10, 20, f"{RECIPE}/{run.name}")
    assert (d / "done.json").is_file() and other.stat().st_mtime_ns == before
    assert json.loads((d / "done.json").read_text())["attempts"] == 3  # its first run, the cut, the resume


def test_an_interrupted_run_is_left_out_of_the_means_and_shown(sweep, tmp_path):
    report = copy_of(sweep, tmp_path)
    d = seed_dir(report, 8)
    (d / "done.json").unlink()
    with (d / "attempts.jsonl").open("a") as fh:
        fh.write(json.dumps({"status": "interrupted", "signal": "SIGTERM", "start_step": 20, "end_step": 20}) + "\n")
    res = compare(report, "--report-only")
    assert res.exit_code == 0, res.output
    data = load(report)
    runs = {r["seed"]: r for r in data["runs"]}
    assert runs[8]["status"] == "interrupted" and runs[8]["metrics"] == {}
    summary = data["summary"][RECIPE]
    assert summary["counts"]["interrupted"] == 1 and summary["counts"]["finished"] == 1
    for key, s in summary["metrics"].items():
        assert (s["n"], s["mean"], s["std"], s["seeds"]) == (1, runs[7]["metrics"][key], 0.0, [7])
    md = (report / "report.md").read_text()
    row = md_row(md, RECIPE)
    assert row["n"] == "1" and row["left out"] == "1 interrupted"
    assert "| `wgangp_ring` | 8 | interrupted (SIGTERM) |" in md


def test_another_metric_evaluates_finished_runs_without_training_them(sweep, tmp_path):
    report = copy_of(sweep, tmp_path)
    res = compare(report, "--metric", "mode_coverage:std_radius=5,plot=false")
    assert res.exit_code == 0, res.output
    runs = load(report)["runs"]
    assert [(r["trained_now"], r["evaluated_now"]) for r in runs] == [(False, True)] * 2
    for new, old in zip(runs, sweep[1]["runs"]):  # a tighter radius: fewer high-quality samples
        assert new["metrics"]["mode_coverage/high_quality"] <= old["metrics"]["mode_coverage/high_quality"]


@pytest.mark.skipif(not installed("submitit"), reason="submitit is not installed (pip install gancompose[submitit])")
def test_a_run_through_submitits_local_executor(sweep, tmp_path):
    """The distributed engine's local mode: submitit's LocalExecutor runs the job in a process of its own."""
    report = copy_of(sweep, tmp_path)
    d = seed_dir(report, 7)
    (d / "eval.json").unlink()  # evaluated again, not trained
    res = compare(report, "--executor", "submitit", "--executor-option", "cluster=local")
    assert res.exit_code == 0, res.output
    runs = {r["seed"]: r for r in load(report)["runs"]}
    assert runs[7]["evaluated_now"] and not runs[7]["trained_now"] and not runs[8]["evaluated_now"]
    assert runs[7]["metrics"] == sweep[1]["runs"][0]["metrics"]
    assert list((report / "submitit").glob("*_log.out")), "submitit wrote no log: did it run the job?"
    assert "submitit (local)" in load(report)["executor"]


# ----------------------------------------------------------------------------------------- signals (slow)
def test_sigterm_marks_the_run_interrupted_and_the_next_sweep_finishes_only_it(tmp_path):
    report = tmp_path / "report"
    args = [sys.executable, "-m", "gancompose", "compare", RECIPE, "--seeds", "1", "--workers", "1",
            *sets([o for o in TINY if not o.startswith("train.steps")] + ["train.steps=600"]), "-o", str(report)]
    proc = subprocess.Popen(args, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the run trains
        logs = list(report.glob("runs/*/*/seed_0/*/*/metrics.jsonl"))
        if logs and logs[0].read_text().count("\n") >= 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out
    data = load(report)
    assert data["sweep"]["stopped_by"] == "SIGTERM"
    (run,) = data["runs"]
    assert run["status"] == "interrupted" and run["signal"] == "SIGTERM" and 0 < run["step"] < 600, run
    assert not (Path(run["folder"]) / "done.json").exists()
    assert "1 interrupted" in md_row((report / "report.md").read_text(), RECIPE)["left out"]
    assert "stopped by SIGTERM" in (report / "report.md").read_text()
    res = subprocess.run(args, env=subprocess_env(), capture_output=True, text=True, timeout=300)  # the same command
    assert res.returncode == 0, res.stdout + res.stderr
    (run,) = load(report)["runs"]
    assert run["status"] == "finished" and run["trained_now"] and run["attempts"] == 2
    attempts = [json.loads(x) for x in (Path(run["folder"]) / "attempts.jsonl").read_text().splitlines()]
    assert attempts[1]["start_step"] == attempts[0]["end_step"] > 0  # resumed from its checkpoint, not restarted


# --------------------------------------------------------------------------------------------- executors
def _slow_square(x):
    time.sleep(0.05)
    return x * x


def test_the_local_executor_maps_with_a_limit_and_stops_submitting():
    from gancompose_compare.executors import LocalExecutor
    ex = LocalExecutor(workers=3)
    running, peak, lock = [0], [0], threading.Lock()

    def job(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            if x == 3:
                raise ValueError("three")
            return _slow_square(x)
        finally:
            with lock:
                running[0] -= 1
    try:
        out = dict(ex.map(job, range(8), limit=2))
        assert {k: v for k, v in out.items() if k != 3} == {x: x * x for x in range(8) if x != 3}
        assert isinstance(out[3], ValueError)  # a job that raised is handed back, the others go on
        assert peak[0] <= 2
        seen = []
        for x, _ in ex.map(job, range(10), limit=1, stop=lambda: len(seen) >= 2):
            seen.append(x)
        assert seen == [0, 1]  # no job starts once stop() is true
    finally:
        ex.shutdown()


@pytest.mark.skipif(not installed("submitit"), reason="submitit is not installed (pip install gancompose[submitit])")
def test_the_submitit_executor_runs_jobs_in_processes_of_their_own(tmp_path):
    import math as m
    from gancompose_compare.executors import SubmititExecutor
    ex = SubmititExecutor(tmp_path, {"cluster": "local", "timeout_min": 5})
    assert dict(ex.map(m.sqrt, [4.0, 9.0])) == {4.0: 2.0, 9.0: 3.0}
    assert ex.describe() == "submitit (local)"


@pytest.mark.skipif(not installed("ray"), reason="ray is not installed (pip install gancompose[ray])")
def test_the_ray_executor_on_a_local_ray_instance(tmp_path):
    """Ray's local mode is gone from Ray 2.x: a Ray instance started on this machine (ray.init()) stands in for a
    cluster, on the CPU."""
    from gancompose_compare.executors import RayExecutor
    ex = RayExecutor({"num_cpus": 1}, threads=1)
    try:  # functions of an importable module: a Ray worker imports them by name
        assert dict(ex.map(statistics.fmean, [(1, 2, 3), (4, 6)])) == {(1, 2, 3): 2.0, (4, 6): 5.0}
        assert dict(ex.map(json.dumps, [5])) == {5: "5"}
    finally:
        ex.shutdown()


@pytest.mark.skipif(not installed("ray"), reason="ray is not installed (pip install gancompose[ray])")
def test_a_sweep_on_ray(tmp_path):
    report = tmp_path / "report"
    res = invoke("compare", RECIPE, "--seeds", "1", *sets(), "-o", report, "--executor", "ray",
                 "--executor-option", "num_cpus=1")
    assert res.exit_code == 0, res.output
    (run,) = load(report)["runs"]
    assert run["status"] == "finished" and run["trained_now"] and run["metrics"]


@pytest.mark.parametrize("name", ["ray", "submitit"])
def test_a_missing_engine_says_which_extra_to_install(name, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    msg = refusal(invoke("compare", RECIPE, "--seeds", "1", *sets(), "-o", tmp_path / "r", "--executor", name))
    assert f"pip install gancompose[{name}]" in msg


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("args, expected", [
    (["no_such_recipe", "--seeds", "2"], "no_such_recipe"),
    ([RECIPE, "--seeds", "0"], "--seeds 0"),
    ([RECIPE, "--seeds", "2", "--set", "train.steps"], "expected KEY=VALUE"),
    ([RECIPE, "--seeds", "2", "--set", "train.stepz=3"], "stepz"),
    ([RECIPE, "--seeds", "2", "--set", "train.seed=3"], "--seed-start"),
    ([RECIPE, "--seeds", "2", "--set", "train.output_dir='x'"], "REPORT_DIR/runs"),
    ([RECIPE, "--seeds", "2", "--metric", "no_such_metric"], "no_such_metric"),
    ([RECIPE, "--seeds", "2", "--metric", "mode_coverage:std_radius=-1"], "std_radius"),
    ([RECIPE, "--seeds", "2", "--workers", "0"], "--workers 0"),
    ([RECIPE, RECIPE, "--seeds", "2"], "given twice"),
    ([RECIPE, "--seeds", "2", "--executor-option", "x=1"], "takes no --executor-option"),
    ([RECIPE, "--seeds", "2", "--vary-data", "--set", "data.seed=1"], "--vary-data"),
])
def test_bad_input_is_one_error_line(args, expected, tmp_path):
    msg = refusal(invoke("compare", *args, *sets(), "-o", tmp_path / "report"))
    assert expected in msg, msg


def test_a_report_folder_that_cannot_be_written_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    msg = refusal(invoke("compare", RECIPE, "--seeds", "1", *sets(), "-o", tmp_path / "file" / "report"))
    assert "cannot write the report folder" in msg


def test_two_sweeps_into_one_folder_are_refused(tmp_path):
    from gancompose_compare.sweep import Lock
    (tmp_path / "report").mkdir()
    with Lock(tmp_path / "report"):
        msg = refusal(invoke("compare", RECIPE, "--seeds", "1", *sets(), "-o", tmp_path / "report"))
    assert "another gancompose compare" in msg


def test_vary_data_draws_the_data_per_seed_and_says_so():
    from gancompose_compare.sweep import Plan, Settings, prepare
    settings = Settings(seeds=[3], overrides=tuple(TINY), vary_data=True)
    (entry,) = prepare([RECIPE], settings, Path("/nonexistent/report"))
    assert "varies with the seed" in entry.data_sample
    job = Plan(entry, 3, Path("/nonexistent/report/s")).job(settings)
    assert "data.seed=3" in job["overrides"] and "train.seed=3" in job["overrides"]
    (fixed,) = prepare([RECIPE], Settings(seeds=[3], overrides=tuple(TINY)), Path("/nonexistent/report"))
    assert fixed.fingerprint != entry.fingerprint and "the same for every seed" in fixed.data_sample


def test_compare_comes_from_its_plugin():
    from gancompose.cli import cli
    from gancompose_compare.command import compare as command
    assert cli.get_command(None, "compare") is command
    assert "compare" in invoke("--help").output


def test_a_plugin_declares_reference_rows_with_a_file_in_its_package(tmp_path, monkeypatch):
    """Every loaded plugin's references.toml joins the reports (this plugin's PacGAN rows are one such file), so a
    family published as a package ships its paper's table without a flag."""
    import importlib
    from gancompose.registry import build_registry
    from gancompose_compare.report import load_references, matches
    pkg = tmp_path / "refplugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "references.toml").write_text('[[reference]]\nlabel = "Mine (paper, Table 2)"\nn = 5\n'
                                         'match = { "data.type" = "gaussian_mixture", "data.layout" = "ring" }\n'
                                         'values = { "mode_coverage/modes" = 7.5 }\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = build_registry({"refplugin": importlib.import_module("refplugin"),
                          "compare": importlib.import_module("gancompose_compare")}, entry_points=False)
    rows = load_references(registry=reg)
    assert [r["file"] for r in rows].count("refplugin/references.toml") == 1
    assert any(r["label"] == "PacGAN4 (PacGAN Table 1)" for r in rows)  # the compare plugin's own, the same way
    from gancompose.recipe import load_recipe
    from conftest import ROOT
    ring = load_recipe(ROOT / "recipes" / "wgangp_ring.toml")
    assert matches(next(r for r in rows if r["label"] == "Mine (paper, Table 2)"), ring)
