"""``gancompose explain``: each network layer by layer, and what the schedule does in a step."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _shape(s) -> str:
    return "(" + ", ".join(str(d) for d in s) + ")"


def render_explanation(run, console: Console) -> None:
    r = run.recipe
    console.print(f"[bold]{r.name}[/]" + (f": {r.description}" if r.description else ""))
    for name, rep in run.reports.items():
        spec = r.networks[name]
        table = Table(title=f"network {name!r}: {spec.type}, input {spec.input} {_shape(rep.in_shape)}",
                      title_justify="left")
        for col, just in (("layer", "left"), ("type", "left"), ("output shape", "left"), ("params", "right")):
            table.add_column(col, justify=just)
        for row in rep.rows:
            table.add_row(row.path, row.kind, _shape(row.out_shape), f"{row.params:,}")
        table.add_section()
        table.add_row("total", "", _shape(rep.out_shape), f"[bold]{rep.params:,}[/]")
        console.print(table)

    t = r.train
    sched = Table(title=f"schedule {r.schedule.type!r}: one step", title_justify="left")
    for col in ("phase", "repeat", "terms (weight, every)", "steps optimizer of", "frozen"):
        sched.add_column(col)
    for ph in run.schedule.phases(0):
        terms = ", ".join(f"{tm.name} ({tm.weight:g}, {tm.every})" for tm in ph.terms)
        sched.add_row(ph.name, str(ph.repeat), terms, ", ".join(ph.optimizers), ", ".join(ph.frozen) or "-")
    console.print(sched)
    for line in getattr(run.schedule, "describe", lambda: [])():  # a staged schedule's timeline (ProGAN)
        console.print(f"  {line}")

    from gancompose.recipe.checks import provided_by
    have = provided_by(r, run.registry)
    comps = [("loss", "loss", r.loss.type, None)] + [
        ("regularizer", f"regularizers[{i}]", spec.type, spec.network) for i, spec in enumerate(r.regularizers)]
    terms = Table(title="where each term comes from", title_justify="left")
    for col in ("recipe key", "component", "plugin", "on", "needs -> provided by"):
        terms.add_column(col, overflow="fold")
    for kind, key, name, network in comps:
        c = run.registry.get(kind, name)
        needs = "; ".join(f"{cap} -> {', '.join(have.get(cap, ['(missing)']))}" for cap in c.requires) or "-"
        terms.add_row(key, f"{kind} {name!r}", c.plugin, network or "every phase", needs)
    console.print(terms)

    opt = Table(title="optimizers", title_justify="left")
    for col in ("network", "optimizer", "settings", "lr schedule"):
        opt.add_column(col)
    for name, spec in r.optimizers.items():
        settings = ", ".join(f"{k}={v}" for k, v in spec.model_dump(exclude={"type", "lr_schedule"}).items())
        lr = spec.lr_schedule.type if spec.lr_schedule else "constant"
        opt.add_row(name, spec.type, settings, lr)
    console.print(opt)
    ds = run.dataset
    console.print(f"data: {r.data.type}, {len(ds):,} samples of shape {_shape(ds.sample_shape)}"
                  + (f", {ds.num_classes} classes" if getattr(ds, "num_classes", None) else ""))
    console.print(f"loss: {r.loss.type}; latent: {r.latent.dim} ({r.latent.distribution})")
    steps = run.total_steps
    epochs = f" ({t.epochs} epochs of {run.steps_per_epoch:,} batches)" if t.epochs else ""
    console.print(f"train: {steps:,} steps{epochs} x batch {t.batch_size} = {steps * t.batch_size:,} real images per "
                  f"discriminator phase; samples every {t.sample_every}, checkpoints every {t.checkpoint_every}"
                  + (f"; EMA of {t.ema.network} (decay {t.ema.decay})" if t.ema else ""))
    auto_note = ("; on CUDA 'auto' means bf16 autocast + TF32, channels_last, fused optimizers "
                 "(docs/performance.md)") if run.device.type != "cuda" and r.performance.precision == "auto" else ""
    console.print(f"performance ({run.device}): {run.performance.describe().partition(': ')[2]}{auto_note}")
