"""Things that happen between steps: logging, sample grids, checkpoints, progress display."""
from gancompose.callbacks.checkpoints import Checkpointer
from gancompose.callbacks.evaluation import Evaluation
from gancompose.callbacks.metrics_log import MetricsLog
from gancompose.callbacks.progress import Progress, QuietLog
from gancompose.callbacks.samples import SampleGrid

__all__ = ["Checkpointer", "Evaluation", "MetricsLog", "Progress", "QuietLog", "SampleGrid"]
