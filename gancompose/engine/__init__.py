"""The engine: one training loop that runs what a schedule's phases say."""
from gancompose.engine.context import StepContext
from gancompose.engine.phases import (Constraint, Phase, RegularizerParams, RegularizerTerm, Schedule, ScheduleParams,
                                      Term, translations)
from gancompose.engine.loop import Callback, train

__all__ = ["StepContext", "Phase", "Schedule", "ScheduleParams", "translations", "Term", "RegularizerParams",
           "RegularizerTerm", "Constraint", "Callback", "train"]
