"""Every hook a gancompose plugin can implement, declared and documented in one place.

A plugin is a module registered under the ``gancompose`` entry-point group in its package metadata::

    [project.entry-points.gancompose]
    mything = "gancompose_mything"

The module implements any of the hooks below with :data:`gancompose.hookimpl`. Each ``register_*``
hook receives one argument, ``register``, a callable::

    register(name, factory, params=MyParams, doc=None, *, requires=None, provides=None)

``name`` is what a recipe writes after ``type =``; ``factory`` builds the component (its signature
depends on the kind, see each hook); ``params`` is a :class:`gancompose.Params` subclass describing
the component's parameters (omit it for a component without parameters); ``doc`` is a one-line
description (default: the first line of the factory's docstring). ``requires`` and ``provides`` are
capability names (default: the factory's ``requires``/``provides`` attributes): a component that requires
``"cycle_pair"`` is valid only in a recipe where another component (the ``cycle`` schedule) provides it;
the validator refuses any other recipe, naming both sides (gancompose/recipe/checks.py).

Built-in components are registered through these same hooks and the same entry-point group, so a
third-party package is indistinguishable from a built-in one. A plugin that fails to import, or whose
hook raises, is reported by name and the others still load. Two plugins registering the same
``kind/name`` both load, each under its qualified name ``plugin:name`` (``type = "mine:hinge"``), with a
warning naming both; a recipe that uses the bare name is refused, naming both plugins and the qualified names.

What the core calls on what a factory builds is declared on a base class per kind, with defaults that do
nothing for every optional method: gancompose/protocols.py (datasets, losses, augmentations, per-epoch learning
rate schedules, networks that take labels), :class:`gancompose.engine.Schedule`, :class:`gancompose.engine.Callback`
and :class:`gancompose.sampling.SampleOption`. A factory that builds something else is refused, naming its plugin.
"""
from __future__ import annotations

from typing import NamedTuple

import pluggy

hookspec = pluggy.HookspecMarker("gancompose")


class Kind(NamedTuple):
    """A component kind: its name (``list-components --kind``), its title and where a recipe uses it."""
    name: str
    title: str
    usage: str


#: the one list of component kinds: the hook that registers each (declared below), its name and where a recipe
#: uses it. The registry, the recipe schema's tagged unions and the generated reference all read it.
COMPONENT_KINDS: dict[str, Kind] = {
    "register_layers": Kind("layer", "Layers", 'an item of `layers = [{type = "..."}]` in a `type = "sequential"` '
                                               "network"),
    "register_blocks": Kind("block", "Blocks", '`[networks.NAME] type = "..."` (a whole network with its parameters)'),
    "register_losses": Kind("loss", "Losses", '`[loss] type = "..."` (the adversarial loss)'),
    "register_regularizers": Kind("regularizer", "Regularizers", '`[[regularizers]] type = "..."` (extra terms, '
                                  "constraints); every one also takes `weight`, `every` and `network` where its "
                                  "model lists them"),
    "register_optimizers": Kind("optimizer", "Optimizers", '`[optimizers.NAME] type = "..."` (one per trained '
                                "network); every one also takes `lr_schedule`"),
    "register_lr_schedules": Kind("lr_schedule", "Learning-rate schedules",
                                  '`[optimizers.NAME] lr_schedule = {type = "..."}`'),
    "register_initializers": Kind("initializer", "Initializers", '`[networks.NAME] init = {type = "..."}`'),
    "register_conditioners": Kind("conditioner", "Conditioners", '`[networks.NAME] condition = {type = "..."}` '
                                  "(makes a network class-conditional); every one also takes `num_classes`"),
    "register_augmentations": Kind("augmentation", "Augmentations", '`[networks.NAME] augment = {type = "..."}`'),
    "register_datasets": Kind("dataset", "Datasets", '`[data] type = "..."`'),
    "register_metrics": Kind("metric", "Metrics", '`[[metrics]] type = "..."`; every one also takes `every` (steps '
                             "between evaluations)"),
    "register_schedules": Kind("schedule", "Schedules", '`[schedule] type = "..."` (the training schedule: phases '
                               "per step)"),
}


@hookspec
def register_layers(register):
    """Register layers: one step of a ``type = "sequential"`` network's ``layers`` list.

    ``factory(params, in_shape) -> torch.nn.Module``. ``in_shape`` is the per-sample shape of the
    layer's input (batch dimension excluded), so a layer infers its input size (``in_features``,
    ``in_channels``) from the previous layer instead of making the user repeat it.
    """


