"""Loading weights into a network by name, with a report of what matched and what did not.

Used by ``[networks.NAME] init_from = { path, network, strict, ema }`` (applied by the builder after
``init`` and spectral normalization, before the optimizers are made) and by ``gancompose inspect --diff``.

Names are matched exactly first. When a network is wrapped (a ``condition`` puts the block under
``net.``, ``body.``...), one leading component may differ between source and target: the single
rewrite of that component that matches most of the remaining tensors is applied and reported.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from torch import nn

from gancompose.errors import CheckpointError, RecipeError
from gancompose.weights_file import Shape, WeightsFile

#: names listed per category in printed reports and error messages (the report object keeps them all)
LIST_AT_MOST = 12


@dataclass
class LoadReport:
    """What loading (or would-be loading) one network's tensors into another found."""
    target: str                      # "networks.generator"
    source: str                      # "FILE [networks.generator]"
    matched: list[str] = field(default_factory=list)          # target names that load
    missing: list[str] = field(default_factory=list)          # target names the source lacks
    unexpected: list[str] = field(default_factory=list)       # source names the target lacks
    mismatched: list[tuple[str, Shape, Shape]] = field(default_factory=list)  # (target name, source, target shape)
    renamed: tuple[str, str, int] | None = None               # (source prefix, target prefix, tensors)
    values: int = 0                  # numbers loaded
    step: int | None = None          # the source run's step, when known
    mapping: dict[str, str] = field(default_factory=dict, repr=False)  # source name -> target name (matched)

    @property
    def fits(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> str:
        parts = []
        for label, names in (("missing", self.missing), ("unexpected", self.unexpected),
                             ("shape-mismatched", [_mismatch(m) for m in self.mismatched])):
            if names:
                parts.append(f"{label} {len(names)}: {_listing(names)}")
        return "; ".join(parts)

    def summary(self) -> str:
        return (f"matched {len(self.matched)}, missing {len(self.missing)}, unexpected {len(self.unexpected)}, "
                f"shape-mismatched {len(self.mismatched)}")

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "source": self.source, "fits": self.fits, "matched": self.matched,
                "missing": self.missing, "unexpected": self.unexpected,
                "mismatched": [{"name": n, "source_shape": list(a), "target_shape": list(b)}
                               for n, a, b in self.mismatched],
                "renamed": None if self.renamed is None else
                {"source_prefix": self.renamed[0], "target_prefix": self.renamed[1], "tensors": self.renamed[2]},
                "values": self.values, "step": self.step}

    def render(self, console: Console, title: str | None = None) -> None:
        colour = "green" if self.fits else "yellow"
        head = title or f"{self.target} ← {self.source}" + (f" (step {self.step})" if self.step is not None else "")
        console.print(f"[bold]{escape(head)}[/]", soft_wrap=True)
        console.print(f"  [{colour}]{self.summary()}[/] ({self.values:,} values loaded)", soft_wrap=True)
        if self.renamed:
            src, dst, n = self.renamed
            console.print(f"  renamed {n} tensors: '{escape(src)}…' → '{escape(dst)}…' (a wrapper around the "
                          f"network, e.g. its condition, moves its names)", soft_wrap=True)
        for label, names in (("missing (kept as initialized)", self.missing),
                             ("unexpected (ignored)", self.unexpected),
                             ("shape-mismatched (kept as initialized)", [_mismatch(m) for m in self.mismatched])):
            if names:
                console.print(f"  {label}: {escape(_listing(names))}", soft_wrap=True)
        hint = _hint(self)
        if hint:
            console.print(f"  [dim]{escape(hint)}[/]", soft_wrap=True)


def _mismatch(m: tuple[str, Shape, Shape]) -> str:
    return f"{m[0]} {tuple(m[1])} -> {tuple(m[2])}"


def _listing(names: list[str], at_most: int = LIST_AT_MOST) -> str:
    shown = ", ".join(names[:at_most])
    return shown + (f", ... and {len(names) - at_most} more" if len(names) > at_most else "")


def _hint(report: LoadReport) -> str | None:
    sn_missing = any(".parametrizations.weight." in n for n in report.missing)
    sn_unexpected = any(".parametrizations.weight." in n for n in report.unexpected)
    if sn_missing != sn_unexpected:
        return ("the source and the target differ in spectral normalization: a normalized weight is stored as "
                "'parametrizations.weight.original' (it means W before dividing by sigma), so it does not load "
                "into a plain 'weight' or the other way round")
    return None


# ------------------------------------------------------------------------------ matching
def _prefixes(name: str) -> tuple[str, ...]:
    head, dot, _ = name.partition(".")
    return ("", head + ".") if dot else ("",)


