"""``gancompose sample``: a grid of samples, and the options plugins add to it (``register_sample_options``)."""
from __future__ import annotations

import click
from rich.markup import escape

from gancompose.commands.context import err_console, registry
from gancompose.errors import GancomposeError
from gancompose.recipe.sections import MAX_SAMPLES


def sample(checkpoint, count, output, seed, no_ema, device, class_, per_class, **plugin_values):
    from gancompose.errors import GancomposeError
    from gancompose.runner import load_for_sampling
    from gancompose.sampling import check_finite_samples, class_labels, generate, grid_path, save_grid
    reg = registry()
    output = grid_path(output)  # before any work: an unknown extension is refused at once
    run_ = load_for_sampling(checkpoint, device=device)
    options = [option for _, option in reg.sample_options()]
    net = run_.sampling_network(run_.generator_name(), not no_ema)
    forward_kwargs: dict = {}
    for option in options:
        forward_kwargs.update(option.forward_kwargs(net, plugin_values))
    for option in options:
        grid = option.grid(run_, plugin_values, seed=seed, use_ema=not no_ema, label=class_, per_class=per_class,
                           forward_kwargs=forward_kwargs)
        if grid is not None:
            check_finite_samples(grid.images, run_, use_ema=not no_ema)
            path = save_grid(grid.images, output, nrow=grid.nrow)
            err_console.print(f"wrote {escape(grid.what)} to {path}", soft_wrap=True)
            return
    labels, nrow = None, None
    if class_ is not None or per_class is not None:
        k = run_.num_classes
        if not k:
            raise GancomposeError("--class and --per-class need a class-conditional generator; this one is not")
        if class_ is not None and class_ >= k:
            raise GancomposeError(f"--class {class_} is out of range: the generator knows classes 0 to {k - 1}")
        if class_ is None and per_class * k > MAX_SAMPLES:
            raise GancomposeError(f"--per-class {per_class} x {k} classes = {per_class * k:,} images: at most "
                                  f"{MAX_SAMPLES:,} in a grid")
        labels = class_labels(k, count if class_ is not None else per_class, only=class_)
        nrow = None if class_ is not None else per_class
    images = generate(run_, len(labels) if labels is not None else count, seed=seed, use_ema=not no_ema,
                      labels=labels, forward_kwargs=forward_kwargs)
    check_finite_samples(images, run_, use_ema=not no_ema)
    path = save_grid(images, output, nrow=nrow)
    err_console.print(f"wrote {len(images)} samples to {path}", soft_wrap=True)


def add_sample_options(command: click.Command, reg) -> None:
    """The options plugins add to ``gancompose sample`` (``register_sample_options``); one whose name or flag is
    already taken is skipped and reported as a plugin failure."""
    from gancompose.registry import PluginFailure
    for plugin, option in reg.sample_options():
        taken = {p.name for p in command.params} | {o for p in command.params for o in p.opts}
        clash = [p for p in option.options if p.name in taken or set(p.opts) & taken]
        if clash:
            reg.failures.append(PluginFailure(plugin, "register_sample_options",
                                              f"{type(option).__name__}: option {clash[0].opts[0]} of gancompose "
                                              "sample is already taken"))
            continue
        command.params.extend(option.options)