@hookspec
def register_blocks(register):
    """Register blocks: whole networks with parameters (``[networks.NAME] type = "dcgan_generator"``).

    ``factory(params, in_shape) -> torch.nn.Module``; ``in_shape`` is the per-sample input shape
    the network will receive (the latent vector, or a data sample).

    A block that maps a latent vector to an image declares ``requires=("latent_input",)``, one that takes
    images ``("data_input",)`` (and ``provides=("image_to_image",)`` when it returns an image of the same
    size): a network whose ``input`` does not give it is refused while validating. A parameter named
    ``num_classes`` is the block's own class count (0: unconditional), refused unless it equals the data's.
    ``spectral_norm = true`` on the network normalizes every torch convolution, linear layer and embedding
    and every :class:`gancompose.nn.ScaledWeight` layer, the condition's included (a
    :class:`gancompose.nn.NormalizationLayer`'s tables excepted); a block with another weighted layer is refused.
    """


@hookspec
def register_losses(register):
    """Register losses: the adversarial objective in ``[loss]``.

    ``factory(params) ->`` a :class:`gancompose.protocols.AdversarialLoss` with
    ``discriminator(real_out, fake_out) -> Tensor`` and ``generator(fake_out, real_out) -> Tensor``;
    ``real_out``/``fake_out`` are discriminator outputs. The schedule makes the phases' adversarial terms of it.
    """


@hookspec
def register_regularizers(register):
    """Register regularizers: extra terms in ``[[regularizers]]`` (gradient penalty, R1, ...).

    ``factory(params) -> Term``, usually a subclass of :class:`gancompose.engine.RegularizerTerm`
    (constructed as ``Term(params)``) with parameters subclassing :class:`gancompose.engine.RegularizerParams`
    (``weight``, ``every``, ``network``). A term is ``term(ctx) -> scalar Tensor`` returning the **unweighted**
    value: the loop multiplies it by ``params.weight * params.every`` on the steps divisible by ``every`` (lazy
    regularization), adds it to the loss of the phase that trains ``params.network`` and calls ``backward()``
    once for the phase. A term never calls ``backward()`` or steps an optimizer itself.

    ``ctx`` is a :class:`gancompose.engine.context.StepContext`: ``ctx.real``, ``ctx.latent``, ``ctx.fake``
    (the generator's output with its graph), ``ctx.labels``/``ctx.fake_labels``, ``ctx.network(name)``,
    ``ctx.discriminate(x, labels)``, ``ctx.remember(key, make)`` and ``ctx.log(name, value)``. Images in the
    context are **not augmented**: a network with ``augment = {...}`` augments whatever it is called on, in
    training mode, so a term that calls the discriminator on ``ctx.real`` or ``ctx.fake`` sees augmented
    images through it.

    The term's ``name`` is its key in the logs (``discriminator/NAME`` in metrics.jsonl and on the console);
    it defaults to the registered name, and two terms of one recipe with the same name on the same network
    log as ``NAME_I`` (``I``: their index in ``[[regularizers]]``). The logged value is the term's contribution to
    the loss, ``weight * every * value``, averaged over the steps it fired in the log interval (tests/test_engine.py
    checks it). A constraint rather than a loss (weight clipping) subclasses :class:`gancompose.engine.Constraint`
    and implements ``after_step(ctx)``, run after the phase's optimizers stepped.
    """


@hookspec
def register_optimizers(register):
    """Register optimizers (``[optimizers.NETWORK] type = "adam"``).

    ``factory(params, parameters) -> torch.optim.Optimizer``.
    """


@hookspec
def register_lr_schedules(register):
    """Register learning-rate schedules (``[optimizers.NETWORK.lr_schedule]``).

    ``factory(params) -> callable(step, total_steps) -> float``: a factor multiplying the base
    learning rate. It must be a pure function of the step so a resumed run is exact. An instance of
    :class:`gancompose.protocols.PerEpoch` is called with ``(epoch, total_epochs)`` instead, once per epoch.
    """


@hookspec
def register_initializers(register):
    """Register weight initializers (``[networks.NAME] init = {type = "normal", std = 0.02}``).

    ``factory(params) -> callable(module) -> None`` applied to the built network.
    """


@hookspec
def register_conditioners(register):
    """Register conditioners: make any network class-conditional (``[networks.NAME] condition = {...}``).

    ``factory(params, num_classes) -> conditioner`` with ``in_shape(shape) -> shape`` (the input
    shape the wrapped network is built for, e.g. with label channels added) and
    ``wrap(network, in_shape) -> nn.Module`` returning a module called as ``module(x, labels)``, an instance of
    :class:`gancompose.protocols.TakesLabels` (as is any block that takes labels). ``num_classes`` comes from
    the dataset.

    A conditioner's ``requires`` must be provided by the block (or, for a ``sequential`` network, the last
    layer) of the network it conditions: ``projection`` and ``auxiliary_classifier`` require
    ``"feature_head"``, which a block provides by exposing ``features(x) -> [N, F]`` and a ``head`` module
    with ``in_features``/``out_features`` (``gancompose_conditional.heads.split_head``). A wrapper that
    subclasses ``gancompose_conditional.heads.Wrapper`` passes a growing network's ``set_growth`` through.
    """