def match(source: dict[str, Shape], target: dict[str, Shape], *, target_label: str = "",
          source_label: str = "") -> LoadReport:
    """Match source tensors to target tensors by name (and one leading-component rewrite), then by shape."""
    mapping = {n: n for n in source if n in target}
    rest_s = [n for n in source if n not in mapping]
    rest_t = {n for n in target if n not in mapping}
    renamed = None
    if rest_s and rest_t:
        by_rest: dict[str, dict[str, str]] = {}  # remainder -> {target prefix: target name}
        for t in rest_t:
            for pt in _prefixes(t):
                if t[len(pt):]:
                    by_rest.setdefault(t[len(pt):], {})[pt] = t
        votes: Counter = Counter()
        for s in rest_s:
            for ps in _prefixes(s):
                for pt in by_rest.get(s[len(ps):], {}):
                    if pt != ps:
                        votes[(ps, pt)] += 1
        if votes:
            (ps, pt), _ = max(votes.items(), key=lambda kv: (kv[1], kv[0]))
            extra: dict[str, str] = {}
            taken: set[str] = set()
            for s in rest_s:
                t = by_rest.get(s[len(ps):], {}).get(pt) if s.startswith(ps) else None
                if t is not None and t not in taken:
                    extra[s] = t
                    taken.add(t)
            if extra:
                mapping.update(extra)
                renamed = (ps, pt, len(extra))
    report = LoadReport(target_label, source_label, renamed=renamed)
    loaded = set()
    for s, t in mapping.items():
        if tuple(source[s]) == tuple(target[t]):
            report.matched.append(t)
            report.mapping[s] = t
            report.values += _numel(target[t])
        else:
            report.mismatched.append((t, tuple(source[s]), tuple(target[t])))
        loaded.add(t)
    report.missing = [t for t in target if t not in loaded]
    report.unexpected = [s for s in source if s not in mapping]
    return report


def _numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def module_shapes(module: nn.Module) -> dict[str, Shape]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def load_into(module: nn.Module, tensors: dict[str, torch.Tensor], *, strict: bool = False, target: str = "",
              source: str = "", step: int | None = None) -> LoadReport:
    """Copy the tensors whose name and shape match into ``module``; the rest stay as they are.

    ``strict``: any missing, unexpected or shape-mismatched tensor is a :class:`CheckpointError` naming them.
    Nothing matching at all is always an error (the wrong network or file)."""
    report = match({k: tuple(v.shape) for k, v in tensors.items()}, module_shapes(module),
                   target_label=target, source_label=source)
    report.step = step
    what = f"{target} ← {source}" if target or source else "loading weights"
    if strict and not report.fits:
        raise CheckpointError(f"{what}: strict loading failed: {report.problems()}",
                              hint="set strict = false to load the tensors that match and keep the rest")
    if not report.matched:
        raise CheckpointError(f"{what}: no tensor matches by name and shape ({report.summary()}; "
                              f"{report.problems()})", hint="is it the right network (init_from.network) and file?")
    state = {t: tensors[s] for s, t in report.mapping.items()}
    with torch.no_grad():
        result = module.load_state_dict(state, strict=False)
    if result.unexpected_keys:  # cannot happen: every key comes from the module's own state dict
        raise CheckpointError(f"{what}: could not load {result.unexpected_keys[:LIST_AT_MOST]}")
    return report


# ------------------------------------------------------------------------ from a recipe
def resolve_path(path: str, recipe) -> Path:
    p = Path(path).expanduser()
    source = getattr(recipe, "_source", None)
    if not p.is_absolute() and source:
        p = Path(source).parent / p
    return p


def apply_init_from(recipe, networks: nn.ModuleDict, missing: dict | None = None) -> dict[str, LoadReport]:
    """Load every network that has ``init_from``; return the reports by network name. With ``missing`` (a dict),
    a file that is not there yet is recorded there (network name -> the RecipeError) instead of raised:
    ``validate`` and ``explain`` then work before the weights are made."""
    reports: dict[str, LoadReport] = {}
    for name, spec in recipe.networks.items():
        init = getattr(spec, "init_from", None)
        if init is None:
            continue
        key = ["networks", name, "init_from"]
        path = resolve_path(init.path, recipe)
        if not path.is_file():
            error = RecipeError(f"file not found: {path}", key=[*key, "path"], absolute=True,
                                hint=(f"make it: {init.prepare}; " if init.prepare else "")
                                + "a relative path is relative to the recipe file")
            if missing is None:
                raise error
            missing[name] = error
            continue
        f = WeightsFile(path)
        prefix = f.network_prefix(init.network if init.network is not None else
                                  (name if f.kind == "checkpoint" else None),
                                  ema=init.ema, wanted_by=f"networks.{name}.init_from")
        reports[name] = load_into(networks[name], f.network_tensors(prefix), strict=init.strict,
                                  target=f"networks.{name}", source=f"{path} [{prefix[:-1]}]", step=f.step())
    return reports


def print_reports(reports: dict[str, LoadReport], console: Console | None = None) -> None:
    console = console or Console(stderr=True, highlight=False)
    for report in reports.values():
        report.render(console, title=f"init_from: {report.target} ← {report.source}"
                      + (f" (step {report.step})" if report.step is not None else ""))
