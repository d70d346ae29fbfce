"""Where the runs of a sweep execute: one small interface, three back ends.

An executor runs a module-level function ``fn(job) -> dict`` for each job and hands back a future-like object
(``done()``, ``result()``). ``map(fn, jobs, limit, stop)`` yields ``(job, result or exception)`` as the jobs
finish, with at most ``limit`` in flight, and submits no new job once ``stop()`` is true. ``interrupt(signum)``
passes a signal on to the jobs under way (they finish their step, write a checkpoint and stop);
``shutdown()`` releases what the executor started.

- :class:`LocalExecutor` (default): a thread per slot, each starting a subprocess (``run_job``), so a crash or a
  signal in one run never reaches the others or the sweep.
- :class:`RayExecutor` (``pip install gancompose[ray]``): one Ray task per job, on a running cluster (``address``)
  or on a Ray instance it starts on this machine.
- :class:`SubmititExecutor` (``pip install gancompose[submitit]``): one submitit job per job, on Slurm, or
  ``cluster="local"`` / ``"debug"`` on this machine.

The sweep never trusts a job's return value for its results: every run writes its state to its own folder
(gancompose_compare/worker.py), which the sweep reads back. A cluster's workers must see the report folder
(a shared filesystem) and have gancompose installed.

This module imports neither torch nor the engines at import time (a submitit or Ray worker unpickles
:func:`run_job` from it).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from gancompose.errors import GancomposeError


class ExecutorError(GancomposeError):
    """An executor cannot start: its library is missing, or its cluster cannot be reached."""


# ------------------------------------------------------------------------------------------------ the job
_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def _signal_child(proc: subprocess.Popen, signum: int) -> None:
    try:  # the worker leads its own process group (start_new_session): its helpers get the signal too
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError, AttributeError, OSError):
        try:
            proc.send_signal(signum)
        except OSError:
            pass


def signal_children(signum: int) -> int:
    """Pass ``signum`` on to every worker subprocess this process started and that still runs; how many."""
    with _children_lock:
        running = [p for p in _children if p.poll() is None]
    for p in running:
        _signal_child(p, signum)
    return len(running)


def worker_command(job_file: Path) -> list[str]:
    return [sys.executable, "-m", "gancompose_compare.worker", str(job_file)]


def run_job(job: dict) -> dict:
    """Run one job (train if needed, evaluate, draw its samples) in a subprocess and wait for it.

    ``job`` is JSON-able (gancompose_compare.sweep.Job.to_json): it is written to ``SEED_DIR/job.json`` and the
    subprocess ``python -m gancompose_compare.worker SEED_DIR/job.json`` reads it; its output goes to
    ``SEED_DIR/log.txt``. A KeyboardInterrupt here (Ray's cancel) or a SIGTERM to this process (Slurm's, when this
    runs as the job's main thread) is passed on to the subprocess, which checkpoints and stops; this function still
    waits for it. Returns ``{"returncode": rc, "seed_dir": ...}``."""
    seed_dir = Path(job["seed_dir"])
    seed_dir.mkdir(parents=True, exist_ok=True)
    job_file = seed_dir / "job.json"
    tmp = job_file.with_name(".job.json.tmp")
    tmp.write_text(json.dumps(job, indent=1))
    os.replace(tmp, job_file)
    env = dict(os.environ)
    threads = str(job.get("threads", 1))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               PYTHONUNBUFFERED="1")
    old_term = None
    with (seed_dir / "log.txt").open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(worker_command(job_file))}\n".encode())
        log.flush()
        proc = subprocess.Popen(worker_command(job_file), stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        with _children_lock:
            _children.add(proc)
        if threading.current_thread() is threading.main_thread():
            try:
                old_term = signal.signal(signal.SIGTERM, lambda s, f: _signal_child(proc, s))
            except ValueError:
                old_term = None
        try:
            while True:
                try:
                    rc = proc.wait()
                    break
                except KeyboardInterrupt:
                    _signal_child(proc, signal.SIGINT)
        finally:
            with _children_lock:
                _children.discard(proc)
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
    return {"returncode": rc, "seed_dir": str(seed_dir)}


# ------------------------------------------------------------------------------------------- executors
class Executor:
    """The interface the sweep uses. Subclasses implement :meth:`submit`; the rest has defaults."""

    name = "executor"
    #: jobs in flight when --workers is not given (None: all of them)
    default_limit: int | None = None

    def submit(self, fn: Callable[[Any], Any], job: Any):
        """Start ``fn(job)``; returns an object with ``done() -> bool`` and ``result()`` (which raises what
        ``fn`` raised)."""
        raise NotImplementedError

    def interrupt(self, signum: int) -> None:
        """Pass a signal on to the jobs under way (default: nothing can be reached)."""

    def shutdown(self) -> None:
        """Release what the executor started."""

    def describe(self) -> str:
        return self.name

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any], limit: int | None = None,
            stop: Callable[[], bool] = lambda: False, poll: float = 0.1) -> Iterator[tuple[Any, Any]]:
        """``(job, fn(job))`` as the jobs finish (the exception instead, when ``fn`` raised), with at most
        ``limit`` in flight; once ``stop()`` is true no further job starts and the ones under way are waited for."""
        pending = list(jobs)
        pending.reverse()
        limit = limit or self.default_limit or len(pending) or 1
        running: list[tuple[Any, Any]] = []
        while pending or running:
            while pending and len(running) < limit and not stop():
                job = pending.pop()
                running.append((job, self.submit(fn, job)))
            if stop():
                pending.clear()
            finished = [(job, fut) for job, fut in running if fut.done()]
            if not finished:
                time.sleep(poll)
                continue
            for job, fut in finished:
                running.remove((job, fut))
                try:
                    out = fut.result()
                except BaseException as exc:  # noqa: BLE001 - reported with the job, never lost
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not stop():
                        raise
                    out = exc
                yield job, out


class LocalExecutor(Executor):
    """``workers`` runs at a time on this machine, each a subprocess (``run_job``)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or available_cores()
        self.default_limit = self.workers
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="gancompose-compare")

    def submit(self, fn, job) -> Future:
        return self._pool.submit(fn, job)

    def interrupt(self, signum: int) -> None:
        signal_children(signum)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def describe(self) -> str:
        return f"local, {self.workers} worker{'s' if self.workers != 1 else ''}"