@hookspec
def register_augmentations(register):
    """Register augmentations: differentiable transforms of every image a network sees while training
    (``[networks.discriminator] augment = {type = "diffaugment", policy = "color,translation"}``).

    ``factory(params, in_shape) ->`` a :class:`gancompose.protocols.Augmentation` (an ``nn.Module``) called as
    ``module(x) -> x`` on a batch, with gradients flowing through it. The builder applies it to the network's input in training mode only
    (real and fake batches, in every phase and regularizer), keeping the network's tensor names; the
    module's own buffers are checkpointed as ``networks.NAME.augment.<buffer>``. Optional methods, declared on
    the base with defaults that do nothing:
    ``observe(real_out)`` (the schedule passes the discriminator's detached outputs on real batches, for
    adaptive augmentation), ``status() -> dict`` (shown by the progress display) and ``monitor() -> Tensor``
    (a scalar logged with the discriminator phase's losses, e.g. ADA's probability p).
    """


@hookspec
def register_datasets(register):
    """Register datasets (``[data] type = "shapes"``).

    ``factory(params) ->`` a :class:`gancompose.protocols.Dataset` whose items are ``{"image": Tensor, ...}``
    dicts (``"label"`` for labelled data), images scaled to ``[-1, 1]``. The dataset sets ``sample_shape``
    (per-sample shape of ``"image"``) and ``num_classes`` (``None`` if unlabelled); the base declares the
    optional fast paths (``get_batch``, ``stage``, ``uint8_item``) and, for a factory that is the class itself,
    ``download(root, mirror=None)`` and ``prepare(root, archive)`` for ``gancompose data download/prepare``.
    Parameters subclassing :class:`gancompose.data.DatasetParams` may declare ``data_shape()`` (the sample
    shape, class count and size known from the parameters alone): ``validate`` and ``explain`` then build on
    it when the data's files are missing (the factory raised :class:`gancompose.errors.DataError`).
    """


@hookspec
def register_metrics(register):
    """Register metrics (``[[metrics]] type = "..."``), computed at intervals during training.

    ``factory(params) -> callable(run) -> dict[str, float]``.
    """


@hookspec
def register_schedules(register):
    """Register training schedules (variants): what each step of the one training loop does.

    ``factory(params, run) -> Schedule``, an instance of a subclass of :class:`gancompose.engine.Schedule`
    with ``roles`` and ``phases(step) -> list[Phase]``: which terms are summed, which optimizers step, which
    networks are frozen, how often a phase repeats. The base declares, with defaults that do nothing, every
    other method the core calls (``before_step``, ``prepare_batch``, ``stage``, ``status``, ``describe``,
    ``sample_grid``, ``state_dict``/``load_state_dict``). Parameters subclassing
    :class:`gancompose.engine.ScheduleParams` may declare what the schedule feeds a network other than a data sample
    (``network_inputs``: a discriminator of image pairs), which the network is then built on. A GAN
    variant is a composition of components and a schedule, never a trainer subclass.
    """


@hookspec
def register_capabilities(register):
    """Say what the capabilities a plugin's components require or provide mean (``requires=("cycle_pair",)``).

    ``register(name, meaning)``: one sentence, shown by the generated compatibility reference and wherever a
    capability is explained. The capabilities the core checks itself (``data_input``, ``latent_input``,
    ``image_to_image``, ``unnormalized_weights``) are declared in gancompose/compatibility.py; a capability two
    plugins explain keeps the first meaning, with a warning naming both.
    """


@hookspec
def register_sample_options(register):
    """Add options to ``gancompose sample`` (a family's sampling behaviour: a truncation, a grid of its own).

    ``register(option)`` takes an instance of a subclass of :class:`gancompose.sampling.SampleOption`, which
    declares its click options (``options``) and, with defaults that do nothing, what they do: keyword arguments
    for every forward of the generator (``forward_kwargs``) and a grid written instead of the ``-n`` samples
    (``grid``). The option refuses, with a :class:`gancompose.GancomposeError`, a generator it cannot act on.
    Called the first time the CLI builds ``gancompose sample``; a plugin whose hook raises, or whose option's
    name another plugin took first, is reported and the others' options still load. The style family's
    ``--truncation`` and ``--mixing`` come through this hook (plugins/gancompose_style/sampling.py).
    """


@hookspec
def register_commands(cli):
    """Add command-line commands (the pattern of simonw/llm's hook of the same name).

    ``cli`` is gancompose's root ``click.Group``: ``cli.add_command(my_command)`` adds ``gancompose my-command``,
    and ``cli.commands["import"].add_command(...)`` adds ``gancompose import FORMAT`` for a format of official
    checkpoints the plugin converts. A command raises :class:`gancompose.GancomposeError` (or a subclass) for
    what the user got wrong: the CLI prints it as one ``error:`` line and exits 2, no traceback. The hook runs the
    first time the CLI looks up or lists its commands; a plugin whose hook raises is reported and the others'
    commands still load. Commands of the built-in families live in their plugins (``gancompose import cyclegan``
    in gancompose_cycle, ``import pix2pix``, ``import stylegan2``), registered through this same hook.
    """
