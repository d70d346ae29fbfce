"""The context a term reads: real data, latents, generated images and networks, computed lazily.

A context lives for one run of one phase. Nothing is computed unless a term asks for it, and what
is computed is cached, so two terms reading ``ctx.fake`` share one generator forward pass.
"""
from __future__ import annotations

from typing import Any

import torch

from gancompose.protocols import takes_labels


def is_conditional(net: torch.nn.Module) -> bool:
    """Whether ``net`` takes class labels (a :class:`gancompose.protocols.TakesLabels` network)."""
    return takes_labels(net._module if isinstance(net, _Replicated) else net)


def call(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor | None,
         conditional: bool | None = None) -> torch.Tensor:
    """``net(x, labels)`` for a conditional network, ``net(x)`` otherwise (``conditional``: whether it is, when
    the caller knows already)."""
    if conditional is None:
        conditional = is_conditional(net)
    if not conditional:
        return net(x)
    if labels is None:
        raise RuntimeError("a conditional network was called without labels: condition the generator too, "
                           "or use labelled data")
    return net(x, labels)


class StepContext:
    def __init__(self, run, step: int, shared: dict[str, Any], reuse: tuple[str, ...] = (),
                 log: list | None = None, trained: tuple[str, ...] = (), phase: str = ""):
        self.run = run
        self.step = step
        self._shared = shared  # tensors cached across the phases of one step
        self._reuse = reuse
        self._cache: dict[str, Any] = {}
        self._log = log  # the phase's (key, value) list: its terms' values, and what terms log()
        self._phase = phase
        self._trained = trained  # the networks this phase's optimizers step
        self._replica_outputs: list = []  # outputs of DistributedDataParallel calls in this phase
        #: role -> (the network net(role) gives, whether it takes labels): looked up once per phase
        self._roles: dict[str, tuple[torch.nn.Module, bool]] = {}

    def log(self, name: str, value: torch.Tensor) -> None:
        """Log a value with the phase's losses (``PHASE/name`` in metrics.jsonl) without adding it to the loss:
        e.g. ADA's probability p. Kept on the device; read at the log interval like the losses."""
        if self._log is not None:
            self._log.append((f"{self._phase}/{name}", value.detach()))

    # ----------------------------------------------------------------------------- networks
    def network(self, name: str) -> torch.nn.Module:
        """The network called ``name`` in the recipe, to call in this phase. Terms call networks through
        this (or :meth:`net`): under torchrun a trained network is called through its DistributedDataParallel
        replica, so that its gradients are averaged across processes, also when a later phase of the step
        differentiates an output made here (a fake reused by the generator phase). A frozen network's calls
        prepare nothing (no parameter of it gets a gradient)."""
        replicas = self.run.replicas
        if replicas and name in replicas:
            outputs = self._replica_outputs if name in self._trained else None
            return _Replicated(self.run.networks[name], replicas[name], outputs)
        return self.run.networks[name]

    def net(self, role: str) -> torch.nn.Module:
        """The network playing ``role`` in the schedule (``"generator"``, ``"discriminator"``...)."""
        return self._role(role)[0]

    def _role(self, role: str) -> tuple[torch.nn.Module, bool]:
        found = self._roles.get(role)
        if found is None:
            net = self.network(self.run.schedule.roles[role])
            found = self._roles[role] = (net, is_conditional(net))
        return found

    @staticmethod
    def eager():
        """A context in which compiled networks run eager: for a term that differentiates a network's graph
        twice through something other than a leaf input (StyleGAN2's path length, through ``ws``), which
        AOTAutograd cannot do. Calls whose input is a leaf that requires grad (gradient penalties, R1) need
        no such care: they run eager by themselves (gancompose/performance/compile.py)."""
        return torch.compiler.set_stance("force_eager")

    def touch_replicated(self, total: torch.Tensor) -> torch.Tensor:
        """``total`` plus zero times every output of a replicated call to a network this phase trains
        (never another's: a zero gradient would close its replica's reduction early): DistributedDataParallel averages
        gradients when every parameter used in the forward pass has one, which a term that differentiates only
        with respect to the input (R1 alone in its phase) does not give (StyleGAN2-ADA adds ``logits * 0`` for
        the same reason). Unchanged when nothing is replicated."""
        if not self._replica_outputs:
            return total
        touched = [t for out in self._replica_outputs for t in _tensors(out) if t.requires_grad]
        if not touched:
            return total
        return total + sum(t.float().sum() for t in touched) * 0.0

    @property
    def generator(self) -> torch.nn.Module:
        return self._role("generator")[0]

    @property
    def discriminator(self) -> torch.nn.Module:
        return self._role("discriminator")[0]

    @property
    def device(self) -> torch.device:
        return self.run.device

    @property
    def batch_size(self) -> int:
        """Samples per batch this step in this process: ``train.batch_size`` unless the schedule changed it
        (under torchrun, this process's share of it)."""
        return self.run.local_batch_size

    # --------------------------------------------------------------------------------- data
    def _cached(self, key: str, make):
        if key in self._cache:
            return self._cache[key]
        if key in self._reuse and key in self._shared:
            value = self._shared[key]
        else:
            value = make()
        self._cache[key] = self._shared[key] = value
        return value

    @property
    def batch(self) -> dict[str, torch.Tensor]:
        """The next batch of real data (fetched once per phase run)."""
        return self._cached("batch", self.run.next_batch)

    @property
    def real(self) -> torch.Tensor:
        return self.batch["image"]

    @property
    def latent(self) -> torch.Tensor:
        return self._cached("latent", lambda: self.run.sample_latent(self.batch_size))

    @property
    def labels(self) -> torch.Tensor:
        """Class labels of the real batch."""
        return self.batch["label"]

    @property
    def fake_labels(self) -> torch.Tensor | None:
        """Classes the fake batch is generated for (uniform), or None when the generator is unconditional."""
        if not self._role("generator")[1]:
            return None
        return self._cached("fake_labels", lambda: self.run.sample_labels(self.batch_size))

    @property
    def fake(self) -> torch.Tensor:
        """``generator(latent[, fake_labels])``, with its graph: detach it where the generator must not learn."""
        return self._cached("fake", lambda: self._call("generator", self.latent, self.fake_labels))

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None, role: str = "discriminator") -> torch.Tensor:
        """The discriminator's output for ``x``, given ``labels`` if it is conditional."""
        return self._call(role, x, labels)

    def _call(self, role: str, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """:func:`call` on the role's network, with what the context knows of it already."""
        net, conditional = self._role(role)
        return call(net, x, labels, True) if conditional else net(x)  # (no further call for the common case)

    def real_or_fake_labels(self, fake: bool) -> torch.Tensor | None:
        """Labels that go with ``ctx.fake`` (fake=True) or ``ctx.real``, None for unconditional discriminators."""
        if not self._role("discriminator")[1]:
            return None
        return self.fake_labels if fake else self.labels

    def remember(self, key: str, make):
        """Cache any other per-phase computation under ``key`` (plugins use this for their terms)."""
        return self._cached(key, make)


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(o)]
    return []


def unwrap(net):
    """The network itself, for a network a term got through the context (under torchrun a proxy)."""
    return net._module if isinstance(net, _Replicated) else net


class _Replicated:
    """A trained network as a term calls it under torchrun: calls go through its DistributedDataParallel
    wrapper (outputs recorded for :meth:`StepContext.touch_replicated` when this phase trains it), everything
    else (attributes, methods such as ``features``) is the network's own."""

    def __init__(self, module: torch.nn.Module, replica: torch.nn.Module, outputs: list | None):
        self.__dict__.update(_module=module, _replica=replica, _outputs=outputs)

    def __call__(self, *args, **kwargs):
        out = self._replica(*args, **kwargs)
        if self._outputs is not None:
            self._outputs.append(out)
        return out

    def __getattr__(self, name):
        return getattr(self._module, name)
