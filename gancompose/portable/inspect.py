"""``gancompose inspect``: what a checkpoint or network file holds, and whether it fits another recipe."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gancompose.errors import CheckpointError, GancomposeError, RecipeError
from gancompose.weights_file import WeightsFile, sha256_of
from gancompose.builder.init_from import LoadReport, match, module_shapes
from gancompose.registry import Registry, default_registry

NETWORK_PREFIXES = ("networks.", "ema.")


@dataclass
class FileReport:
    path: Path
    size: int
    sha256: str
    format: str
    kind: str
    gancompose_version: str | None
    created: str | None
    recipe_name: str | None = None
    description: str | None = None
    step: int | None = None
    images_seen: int | None = None
    networks: list[dict[str, Any]] = field(default_factory=list)
    tensors: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)
    source: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.path), "size": self.size, "sha256": self.sha256, "format": self.format,
                "kind": self.kind, "gancompose_version": self.gancompose_version, "created": self.created,
                "recipe": None if self.recipe_name is None and self.description is None else
                {"name": self.recipe_name, "description": self.description},
                "step": self.step, "images_seen": self.images_seen, "networks": self.networks,
                "tensors": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in self.tensors],
                "source": self.source, "notes": self.notes}

    def render(self, console: Console, *, all_tensors: bool = False) -> None:
        console.print(f"[bold]{escape(str(self.path))}[/]  ({self.size:,} bytes)", soft_wrap=True)
        console.print(f"  sha256 {self.sha256}", soft_wrap=True)
        console.print(f"  format {self.format} ({self.kind}), written by gancompose {self.gancompose_version}"
                      + (f" on {self.created}" if self.created else ""), soft_wrap=True)
        if self.recipe_name is not None:
            console.print(f"  recipe [bold]{escape(self.recipe_name)}[/]"
                          + (f": {escape(self.description)}" if self.description else ""), soft_wrap=True)
        if self.step is not None:
            seen = f", {self.images_seen:,} images seen" if self.images_seen is not None else ""
            console.print(f"  step {self.step:,}{seen}", soft_wrap=True)
        if self.source:
            shown = {k: v for k, v in self.source.items() if v not in (None, [], "") and k not in
                     ("recipe", "description", "step", "images_seen")}
            console.print("  source " + escape(", ".join(f"{k}={v}" for k, v in shown.items())), soft_wrap=True)
        for note in self.notes:
            console.print(f"  [yellow]note:[/] {escape(note)}", soft_wrap=True)
        nets = Table(title="networks")
        for col, just in (("name", "left"), ("type", "left"), ("input", "left"), ("params", "right"),
                          ("tensors", "right"), ("EMA", "left")):
            nets.add_column(col, justify=just)
        for n in self.networks:
            params = f"{n['params']:,}" if n["params"] is not None else f"({n['values']:,} values)"
            nets.add_row(n["name"], str(n["type"]), str(n["input"]), params, str(n["tensors"]),
                         "yes" if n["ema"] else "")
        console.print(nets)
        rows = [t for t in self.tensors if all_tensors or t[0].startswith(NETWORK_PREFIXES)]
        table = Table(title="tensors")
        for col in ("name", "shape", "dtype"):
            table.add_column(col, overflow="fold")
        for name, shape, dtype in rows:
            table.add_row(name, "(" + ", ".join(str(d) for d in shape) + ")", dtype)
        console.print(table)
        rest = len(self.tensors) - len(rows)
        if rest:
            console.print(f"  and {rest} optimizer, RNG and counter tensors (--all lists them)")


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _count_params(f: WeightsFile, name: str, registry: Registry) -> tuple[int | None, str | None]:
    """Parameters (not buffers) of a network, by rebuilding it from the file's metadata."""
    from gancompose.portable.load import build_checkpoint_network, build_from_spec, read_network_file
    try:
        if f.kind == "network":
            _, info = read_network_file(f.path)
            net = build_from_spec(name, info.spec, info.input_shape, registry, num_classes=info.num_classes)
        else:
            net = build_checkpoint_network(f, name, registry)[0]
        return sum(p.numel() for p in net.parameters()), None
    except GancomposeError as exc:
        return None, str(exc).splitlines()[0]


