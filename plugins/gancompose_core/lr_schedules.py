"""Learning-rate schedules: factors on the base rate, pure functions of (step, total steps)."""
from __future__ import annotations

from pydantic import Field, PositiveInt

from gancompose import Params


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
                ("step_decay", step_decay, StepDecayParams), ("exponential", exponential, ExponentialParams)]
