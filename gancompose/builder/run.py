"""A :class:`Run`: every live object a recipe describes, plus the counters the loop advances."""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from gancompose.builder.built_checks import check_built
from gancompose.builder.networks import NetworkReport, build_network, call_factory, require_base
from gancompose.data import BatchStream, DatasetParams, DataStandIn
from gancompose.engine.phases import Schedule, ScheduleParams, Term
from gancompose.protocols import AdversarialLoss, Dataset, PerEpoch
from gancompose.errors import DataError, RecipeError
from gancompose.builder.freeze import apply_trainable, trainable_parameters
from gancompose.performance.compile import CompiledNetworks
from gancompose.performance.settings import apply_fused, resolve_performance, to_channels_last
from gancompose.builder.init_from import apply_init_from
from gancompose.registry import Registry, default_registry

if TYPE_CHECKING:
    from gancompose.faults import Fault
    from gancompose.performance.distributed import Distributed
    from gancompose.performance.settings import Performance
    from gancompose.builder.init_from import LoadReport


@dataclass
class TrainState:
    """The counters a schedule is a function of; saved in every checkpoint."""
    step: int = 0
    images_seen: int = 0


@dataclass
class Run:
    """Everything one training run is made of, built from a recipe by :func:`build_run`: what schedules, terms,
    metrics and callbacks read (through :class:`gancompose.engine.StepContext` in a phase)."""
    #: the validated recipe (a pydantic model built from the installed plugins, gancompose.recipe.recipe_model)
    recipe: Any
    registry: Registry
    device: torch.device
    dataset: Dataset
    networks: nn.ModuleDict
    reports: dict[str, NetworkReport]
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    #: network name -> its learning-rate factor (a callable of (step, total) or a PerEpoch), None: constant
    lr_schedules: dict[str, Callable[[int, int], float] | None] = field(default_factory=dict)
    loss: AdversarialLoss | None = None
    #: the [[regularizers]] terms (callables of a StepContext; constraints have ``after_step``)
    regularizers: list[Term] = field(default_factory=list)
    schedule: Schedule | None = None
    ema: dict[str, nn.Module] = field(default_factory=dict)
    stream: BatchStream | None = None
    state: TrainState = field(default_factory=TrainState)
    stop_requested: bool = False
    #: optimizer steps dropped for a non-finite loss or gradient (``train.on_nan = "skip"``)
    skipped_steps: int = 0
    #: set when a non-finite loss stopped the run (``train.on_nan``): what, where; no checkpoint is written then
    fault: Fault | None = None
    #: what each network's ``init_from`` loaded, by network name
    init_reports: dict[str, LoadReport] = field(default_factory=dict)
    #: the ``[performance]`` section resolved for this device
    performance: Performance | None = None
    #: the compiled networks and their fallbacks, or None
    compiled: CompiledNetworks | None = None
    #: this process's place under torchrun, or None
    dist: Distributed | None = None
    #: network name -> its DistributedDataParallel wrapper, for the networks an optimizer trains (torchrun)
    replicas: dict[str, nn.Module] = field(default_factory=dict)
    #: with ``stand_in``: networks whose ``init_from`` file is not there yet (name -> the RecipeError)
    missing_weights: dict[str, RecipeError] = field(default_factory=dict)
    #: the batch size a schedule set for this step (``run.batch_size``); None: ``train.batch_size``
    _batch_size: int | None = field(default=None, repr=False)

    def autocast(self):
        """The context the loop computes a phase's terms in ([performance] precision = 'bf16': autocast)."""
        return self.performance.autocast() if self.performance is not None else contextlib.nullcontext()

    # ------------------------------------------------------------------------------ data
    @property
    def batch_size(self) -> int:
        """Samples per batch this step: ``train.batch_size``, or what the schedule set (progressive growing).
        Under torchrun this is the batch of all processes together; each takes :attr:`local_batch_size`."""
        return self._batch_size or self.recipe.train.batch_size

    @batch_size.setter
    def batch_size(self, n: int) -> None:
        self._batch_size = int(n)

    @property
    def local_batch_size(self) -> int:
        """This process's share of :attr:`batch_size` (all of it outside torchrun)."""
        n = self._batch_size or self.recipe.train.batch_size
        return n if self.dist is None else self.dist.share(n)

    def next_batch(self) -> dict[str, torch.Tensor]:
        n = self.batch_size
        batch = self.stream.next(n)
        self.state.images_seen += n  # all processes' images (an unpaired batch has "A" and "B")
        if self.performance is not None and self.performance.channels_last:
            batch = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                     for k, v in batch.items()}
        return self.schedule.prepare_batch(batch)  # e.g. reals at the current resolution (progressive growing)

    def sample_labels(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` class labels drawn uniformly (for fake batches of a conditional generator)."""
        device = generator.device if generator is not None else self.device
        if generator is None and self.dist is not None:  # every process draws all processes' labels, keeps its own
            return self.dist.mine(torch.randint(self.num_classes, (n * self.dist.world,), device=device))
        return torch.randint(self.num_classes, (n,), device=device, generator=generator).to(self.device)

    @property
    def num_classes(self) -> int | None:
        return self.dataset.num_classes

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latents of the recipe's distribution on the run's device (from ``generator`` when given). Under
        torchrun, without a generator, every process draws all processes' latents and keeps its own share: the
        same latents as one process with the whole batch."""
        spec = self.recipe.latent
        world = 1 if generator is not None or self.dist is None else self.dist.world
        device = self.device if generator is None else generator.device
        if spec.distribution == "normal":
            z = torch.randn(n * world, spec.dim, device=device, generator=generator)
        else:
            z = torch.rand(n * world, spec.dim, device=device, generator=generator) * 2 - 1
        if world > 1:
            return self.dist.mine(z)
        return z if generator is None else z.to(self.device)  # (a generator may live on another device)

    # -------------------------------------------------------------------- schedules, EMA
    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the data (as the batch stream counts them: partial batches are dropped)."""
        if self.stream is not None:
            return self.stream.batches_per_epoch
        n = len(self.dataset)
        return max(1, n // self.recipe.train.batch_size)

    @property
    def total_steps(self) -> int:
        """``train.steps``, or ``train.epochs`` x batches per epoch."""
        epochs = self.recipe.train.epochs
        return self.recipe.train.steps if epochs is None else epochs * self.steps_per_epoch

    def apply_lr(self, step: int) -> None:
        """Set each optimizer's rate to its base rate times its schedule's factor. A schedule is called with
        ``(step, total_steps)``, or with ``(epoch, total_epochs)`` when it has ``unit = "epoch"``
        (the epoch being the number of completed passes over the data)."""
        total = self.total_steps
        for name, fn in self.lr_schedules.items():
            if fn is None:
                continue
            if isinstance(fn, PerEpoch):
                spe = self.steps_per_epoch
                factor = float(fn(step // spe, -(-total // spe)))
            else:
                factor = float(fn(step, total))
            for group in self.optimizers[name].param_groups:
                group["lr"] = group["initial_lr"] * factor

    def update_ema(self, step: int) -> None:
        spec = self.recipe.train.ema
        if spec is not None:  # (no no_grad context entered at every step of a run without EMA)
            with torch.no_grad():
                self._update_ema(spec, step)

    def _update_ema(self, spec, step: int) -> None:
        src, dst = self.networks[spec.network], self.ema[spec.network]
        sp, dp = list(src.parameters()), list(dst.parameters())
        if step < spec.start_step:
            torch._foreach_copy_(dp, sp)
        else:
            decay = spec.decay
            if spec.half_life_images is not None:  # StyleGAN2: ema_beta = 0.5 ** (batch / ema_nimg)
                half = spec.half_life_images if spec.rampup is None else min(
                    spec.half_life_images, self.state.images_seen * spec.rampup)
                decay = 0.5 ** (self.batch_size / max(half, 1e-8))
            torch._foreach_lerp_(dp, sp, 1.0 - decay)
        for b_dst, b_src in zip(dst.buffers(), src.buffers()):
            b_dst.copy_(b_src)

    def sampling_network(self, name: str, use_ema: bool = True) -> nn.Module:
        return self.ema[name] if use_ema and name in self.ema else self.networks[name]

    def generator_name(self) -> str:
        """The network that turns latents into samples (the schedule's ``generator`` role when it has one)."""
        if self.schedule is not None and "generator" in self.schedule.roles:
            return self.schedule.roles["generator"]
        names = [n for n, s in self.recipe.networks.items() if s.input == "latent"]
        if not names:
            from gancompose.errors import GancomposeError
            raise GancomposeError("this run has no generator of latents: its networks translate images",
                                  hint="use gancompose translate CHECKPOINT --direction AtoB --input DIR --output DIR")
        return names[0]


def ema_copy(net: nn.Module) -> nn.Module:
    """A frozen copy of ``net`` in eval mode, to hold its exponential moving average."""
    return copy.deepcopy(net).eval().requires_grad_(False)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise RecipeError(f"unknown device {name!r}", key=["train", "device"],
                          hint="use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"device {name!r} asked for, but CUDA is not available here", key=["train", "device"],
                          hint="use --device cpu (or train.device = 'auto')")
    return device


def network_input_shape(name: str, spec, recipe, dataset) -> tuple[int, ...]:
    """The per-sample shape network ``name`` is built for: the latent's, the data's, or what the schedule declares it
    feeds the network (:meth:`gancompose.engine.ScheduleParams.network_inputs`)."""
    if spec.input == "latent":
        return (recipe.latent.dim,)
    sample = tuple(dataset.sample_shape)
    if isinstance(recipe.schedule, ScheduleParams):
        return tuple(recipe.schedule.network_inputs(sample).get(name, sample))
    return sample


def build_networks(recipe, registry: Registry, dataset) -> tuple[nn.ModuleDict, dict[str, NetworkReport]]:
    """Every network of the recipe, built and checked by a dry forward pass. A problem in one network does not
    hide the others': every network is tried and all problems are raised together."""
    networks, reports = nn.ModuleDict(), {}
    problems: list[RecipeError] = []
    for name, spec in recipe.networks.items():
        try:
            net, report = build_network(name, spec, network_input_shape(name, spec, recipe, dataset), registry,
                                        num_classes=dataset.num_classes)
        except RecipeError as exc:
            problems += exc.problems or [exc]
            continue
        if spec.input == "latent" and report.out_shape != tuple(dataset.sample_shape):
            problems.append(RecipeError(
                f"the network produces samples of shape {report.out_shape}, but the data's samples have "
                f"shape {tuple(dataset.sample_shape)}", key=["networks", name],
                hint="match the network's output (channels, image size) to [data]"))
            continue
        networks[name] = net
        reports[name] = report
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RecipeError("invalid recipe", problems=problems)
    return networks, reports


def build_component(kind: str, spec, registry: Registry, key: list, *args):
    comp = registry.get(kind, spec.type)
    return call_factory(comp, key, spec, *args)  # an exception other than a RecipeError names the plugin


def build_dataset(recipe, registry: Registry, *, stand_in: bool = False):
    """The recipe's dataset. With ``stand_in``, a dataset whose files are missing but whose parameters declare its
    shape (:meth:`gancompose.data.DatasetParams.data_shape`) is replaced by a :class:`DataStandIn` carrying the
    error, so ``validate`` and ``explain`` work before the data is fetched."""
    try:
        return require_base(registry.get("dataset", recipe.data.type),
                            build_component("dataset", recipe.data, registry, ["data"]), Dataset,
                            "gancompose.protocols.Dataset", ["data", "type"])
    except DataError as exc:
        shape = recipe.data.data_shape() if stand_in and isinstance(recipe.data, DatasetParams) else None
        if shape is None:
            raise
        return DataStandIn(shape, exc)


def _distinct_log_keys(terms: list) -> None:
    """Terms of one recipe that share a name and a network (two ``r1`` on the discriminator with other weights,
    two plugin terms) log as ``NAME_I`` with ``I`` their index in ``[[regularizers]]``, so no two share a metrics
    key (terms on other networks join other phases: their keys differ by the phase already)."""
    keys = [(t.name, t.network) for t in terms]  # (the schedules read term.network too)
    for i, term in enumerate(terms):
        if keys.count(keys[i]) > 1:
            term.name = f"{term.name}_{i}"


def build_run(recipe, *, registry: Registry | None = None, device: torch.device | None = None,
              dataset=None, with_data: bool = True, init_weights: bool = True, dist=None,
              stand_in: bool = False) -> Run:
    """Build everything a recipe describes. Seeds torch with ``train.seed`` first, so the initial
    weights depend on the seed alone. Errors name the recipe's file and key path.
    ``init_weights=False`` skips the networks' ``init_from`` (a resumed run restores every weight anyway).
    ``dist``: this process's place under torchrun (gancompose.performance.distributed.Distributed), whose
    process group has started. ``stand_in`` (with ``with_data=False``): data that is not on disk yet is replaced
    by its declared shape (``run.dataset.missing`` says what is missing), for ``validate`` and ``explain``."""
    try:
        return _build_run(recipe, registry, device, dataset, with_data, init_weights, dist, stand_in)
    except RecipeError as exc:
        raise exc.with_file(getattr(recipe, "_source", None)) from None


def _build_run(recipe, registry, device, dataset, with_data, init_weights=True, dist=None, stand_in=False) -> Run:
    registry = registry or default_registry()
    torch.manual_seed(recipe.train.seed)
    device = device or resolve_device(recipe.train.device)
    perf = resolve_performance(recipe.performance, device)
    dataset = dataset if dataset is not None else build_dataset(recipe, registry,
                                                                stand_in=stand_in and not with_data)
    networks, reports = build_networks(recipe, registry, dataset)
    networks.to(device)
    if perf.channels_last:  # before the EMA copy, which keeps the layout
        to_channels_last(networks)
    run = Run(recipe=recipe, registry=registry, device=device, dataset=dataset, networks=networks, reports=reports,
              performance=perf, dist=dist)
    # after init and spectral norm, before the EMA copy and the optimizers (gancompose/portable/)
    if init_weights:
        run.init_reports = apply_init_from(recipe, networks, missing=run.missing_weights if stand_in else None)
    apply_trainable(recipe, networks)

    if recipe.train.ema is not None:
        name = recipe.train.ema.network
        run.ema[name] = ema_copy(networks[name])

    for name, spec in recipe.optimizers.items():
        opt = build_component("optimizer", spec, registry, ["optimizers", name], trainable_parameters(networks[name]))
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
        run.optimizers[name] = opt
        run.lr_schedules[name] = (None if spec.lr_schedule is None else
                                  build_component("lr_schedule", spec.lr_schedule, registry, ["optimizers", name, "lr_schedule"]))
    run.loss = require_base(registry.get("loss", recipe.loss.type), build_component("loss", recipe.loss, registry, ["loss"]),
                            AdversarialLoss, "gancompose.protocols.AdversarialLoss", ["loss", "type"])
    run.regularizers = [build_component("regularizer", spec, registry, ["regularizers", i])
                        for i, spec in enumerate(recipe.regularizers)]
    _distinct_log_keys(run.regularizers)
    check_built(recipe, registry, networks)
    apply_fused(perf, run.optimizers, requested=recipe.performance.fused_optimizers is True)
    run.schedule = require_base(registry.get("schedule", recipe.schedule.type),
                                build_component("schedule", recipe.schedule, registry, ["schedule"], run), Schedule,
                                "gancompose.engine.Schedule", ["schedule", "type"])
    if with_data:
        if dist is not None:
            dist.share(recipe.train.batch_size)  # a batch that does not split evenly is refused now
        run.stream = BatchStream(dataset, recipe.train.batch_size, seed=recipe.train.seed, device=device,
                                 num_workers=recipe.train.num_workers,
                                 part=(dist.rank, dist.world) if dist is not None else (0, 1))
    if perf.compile:  # after the EMA copy: the average stays an eager module
        run.compiled = CompiledNetworks(networks, backend=perf.compile_backend, mode=perf.compile_mode)
    if dist is not None:
        dist.sync_every = recipe.train.log_every
        dist.replicate(run)
    return run