def inspect_file(path: str | Path, *, registry: Registry | None = None) -> FileReport:
    registry = registry or default_registry()
    f = WeightsFile(path)
    rep = FileReport(path=f.path, size=f.path.stat().st_size, sha256=sha256_of(f.path), format=f.metadata["format"],
                     kind=f.kind, gancompose_version=f.metadata.get("gancompose_version"),
                     created=f.metadata.get("created"))
    rep.tensors = f.table()
    if f.kind == "checkpoint":
        recipe = f.recipe
        rep.recipe_name, rep.description = recipe.get("name"), recipe.get("description")
        if "counters" in f.keys:
            counters = f.counters()
            rep.step, rep.images_seen = int(counters[0]), int(counters[1])
    else:
        rep.source = f.meta_json("source", {}) or {}
        rep.step = rep.source.get("step")
        rep.recipe_name, rep.description = rep.source.get("recipe"), rep.source.get("description")
    for name in f.network_names:
        spec = f.network_spec(name) or {}
        shapes = f.shapes(f"networks.{name}.")
        params, problem = _count_params(f, name, registry)
        if params is None and f.kind == "network" and f.metadata.get("params"):
            params = int(f.metadata["params"])
        elif problem:
            rep.notes.append(f"{name}: parameter count unknown ({problem})")
        rep.networks.append({"name": name, "type": spec.get("type"), "input": spec.get("input"), "params": params,
                             "tensors": len(shapes), "values": sum(_numel(s) for s in shapes.values()),
                             "ema": f.has_ema(name)})
    return rep


# ------------------------------------------------------------------------------ --diff
@dataclass
class DiffReport:
    path: Path
    recipe: str
    reports: dict[str, LoadReport]
    unused: list[str]                      # networks of the file the recipe does not have

    @property
    def fits(self) -> bool:
        return all(r.fits for r in self.reports.values()) and not self.unused

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.path), "recipe": self.recipe, "fits": self.fits, "unused": self.unused,
                "networks": {n: r.to_json() for n, r in self.reports.items()}}

    def render(self, console: Console) -> None:
        for name, r in self.reports.items():
            r.render(console, title=f"{self.recipe}: networks.{name} ← {r.source}")
        if self.unused:
            console.print(f"not in the recipe: {', '.join(self.unused)}", soft_wrap=True)
        if self.fits:
            console.print(f"[green]fits[/]: every tensor of every network of {escape(self.recipe)} loads from "
                          f"{escape(str(self.path))}", soft_wrap=True)
        else:
            console.print(f"[yellow]does not fit exactly[/]: with init_from (strict = false), the matched tensors "
                          f"load and the rest keep their initial values", soft_wrap=True)


def diff_with_recipe(path: str | Path, recipe, *, registry: Registry | None = None,
                     network: str | None = None) -> DiffReport:
    """Would the networks of ``path`` load into ``recipe``'s? Per network: matched, missing, unexpected,
    shape-mismatched. Networks pair by name; a single-network file pairs with ``network`` (default: every
    network of the recipe with that name, else the recipe's generator)."""
    from gancompose.builder.run import build_dataset, build_networks
    registry = registry or default_registry()
    f = WeightsFile(path)
    try:
        with torch.random.fork_rng(devices=[]):
            networks, _ = build_networks(recipe, registry, build_dataset(recipe, registry))
    except RecipeError as exc:
        raise exc.with_file(getattr(recipe, "_source", None)) from None
    names = f.network_names
    targets = list(recipe.networks) if network is None else [network]
    for t in targets:
        if t not in recipe.networks:
            raise CheckpointError(f"the recipe has no network {t!r} (it has: {', '.join(recipe.networks)})")
    pairs: dict[str, str | None] = {}
    if f.kind == "network" and len(names) == 1:
        if network is None:
            gen = (recipe.schedule.model_dump().get("generator") if recipe.schedule is not None else None)
            target = names[0] if names[0] in recipe.networks else gen if gen in recipe.networks else None
            if target is None:
                raise CheckpointError(f"{f.path} holds one network ({names[0]!r}): which network of the recipe?",
                                      hint="pass --network NAME")
            targets = [target]
        pairs = {targets[0]: names[0]}
    else:
        pairs = {t: (t if t in names else None) for t in targets}
    reports = {}
    for t, s in pairs.items():
        target_shapes = module_shapes(networks[t])
        if s is None:
            r = LoadReport(f"networks.{t}", f"{f.path} (no network {t!r})", missing=list(target_shapes))
        else:
            r = match(f.shapes(f"networks.{s}."), target_shapes, target_label=f"networks.{t}",
                      source_label=f"{f.path} [networks.{s}]")
        reports[t] = r
    used = {s for s in pairs.values() if s is not None}
    unused = [n for n in names if n not in used] if network is None else []
    return DiffReport(f.path, getattr(recipe, "name", None) or "recipe", reports, unused)
