"""Attaching an augmentation (``[networks.NAME] augment = {...}``) to a built network.

The augmentation transforms the network's input in training mode: every batch the network sees, real or
fake, in every phase and every regularizer that calls it, with gradients flowing through. It is applied by
a forward pre-hook rather than a wrapper, so the network's parameter and buffer names stay what they are
without it. It is kept out of the network's submodules (a ``Sequential`` would run a submodule as a layer);
its buffers (ADA's ``p``) join the network's ``state_dict`` as ``augment.<buffer>`` through state-dict
hooks, so checkpoints save and restore them with the network.
"""
from __future__ import annotations

import torch
from torch import nn

from gancompose.engine.context import unwrap
from gancompose.protocols import Augmentation, implements

_ATTR = "augment"
_PREFIX = "augment."


def augmentation_of(net: nn.Module) -> nn.Module | None:
    """The augmentation attached to ``net``, or None."""
    return unwrap(net).__dict__.get(_ATTR)


def _move(aug: nn.Module, device: torch.device) -> None:
    for t in aug.buffers():
        if t.device != device:
            aug.to(device)
        return


def _pre_hook(module: nn.Module, args):
    aug = augmentation_of(module)
    if aug is None or not module.training:
        return None
    x = args[0]
    _move(aug, x.device)
    return (aug(x), *args[1:])


def _state_dict_hook(module: nn.Module, state_dict, prefix: str, local_metadata) -> None:
    aug = augmentation_of(module)
    if aug is not None:
        for key, value in aug.state_dict().items():
            state_dict[prefix + _PREFIX + key] = value


def _load_pre_hook(module: nn.Module, state_dict, prefix: str, local_metadata, strict, missing_keys,
                   unexpected_keys, error_msgs) -> None:
    aug = augmentation_of(module)
    if aug is None:
        return
    own = {k[len(prefix + _PREFIX):]: state_dict.pop(k) for k in list(state_dict) if k.startswith(prefix + _PREFIX)}
    expected = set(aug.state_dict())
    for key in sorted(expected - set(own)):
        missing_keys.append(prefix + _PREFIX + key)
    if own.keys() >= expected:
        aug.load_state_dict({k: own[k] for k in expected})
    for key in sorted(set(own) - expected):
        unexpected_keys.append(prefix + _PREFIX + key)


def attach_augmentation(net: nn.Module, aug: nn.Module) -> nn.Module:
    """Make ``net`` pass its first input through ``aug`` in training mode (in place; returns ``net``)."""
    if augmentation_of(net) is not None:
        raise ValueError("the network already has an augmentation")
    object.__setattr__(net, _ATTR, aug)  # not a submodule: see the module docstring
    net.register_forward_pre_hook(_pre_hook)
    net.register_state_dict_post_hook(_state_dict_hook)
    net.register_load_state_dict_pre_hook(_load_pre_hook)
    return net


def observe_real(net: nn.Module, real_out: torch.Tensor) -> None:
    """Tell ``net``'s augmentation what the network answered on a real batch (adaptive augmentation)."""
    aug = augmentation_of(net)
    if aug is not None and net.training:
        aug.observe(real_out.detach())


def monitored(net: nn.Module) -> nn.Module | None:
    """``net``'s augmentation if it has a ``monitor()`` value to log (ADA's p), else None."""
    aug = augmentation_of(net)
    return aug if aug is not None and implements(aug, "monitor", Augmentation) else None


def augmentation_status(networks) -> dict:
    """``status()`` of every network's augmentation, for the progress display."""
    out: dict = {}
    for net in networks.values():
        aug = augmentation_of(net)
        if aug is not None:
            out.update(aug.status())
    return out
