"""CLI start-up against ``python -c "import torch"``: the CPU time of whole processes, as ratios.

    python bench/cli_startup.py                 # 5 rounds; --rounds N, --json FILE
    python bench/cli_startup.py --rounds 10 --json startup.json

Every command of the CLI imports torch (the networks are torch modules), so a command can start no faster than
``import torch``; what the CLI adds on top is its own cost: the registry of every installed plugin, recipe
validation, and whatever the plugins import. Each round runs the reference and every command once, in turn, so
drift in the machine's load hits all of them; the figure is the child process's CPU time (user + system, from
the operating system's accounting), the median over rounds, and each command's ratio to the reference is taken
round by round, then the median of those ratios. Target (issue 24): ``--help``, ``list-components`` and
``validate`` within 1.3x of ``import torch``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ("import torch", [sys.executable, "-c", "import torch"])
COMMANDS = [
    ("gancompose --help", [sys.executable, "-m", "gancompose.cli", "--help"]),
    ("gancompose list-components", [sys.executable, "-m", "gancompose.cli", "list-components"]),
    ("gancompose validate vanilla_gan_ring", [sys.executable, "-m", "gancompose.cli", "validate",
                                              str(ROOT / "recipes" / "vanilla_gan_ring.toml")]),
    # beyond the target's three: generated images (not rendered to validate) and the meta-device size check
    ("gancompose validate cgan_digits", [sys.executable, "-m", "gancompose.cli", "validate",
                                         str(ROOT / "recipes" / "cgan_digits.toml")]),
    ("gancompose validate stylegan2_shapes", [sys.executable, "-m", "gancompose.cli", "validate",
                                              str(ROOT / "recipes" / "stylegan2_shapes.toml")]),
]


def cpu_seconds(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``cmd``, output discarded; a failing command is an error."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.read().decode()[-500:]}")
    proc.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds after one warm-up (default 5)")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    everything = [REFERENCE, *COMMANDS]
    for _, cmd in everything:  # warm-up: file caches, .pyc files
        cpu_seconds(cmd, env)
    times: dict[str, list[float]] = {name: [] for name, _ in everything}
    for _ in range(a.rounds):
        for name, cmd in everything:
            times[name].append(cpu_seconds(cmd, env)[0])
    ref = times[REFERENCE[0]]
    out = {"reference": REFERENCE[0], "rounds": a.rounds, "reference_cpu_s": statistics.median(ref), "commands": {}}
    print(f"{'command':<40} {'CPU s (median)':>15} {'x import torch':>15}")
    print(f"{REFERENCE[0]:<40} {statistics.median(ref):>15.2f} {1.0:>15.2f}")
    for name, _ in COMMANDS:
        ratio = statistics.median(t / r for t, r in zip(times[name], ref))
        out["commands"][name] = {"cpu_s": statistics.median(times[name]), "ratio": ratio}
        print(f"{name:<40} {statistics.median(times[name]):>15.2f} {ratio:>15.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
