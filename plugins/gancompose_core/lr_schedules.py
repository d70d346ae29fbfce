"""Learning-rate schedules: factors on the base rate, pure functions of (step, total steps), or of
(epoch, total epochs) for a :class:`gancompose.protocols.PerEpoch` schedule (see ``Run.apply_lr``)."""
from __future__ import annotations

from pydantic import Field, PositiveInt

from gancompose import Params
from gancompose.protocols import PerEpoch


def constant(p: Params):
    """Keep the base learning rate."""
    return lambda step, total: 1.0


class LinearDecayParams(Params):
    start: float = Field(0.5, ge=0, le=1, description="fraction of training after which the rate decays")
    end_factor: float = Field(0.0, ge=0, description="factor reached at the last step")


def linear_decay(p: LinearDecayParams):
    """Constant, then linear decay to end_factor (CycleGAN: 100 epochs constant, 100 decaying to 0)."""
    def factor(step: int, total: int) -> float:
        begin = p.start * total
        if step < begin or total <= begin:
            return 1.0
        return 1.0 + (p.end_factor - 1.0) * (step - begin) / (total - begin)
    return factor


class EpochLinearDecayParams(Params):
    constant_epochs: PositiveInt = Field(100, description="epochs at the base rate (CycleGAN's --n_epochs)")
    decay_epochs: PositiveInt = Field(100, description="epochs of linear decay after them (--n_epochs_decay)")


class EpochLinearDecay(PerEpoch):
    """The base rate for ``constant_epochs``, then linearly toward 0 over ``decay_epochs``, changed once per
    epoch: the ``linear`` policy of the official CycleGAN / pix2pix code (``lambda_rule`` in
    models/networks.py with epoch_count = 1), ``1 - max(0, epoch + 1 - constant) / (decay + 1)`` after
    ``epoch`` completed epochs: 1 up to epoch 99, 100/101 in epoch 100, 50/101 in epoch 150, 0 after 200."""
    def __init__(self, p: EpochLinearDecayParams):
        self.constant, self.decay = p.constant_epochs, p.decay_epochs

    def __call__(self, epoch: int, total_epochs: int) -> float:
        return max(0.0, 1.0 - max(0, epoch + 1 - self.constant) / (self.decay + 1))


class StepDecayParams(Params):
    every: PositiveInt = Field(description="steps between decays")
    gamma: float = Field(0.1, gt=0, description="factor applied at each decay")


def step_decay(p: StepDecayParams):
    """Multiply the rate by gamma every N steps."""
    return lambda step, total: p.gamma ** (step // p.every)


class ExponentialParams(Params):
    gamma: float = Field(0.9999, gt=0, description="factor applied each step")


def exponential(p: ExponentialParams):
    """Multiply the rate by gamma every step."""
    return lambda step, total: p.gamma ** step


LR_SCHEDULES = [("constant", constant, None), ("linear_decay", linear_decay, LinearDecayParams),
                ("epoch_linear_decay", EpochLinearDecay, EpochLinearDecayParams),
                ("step_decay", step_decay, StepDecayParams), ("exponential", exponential, ExponentialParams)]