class _RayFuture:
    def __init__(self, ray, ref):
        self.ray, self.ref = ray, ref

    def done(self) -> bool:
        ready, _ = self.ray.wait([self.ref], timeout=0)
        return bool(ready)

    def result(self):
        return self.ray.get(self.ref)


class RayExecutor(Executor):
    """One Ray task per job (``num_cpus`` = the job's threads). ``address``: a running cluster (``ray start
    --head``; default: ``RAY_ADDRESS``, else a Ray instance started here and stopped at the end). Other options
    are the task's ``ray.remote`` options (``num_gpus``, ``memory``, ``resources``...)."""

    name = "ray"

    def __init__(self, options: dict | None = None, threads: int = 1):
        options = dict(options or {})
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray, which is not installed: pip install gancompose[ray]") \
                from None
        self.ray = ray
        address = options.pop("address", None)
        self._started = False
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, ignore_reinit_error=True)
            except Exception as exc:  # noqa: BLE001 - a cluster that cannot be reached is the user's to fix
                raise ExecutorError(f"--executor ray: cannot start or reach Ray"
                                    f"{f' at {address}' if address else ''}: {type(exc).__name__}: {exc}",
                                    hint="start a cluster with `ray start --head`, or give "
                                         "--executor-option address=HOST:PORT") from None
            self._started = True
        options.setdefault("num_cpus", threads)
        try:
            self._remote = ray.remote(**options)(run_job)
        except Exception as exc:  # noqa: BLE001
            raise ExecutorError(f"--executor ray: bad --executor-option: {exc}") from None
        self._refs: list = []

    def submit(self, fn, job) -> _RayFuture:
        remote = self._remote if fn is run_job else self.ray.remote(fn)
        ref = remote.remote(job)
        self._refs.append(ref)
        return _RayFuture(self.ray, ref)

    def interrupt(self, signum: int) -> None:
        for ref in self._refs:  # a KeyboardInterrupt in the task: run_job passes it on to its worker
            try:
                self.ray.cancel(ref, force=False)
            except Exception:  # noqa: BLE001 - finished already
                pass

    def shutdown(self) -> None:
        if self._started:
            self.ray.shutdown()

    def describe(self) -> str:
        return "ray"


class _SubmititFuture:
    def __init__(self, job):
        self.job = job

    def done(self) -> bool:
        return self.job.done()

    def result(self):
        return self.job.result()


class SubmititExecutor(Executor):
    """One submitit job per job, its logs in ``folder``. ``cluster``: ``slurm``, ``local`` or ``debug`` (default:
    Slurm where ``sbatch`` exists, else local); every other option goes to submitit's ``update_parameters``
    (``timeout_min``, ``slurm_partition``, ``gpus_per_node``, ``mem_gb``...)."""

    name = "submitit"

    def __init__(self, folder: Path, options: dict | None = None, threads: int = 1):
        options = dict(options or {})
        try:
            import submitit
        except ImportError:
            raise ExecutorError("--executor submitit needs submitit, which is not installed: "
                                "pip install gancompose[submitit]") from None
        cluster = options.pop("cluster", None)
        try:
            self.executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
            params = {"cpus_per_task": threads, "name": "gancompose-compare", "timeout_min": 24 * 60}
            params.update(options)
            self.executor.update_parameters(**params)
        except Exception as exc:  # noqa: BLE001 - unknown cluster or parameter: the user's option
            raise ExecutorError(f"--executor submitit: {type(exc).__name__}: {exc}",
                                hint="--executor-option cluster=slurm|local|debug; other options are submitit's "
                                     "update_parameters (timeout_min, slurm_partition, ...)") from None
        self.cluster = self.executor.cluster
        self._jobs: list = []

    def submit(self, fn, job) -> _SubmititFuture:
        j = self.executor.submit(fn, job)
        self._jobs.append(j)
        return _SubmititFuture(j)

    def interrupt(self, signum: int) -> None:
        for j in self._jobs:
            try:
                if not j.done():
                    j.cancel(check=False)  # Slurm: scancel (SIGTERM to the job); local: SIGINT
            except Exception:  # noqa: BLE001
                pass

    def describe(self) -> str:
        return f"submitit ({self.cluster})"


EXECUTORS = ("local", "ray", "submitit")


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def make_executor(name: str, *, workers: int | None, threads: int, folder: Path, options: dict) -> Executor:
    if name == "local":
        if options:
            raise ExecutorError(f"--executor local takes no --executor-option (got {', '.join(options)})")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(options, threads)
    if name == "submitit":
        return SubmititExecutor(folder, options, threads)
    raise ExecutorError(f"unknown executor {name!r}", hint=f"one of {', '.join(EXECUTORS)}")


__all__ = ["Executor", "LocalExecutor", "RayExecutor", "SubmititExecutor", "run_job", "make_executor",
           "available_cores", "ExecutorError"]
