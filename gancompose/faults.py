"""What a numerical fault is: the record a run keeps of the first non-finite (or exploding) loss or state it met,
set by the guard of ``train.on_nan`` (gancompose/callbacks/nan_guard.py) and read where the run ends."""
from __future__ import annotations

from dataclasses import dataclass, field

from gancompose.checkpoint import describe_nonfinite


@dataclass
class Fault:
    step: int  # the step counter when the non-finite value was produced (the step that ran from it)
    losses: dict[str, float] = field(default_factory=dict)  # loss key -> its non-finite (or too large) mean
    tensors: list[str] = field(default_factory=list)  # checkpoint names of the tensors holding NaN/Inf
    reason: str = ""
    max_loss: float = 0.0

    def describe(self) -> str:
        if self.losses:
            what = ", ".join(f"{k} = {v:.6g}" for k, v in self.losses.items())
            finite = all(v == v and v not in (float("inf"), float("-inf")) for v in self.losses.values())
            text = (f"loss beyond train.max_loss = {self.max_loss:g} at step {self.step}: {what} (interval means)"
                    if finite else f"non-finite loss at step {self.step}: {what}")
        elif self.tensors:
            text = f"non-finite values (NaN/Inf) by step {self.step} in {describe_nonfinite(self.tensors)}"
        elif self.reason.startswith("the last "):
            return f"numerical fault by step {self.step}: {self.reason}"
        else:
            text = f"non-finite loss at step {self.step}"
        return text + (f" ({self.reason})" if self.reason else "")
