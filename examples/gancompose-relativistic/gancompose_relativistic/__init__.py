"""gancompose-relativistic: an example third-party gancompose plugin, one component of each main kind.

- loss ``relativistic``: relativistic (average) standard / least-squares / hinge GAN losses
  (Jolicoeur-Martineau 2018);
- layer ``minibatch_discrimination`` (Salimans et al. 2016) and block ``minibatch_mlp`` (an MLP
  discriminator with that layer before its output);
- dataset ``spiral``: a procedural 2-D spiral with any number of arms (no download);
- metric ``spiral_fit``: how close generated points lie to the spiral, and how much of it they cover.

gancompose finds this module through the entry point in ``pyproject.toml``
(``[project.entry-points.gancompose] relativistic = "gancompose_relativistic"``) and calls the hooks below.
"""
from gancompose import hookimpl, register_all

from gancompose_relativistic.losses import LOSSES
from gancompose_relativistic.layers import BLOCKS, LAYERS
from gancompose_relativistic.spiral import DATASETS, METRICS

__version__ = "0.1.0"


@hookimpl
def register_losses(register):
    register_all(register, LOSSES)


@hookimpl
def register_layers(register):
    register_all(register, LAYERS)


@hookimpl
def register_blocks(register):
    register_all(register, BLOCKS)


@hookimpl
def register_datasets(register):
    register_all(register, DATASETS)


@hookimpl
def register_metrics(register):
    register_all(register, METRICS)
