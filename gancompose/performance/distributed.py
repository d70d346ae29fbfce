"""Several GPUs (or CPU processes) through torchrun and PyTorch's DistributedDataParallel.

    torchrun --nproc-per-node 4 -m gancompose run recipe.toml

Each process trains a replica; ``train.batch_size`` is the batch of all processes together, and each
takes its share of every batch of the seeded stream (the same images one process would see, split), and
its share of the latents and labels one process would draw (every process draws them all from the same
random state and keeps its slice). A network an optimizer trains is wrapped in DistributedDataParallel and
a phase that trains it calls it through the wrapper, so its gradients are averaged across processes and the
weights stay identical; the loss terms are means over the batch, so N processes with their shares step as
one process with the whole batch does. Process 0 writes the run folder: checkpoints, samples, metrics.
Checkpoints hold the counters and stream position of the whole run, so a run resumes on any number of
processes. Stops (Ctrl-C, SIGTERM, a non-finite loss) are agreed every ``train.log_every`` steps, so every
process stops at the same step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from gancompose.errors import DataError, GancomposeError


#: how long a process waits at a collective for the others (GANCOMPOSE_COLLECTIVE_TIMEOUT_MIN overrides)
COLLECTIVE_TIMEOUT_MIN = float(os.environ.get("GANCOMPOSE_COLLECTIVE_TIMEOUT_MIN", "60"))


@dataclass
class Distributed:
    rank: int
    world: int
    local_rank: int
    sync_every: int = 10
    _pending_stop: bool = False

    @classmethod
    def from_env(cls) -> "Distributed | None":
        """This process's place when launched by torchrun (``WORLD_SIZE`` > 1), else None."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        return cls(rank=int(os.environ.get("RANK", "0")), world=world,
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------------------- setup
    def device(self, requested: torch.device) -> torch.device:
        """``cuda`` becomes this process's GPU (``cuda:LOCAL_RANK``)."""
        if requested.type == "cuda" and requested.index is None:
            return torch.device("cuda", self.local_rank)
        return requested

    def start(self, device: torch.device) -> None:
        """Join the process group (NCCL on CUDA, gloo on the CPU)."""
        if dist.is_initialized():
            return
        if device.type == "cuda":
            torch.cuda.set_device(device)
        # generous: process 0 alone writes checkpoints and samples and runs the [[metrics]] (an FID can take
        # minutes) while the others wait at their next all-reduce
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=timedelta(minutes=COLLECTIVE_TIMEOUT_MIN))

    def stop(self, run=None, *, finished: bool = False) -> None:
        """Leave the process group. After a normal finish every process first meets the others (process 0 may
        still be writing the last checkpoint and samples) and drops its DistributedDataParallel wrappers, which
        hold the group: a group left to be torn down with the interpreter can abort the process (gloo's worker
        threads outlive it), and a process that leaves early makes torchrun stop the others mid-write. After a
        failure it leaves at once: the others would wait at a barrier they never meet."""
        if not dist.is_initialized():
            return
        if finished:
            dist.barrier()
        if run is not None:
            run.replicas.clear()
        import gc
        gc.collect()
        dist.destroy_process_group()

    def replicate(self, run) -> None:
        """Wrap every network an optimizer trains in DistributedDataParallel (``run.replicas``). Parameters start
        as process 0's; buffers (batch-norm statistics) are synced once, then each process keeps its own."""
        from torch.nn.parallel import DistributedDataParallel as DDP
        partial = run.schedule.partial_networks()
        for name in run.optimizers:
            net = run.networks[name]
            if not any(p.requires_grad for p in net.parameters()):
                continue
            run.replicas[name] = DDP(
                net, device_ids=[run.device.index] if run.device.type == "cuda" else None,
                forward_sync_buffers=False,
                # a network part of which a step leaves out of the graph (a growing network's upper blocks)
                find_unused_parameters=name in partial)

    # ------------------------------------------------------------------------------ batches
    def share(self, n: int) -> int:
        """This process's share of a batch of ``n``."""
        if n % self.world:
            raise DataError(f"a batch of {n} does not split evenly over {self.world} processes",
                            hint=f"use a batch size divisible by {self.world} (train.batch_size)")
        return n // self.world

    def mine(self, t: torch.Tensor) -> torch.Tensor:
        """This process's slice of a tensor drawn for all processes."""
        k = t.shape[0] // self.world
        return t[self.rank * k:(self.rank + 1) * k]

    def from_main(self, value):
        """Process 0's ``value`` in every process (a collective: every process calls it)."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # -------------------------------------------------------------------------------- stops
    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in any process (a collective: every process calls it)."""
        t = torch.tensor([1.0 if flag else 0.0], device=self._collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def agree_on_stop(self, run) -> None:
        """Called after every step: a stop asked for in any process takes effect in all of them at the next
        multiple of ``sync_every`` steps (one small all-reduce there, none in between)."""
        self._pending_stop = self._pending_stop or run.stop_requested
        run.stop_requested = False
        if run.state.step % self.sync_every == 0:
            run.stop_requested = self.any(self._pending_stop)

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" \
            else torch.device("cpu")


def check_supported(recipe) -> None:
    """Settings that cannot run under torchrun, refused before anything is built."""
    if recipe.train.on_nan == "rollback":
        raise GancomposeError("train.on_nan = 'rollback' reloads a checkpoint in one process; under torchrun "
                              "use 'stop' (then --resume) or 'skip'", hint="--set train.on_nan=stop")
