"""gancompose's evaluation plugin: FID, KID, Inception Score and precision/recall on Inception-v3 features
(from a local weights file), on features of a classifier trained on the run's own labelled data (offline),
or on the raw samples. Registered by entry point."""
from gancompose import hookimpl, register_all

from gancompose_eval.metrics import METRICS


@hookimpl
def register_metrics(register):
    register_all(register, METRICS)

