"""The component registry: plugins found through the ``gancompose`` entry-point group, isolated
from each other, collected into one table of ``kind/name -> Component``.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import inspect
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

import gancompose.hookspecs as hookspecs
from gancompose.errors import RecipeError, did_you_mean
from gancompose.params import NoParams, Params

ENTRY_POINT_GROUP = "gancompose"

#: hook name -> component kind
#: hook name -> the kind it registers (the one list is gancompose.hookspecs.COMPONENT_KINDS)
HOOK_KINDS: dict[str, str] = {hook: kind.name for hook, kind in hookspecs.COMPONENT_KINDS.items()}
KINDS: tuple[str, ...] = tuple(HOOK_KINDS.values())


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[Params]
    doc: str
    plugin: str
    #: capabilities this component needs from the rest of the recipe (its schedule or its networks), e.g.
    #: ("cycle_pair",) for a cycle-consistency term; and those it gives, e.g. ("cycle_pair",) for the cycle
    #: schedule. Declared at registration, or as ``requires``/``provides`` attributes of the factory.
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()

    def build(self, params: Params, *args: Any) -> Any:
        return self.factory(params, *args)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "plugin": self.plugin, "doc": self.doc,
                "requires": list(self.requires), "provides": list(self.provides),
                "params": self.params.model_json_schema()}


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    stage: str  # "import" or the hook name
    error: str


@dataclass(eq=False)
class Registry:
    components: dict[tuple[str, str], Component] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    #: (kind, name) registered by several plugins -> those plugins. Each copy stays usable under its qualified
    #: name ``plugin:name``; the bare name is refused in a recipe, naming both (:meth:`clash_error`)
    clashes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: one line per conflict that loading worked around (clashing names, entry points named alike)
    warnings: list[str] = field(default_factory=list)
    #: the importable modules of the loaded plugins (where their shipped recipes are found)
    modules: list[str] = field(default_factory=list)
    #: (plugin name, its ``register_commands`` implementation), called by :meth:`add_commands`
    command_hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)

    #: capability -> (what it means, the plugin that said so) (``register_capabilities``)
    capabilities: dict[str, tuple[str, str]] = field(default_factory=dict)

    def meaning(self, capability: str) -> str | None:
        """What ``capability`` means: the core's own, or as the plugin that provides it declared it."""
        from gancompose.compatibility import CORE_MEANING
        if capability in CORE_MEANING:
            return CORE_MEANING[capability]
        found = self.capabilities.get(capability)
        return found[0] if found else None

    #: (plugin name, its ``register_sample_options`` implementation), called by :meth:`sample_options`
    sample_option_hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    _sample_options: list[tuple[str, Any]] | None = None

    def sample_options(self) -> list[tuple[str, Any]]:
        """(plugin, :class:`gancompose.sampling.SampleOption`) for every option plugins add to ``gancompose
        sample`` (``register_sample_options``), collected once. A hook that raises, or registers something
        else than a ``SampleOption``, is recorded in ``failures``; the others' options still load."""
        if self._sample_options is None:
            from gancompose.sampling import SampleOption
            self._sample_options = []
            for plugin, hook in self.sample_option_hooks:
                staged: list = []
                try:
                    hook(register=staged.append)
                    for option in staged:
                        if not isinstance(option, SampleOption):
                            raise TypeError(f"register() takes a gancompose.sampling.SampleOption instance, "
                                            f"got {type(option).__name__}")
                except Exception as exc:
                    self.failures.append(PluginFailure(plugin, "register_sample_options",
                                                       f"{type(exc).__name__}: {exc}"))
                    continue
                self._sample_options += [(plugin, option) for option in staged]
        return self._sample_options

    def add_commands(self, cli) -> None:
        """Let every plugin add its commands to the click group ``cli`` (``register_commands``); a plugin whose
        hook raises is recorded in ``failures`` and the others' commands still load."""
        for plugin, hook in self.command_hooks:
            try:
                hook(cli=cli)
            except Exception as exc:
                self.failures.append(PluginFailure(plugin, "register_commands", f"{type(exc).__name__}: {exc}"))

    def get(self, kind: str, name: str) -> Component:
        try:
            return self.components[(kind, name)]
        except KeyError:
            if (kind, name) in self.clashes:
                raise self.clash_error(kind, name) from None
            raise RecipeError(f"unknown {kind} {name!r}", hint=did_you_mean(name, self.names(kind))) from None

    def clash_error(self, kind: str, name: str) -> RecipeError:
        """The error for a recipe that names a component several plugins register."""
        plugins = self.clashes[(kind, name)]
        return RecipeError(f"{kind} {name!r} is registered by {len(plugins)} plugins: "
                           f"{', '.join(repr(p) for p in plugins)}; the name alone does not say which",
                           hint="pick one with its qualified name: "
                                + " or ".join(f'type = "{p}:{name}"' for p in plugins)
                                + "; or uninstall one of the plugins")

    def find(self, kind: str, name: str) -> Component | None:
        """The component, or None (no error) when it is not registered."""
        return self.components.get((kind, name))

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.components if k == kind)

    def of_kind(self, kind: str) -> list[Component]:
        return [self.components[(kind, n)] for n in self.names(kind)]

    def __iter__(self):
        return iter(sorted(self.components.values(), key=lambda c: (KINDS.index(c.kind), c.name)))

    def add(self, kind: str, name: str, factory: Callable[..., Any], params: type[Params] | None,
            doc: str | None, plugin: str, requires: tuple[str, ...] | None = None,
            provides: tuple[str, ...] | None = None) -> None:
        key = (kind, name)
        if key in self.components or key in self.clashes:  # both stay, each under its plugin's qualified name
            if key in self.components:
                first = self.components.pop(key)
                self.components[(kind, f"{first.plugin}:{name}")] = dataclasses.replace(
                    first, name=f"{first.plugin}:{name}")
                self.clashes[key] = [first.plugin]
            self.clashes[key].append(plugin)
            self.warnings.append(f"{kind} {name!r} is registered by plugins {', '.join(map(repr, self.clashes[key]))}: "
                                 f"a recipe picks one with type = \"PLUGIN:{name}\" (e.g. \"{plugin}:{name}\")")
            name = f"{plugin}:{name}"
            key = (kind, name)
        if doc is None:
            doc = (inspect.getdoc(factory) or "").strip().splitlines()[0:1]
            doc = doc[0] if doc else ""
        requires = tuple(getattr(factory, "requires", ()) if requires is None else requires)
        provides = tuple(getattr(factory, "provides", ()) if provides is None else provides)
        self.components[key] = Component(kind, name, factory, params, doc, plugin, requires, provides)


