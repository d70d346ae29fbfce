"""``gancompose explain``: each network layer by layer, and what the schedule does in a step."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from gancompose.data import DataStandIn


def _shape(s) -> str:
    return "(" + ", ".join(str(d) for d in s) + ")"


def render_explanation(run, console: Console) -> None:
    r = run.recipe
    console.print(f"[bold]{r.name}[/]" + (f": {r.description}" if r.description else ""))
    for name, rep in run.reports.items():
        spec = r.networks[name]
        table = Table(title=f"network {name!r}: {spec.type}, input {spec.input} {_shape(rep.in_shape)}",
                      title_justify="left")
        for col, just in (("layer", "left"), ("type", "left"), ("output shape", "left"), ("params", "right"),
                          ("spectral norm", "left")):
            table.add_column(col, justify=just)
        for row in rep.rows:
            table.add_row(row.path, row.kind, _shape(row.out_shape), f"{row.params:,}", row.spectral_norm)
        table.add_section()
        table.add_row("total", "", _shape(rep.out_shape), f"[bold]{rep.params:,}[/]", "")
        console.print(table)

    t = r.train
    sched = Table(title=f"schedule {r.schedule.type!r}: one step", title_justify="left")
    for col in ("phase", "repeat", "terms (weight, every)", "steps optimizer of", "frozen"):
        sched.add_column(col)
    for ph in run.schedule.phases(0):
        terms = ", ".join(f"{tm.name} ({tm.weight:g}, {tm.every})" for tm in ph.terms)
        sched.add_row(ph.name, str(ph.repeat), terms, ", ".join(ph.optimizers), ", ".join(ph.frozen) or "-")
    console.print(sched)
    for line in run.schedule.describe():  # a staged schedule's timeline (progressive growing)
        console.print(f"  {line}")

    console.print(_provenance(run))

    opt = Table(title="optimizers", title_justify="left")
    for col in ("network", "optimizer", "settings", "lr schedule"):
        opt.add_column(col)
    for name, spec in r.optimizers.items():
        settings = ", ".join(f"{k}={v}" for k, v in spec.model_dump(exclude={"type", "lr_schedule"}).items())
        lr = spec.lr_schedule.type if spec.lr_schedule else "constant"
        opt.add_row(name, spec.type, settings, lr)
    console.print(opt)
    ds = run.dataset
    missing = isinstance(ds, DataStandIn) and ds.missing is not None
    count = ("an unknown number of" if missing and not ds.size else f"{len(ds):,}")
    console.print(f"data: {r.data.type}, {count} samples of shape {_shape(ds.sample_shape)}"
                  + (f", {ds.num_classes} classes" if ds.num_classes else "")
                  + (" (declared by its parameters; not on disk yet)" if missing else ""))
    console.print(f"loss: {r.loss.type}; latent: {r.latent.dim} ({r.latent.distribution})")
    tail = (f"; samples every {t.sample_every}, checkpoints every {t.checkpoint_every}"
            + (f"; EMA of {t.ema.network} (decay {t.ema.decay})" if t.ema else ""))
    if t.epochs and missing and not ds.size:
        console.print(f"train: {t.epochs} epochs x batch {t.batch_size} (steps known once the data is there){tail}")
    else:
        steps = run.total_steps
        epochs = f" ({t.epochs} epochs of {run.steps_per_epoch:,} batches)" if t.epochs else ""
        console.print(f"train: {steps:,} steps{epochs} x batch {t.batch_size} = {steps * t.batch_size:,} real images "
                      f"per discriminator phase{tail}")
    auto_note = ("; on CUDA 'auto' means bf16 autocast + TF32, channels_last, fused optimizers "
                 "(docs/performance.md)") if run.device.type != "cuda" and r.performance.precision == "auto" else ""
    console.print(f"performance ({run.device}): {run.performance.describe().partition(': ')[2]}{auto_note}")


def _provenance(run) -> Table:
    """Which component gives each term, conditioning and the schedule, and who provides what each needs."""
    from gancompose.recipe.checks import scheduled_networks, network_provides, provided_by
    r, reg = run.recipe, run.registry
    have = provided_by(r, reg)

    def own(name: str) -> dict[str, list[str]]:  # what the network itself gives a term, condition or schedule
        spec = r.networks[name]
        return {cap: [f"network {name!r} (input 'data')" if cap == "data_input" else
                      f"network {name!r} (block {spec.type!r})"] for cap in network_provides(spec, reg)}

    rows = [("schedule", "schedule", r.schedule.type, ", ".join(scheduled_networks(r)), None),
            ("loss", "loss", r.loss.type, None, have)]
    rows += [("conditioner", f"networks.{name}.condition", spec.condition.type, name, own(name))
             for name, spec in r.networks.items() if getattr(spec, "condition", None) is not None]
    rows += [("regularizer", f"regularizers[{i}]", spec.type, spec.network,
              {**have, **(own(spec.network) if spec.network in r.networks else {})})
             for i, spec in enumerate(r.regularizers)]
    data = {cap: [f"data {r.data.type!r}"] for cap in reg.get("dataset", r.data.type).provides}
    rows += [("augmentation", f"networks.{name}.augment", spec.augment.type, name, data)
             for name, spec in r.networks.items() if getattr(spec, "augment", None) is not None]
    table = Table(title="where each term comes from", title_justify="left")
    for col in ("recipe key", "component", "plugin", "on", "needs -> provided by"):
        table.add_column(col, overflow="fold")
    for kind, key, name, on, sources in rows:
        c = reg.get(kind, name)
        if sources is None:  # the schedule: from every network it trains
            needs = "; ".join(f"{cap} -> " + ", ".join(f"network {n!r} (block {r.networks[n].type!r})"
                                                       if cap in network_provides(r.networks[n], reg) else
                                                       f"(missing in {n!r})" for n in scheduled_networks(r))
                              for cap in c.requires)
        else:
            needs = "; ".join(f"{cap} -> {', '.join(sources.get(cap, ['(missing)']))}" for cap in c.requires)
        table.add_row(key, f"{kind} {name!r}", c.plugin, on or "every phase", needs or "-")
    return table
