"""torch.compile with a safety net: each network is compiled on its own, and a network whose compiled
graph fails (to compile, to run, or to be differentiated: a gradient penalty's double backward through an
AOTAutograd graph, a channels_last stride assertion in a compiled convolution's backward) runs eager again,
with one logged line, instead of stopping the run.

A call whose input is a leaf that requires grad (the interpolates of a gradient penalty, the reals of R1)
runs eager from the start: AOTAutograd cannot differentiate a compiled graph twice, and the network's other
calls stay compiled. The loop runs each phase inside a guard: when an exception escapes a phase in which a
compiled network ran, the most recently called compiled network of that phase goes back to eager, the
phase's inputs (data position, random state) are put back, and the phase runs again. An exception with no
compiled network left in the phase is a real one and propagates. A network is compiled with
``nn.Module.compile`` semantics (its ``__call__`` goes through the compiled ``_call_impl``), so its
``state_dict`` keys, hooks and attributes are those of the eager module. Dynamo's recompile limit is raised
for the networks' variants, and hitting it raises (it would otherwise run the network eager without a word),
so a network past it falls back with its line like any other failure. Spectral normalization is the
compile-safe one of :mod:`gancompose.nn.spectral_norm` (torch's is converted when its network is compiled).
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from gancompose.nn import make_compile_safe

log = logging.getLogger("gancompose.performance")

#: compiled entries allowed for the ``_call_impl`` code object that every compiled network shares: each network,
#: frozen and trainable (a guard on requires_grad), a growing network at each stage... (torch's default is 8)
RECOMPILE_LIMIT = 64


def _configure_dynamo() -> None:
    """Room for every network's variants, and a network past the limit raises instead of silently running eager,
    so the fallback below reports it."""
    import torch._dynamo
    cfg = torch._dynamo.config
    cfg.recompile_limit = max(cfg.recompile_limit, RECOMPILE_LIMIT)
    cfg.fail_on_recompile_limit_hit = True


class CompiledNetworks:
    """The run's compiled networks, which of them a phase called, and the fallback when one fails."""

    def __init__(self, networks: dict[str, torch.nn.Module], *, backend: str, mode: str,
                 report: Callable[[str], None] | None = None):
        self.networks = dict(networks)
        self.compiled: set[str] = set()
        self.fallbacks: dict[str, str] = {}  # network -> why it runs eager
        self.called: list[str] = []  # compiled networks called since the last :meth:`start`, in order
        self.report = report or log.warning
        _configure_dynamo()
        kwargs = {"backend": backend} | ({} if mode == "default" else {"mode": mode})
        for name, net in self.networks.items():
            make_compile_safe(net)  # torch's spectral norm, if a plugin used it, fails inductor's backward
            compiled = torch.compile(net._call_impl, **kwargs)
            net._compiled_call_impl = self._recording(name, compiled, net._call_impl)
            self.compiled.add(name)

    def _recording(self, name: str, fn, eager):
        called = self.called

        def call(*args, **kwargs):
            if _differentiated_by_input(args):  # a penalty's call: its graph is differentiated twice
                return eager(*args, **kwargs)
            called.append(name)
            return fn(*args, **kwargs)
        return call

    def start(self) -> None:
        """A phase begins: forget which networks the last one called."""
        self.called.clear()

    def fall_back(self, exc: BaseException) -> bool:
        """After ``exc`` escaped a phase: put the most recently called compiled network back to eager and
        return True (run the phase again), or return False when no compiled network ran in it."""
        for name in reversed(self.called):
            if name in self.compiled:
                self.networks[name]._compiled_call_impl = None
                self.compiled.discard(name)
                why = _one_line(exc)
                self.fallbacks[name] = why
                self.report(f"torch.compile: {name} runs eager from now on ({why})")
                return True
        return False


def _differentiated_by_input(args) -> bool:
    """Whether a call takes a leaf tensor that requires grad: a term about to differentiate the output with
    respect to that input and then backpropagate through the result (a gradient penalty, R1, R2). AOTAutograd
    cannot differentiate a compiled graph twice, so such calls run eager while the network's other calls
    (the adversarial terms) stay compiled."""
    return any(isinstance(a, torch.Tensor) and a.is_leaf and a.requires_grad for a in args)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((line.strip() for line in text if line.strip()), "")
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__


class PhaseInputs:
    """What a phase consumes before it can fail: the data position, the images-seen counter and the random
    state (CPU and device), saved so that a phase run again after a fallback sees the same batch and draws."""

    def __init__(self, run):
        self.run = run
        stream = run.stream
        self.stream = (stream.epoch, stream.position) if stream is not None else None
        self.images_seen = run.state.images_seen
        self.cpu = torch.get_rng_state()
        self.device = torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None

    def restore(self) -> None:
        run = self.run
        if self.stream is not None:
            stream = run.stream
            if (stream.epoch, stream.position) != self.stream:
                stream.epoch, stream.position = self.stream
                stream._it = None  # reopened at the saved position
        run.state.images_seen = self.images_seen
        torch.set_rng_state(self.cpu)
        if self.device is not None:
            torch.cuda.set_rng_state(self.device, run.device)