def _check_registration(kind: str, name: Any, factory: Any, params: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"invalid {kind} name {name!r}: use a Python identifier such as 'my_loss'")
    if not callable(factory):
        raise TypeError(f"{kind} {name!r}: factory {factory!r} is not callable")
    if params is not None and not (isinstance(params, type) and issubclass(params, Params)):
        raise TypeError(f"{kind} {name!r}: params must be a subclass of gancompose.Params, got {params!r}")


def _make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _entry_points(warnings: list[str] | None = None) -> list[tuple[str, importlib.metadata.EntryPoint]]:
    """``(plugin name, entry point)`` of the group, each entry point once. Two packages using the same entry-point
    name both load, neither silently replacing the other (a built-in one included): the later is named
    ``NAME@DISTRIBUTION`` and a line saying so goes to ``warnings``."""
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    by_name: dict[str, importlib.metadata.EntryPoint] = {}
    out: list[tuple[str, importlib.metadata.EntryPoint]] = []
    for ep in sorted(eps, key=lambda e: (e.name, _dist(e) != "'gancompose'", _dist(e))):
        first = by_name.get(ep.name)
        if first is None:
            by_name[ep.name] = ep
            out.append((ep.name, ep))
        elif first.value != ep.value:  # the same distribution found twice on the path is harmless
            alias = f"{ep.name}@{_dist(ep).strip(chr(39))}"
            if warnings is not None:
                warnings.append(f"two packages register a gancompose plugin named {ep.name!r}: {_dist(first)} "
                                f"({first.value}) and {_dist(ep)} ({ep.value}); the second is loaded as {alias!r} "
                                "(rename the entry point in one package)")
            out.append((alias, ep))
    return out


def _dist(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return repr(dist.name) if dist is not None else "an unknown distribution"


def build_registry(extra_plugins: dict[str, object] | None = None, *, entry_points: bool = True) -> Registry:
    """Load every plugin of the entry-point group (and ``extra_plugins``, name -> module/object)
    and collect their components. A plugin that fails is recorded in ``failures``; the rest load.
    """
    pm = _make_manager()
    reg = Registry()
    if entry_points:
        for name, ep in _entry_points(reg.warnings):
            try:
                pm.register(ep.load(), name=name)
            except Exception as exc:  # a broken plugin must not take the others down
                reg.failures.append(PluginFailure(name, "import", f"{type(exc).__name__}: {exc}"))
    for name, plugin in (extra_plugins or {}).items():
        pm.register(plugin, name=name)
    reg.plugins = [pm.get_name(p) for p in pm.get_plugins()]
    reg.modules = sorted(p.__name__ for p in pm.get_plugins() if isinstance(p, types.ModuleType))
    reg.command_hooks = [(impl.plugin_name, impl.function) for impl in pm.hook.register_commands.get_hookimpls()]
    for impl in pm.hook.register_capabilities.get_hookimpls():
        staged: list[tuple[str, str]] = []
        try:
            impl.function(register=lambda name, meaning, _s=staged: _s.append((str(name), str(meaning))))
        except Exception as exc:
            reg.failures.append(PluginFailure(impl.plugin_name, "register_capabilities", f"{type(exc).__name__}: {exc}"))
            continue
        for name, meaning in staged:
            if name in reg.capabilities and reg.capabilities[name][1] != impl.plugin_name:
                reg.warnings.append(f"capability {name!r} is explained by plugins {reg.capabilities[name][1]!r} and "
                                    f"{impl.plugin_name!r}; the first meaning is kept")
                continue
            reg.capabilities[name] = (meaning, impl.plugin_name)
    reg.sample_option_hooks = [(impl.plugin_name, impl.function)
                               for impl in pm.hook.register_sample_options.get_hookimpls()]

    for hook_name, kind in HOOK_KINDS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            staged: list[tuple] = []

            def register(name, factory, params=None, doc=None, *, requires=None, provides=None, _staged=staged,
                         _kind=kind):
                _check_registration(_kind, name, factory, params)
                _staged.append((name, factory, params or NoParams, doc, requires, provides))

            try:
                impl.function(register=register)
            except Exception as exc:
                reg.failures.append(PluginFailure(impl.plugin_name, hook_name, f"{type(exc).__name__}: {exc}"))
                continue
            for name, factory, params, doc, requires, provides in staged:
                reg.add(kind, name, factory, params, doc, impl.plugin_name, requires, provides)
    return reg


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of every installed plugin, built once per process."""
    return build_registry()
