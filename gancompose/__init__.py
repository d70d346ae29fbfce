"""gancompose: compose, train and compare GAN variants from TOML recipes and pluggy plugins."""
import pluggy

from gancompose.version import __version__

#: Marker for plugin implementations: decorate ``register_*`` functions with it.
hookimpl = pluggy.HookimplMarker("gancompose")

from gancompose.errors import RecipeError, GancomposeError  # noqa: E402
from gancompose.params import Params  # noqa: E402


def register_all(register, table) -> None:
    """Register every row of ``table`` (``(name, factory, params)`` or ``(name, factory, params, doc)``) with a
    hook's ``register`` callable: a plugin keeps one table per kind and each hook is one line."""
    for row in table:
        register(*row)


__all__ = ["__version__", "hookimpl", "Params", "RecipeError", "GancomposeError", "load_generator", "register_all"]


def __getattr__(name: str):
    # lazy: ``import gancompose`` stays light; ``gancompose.load_generator`` brings in torch when used
    if name == "load_generator":
        from gancompose.portable.load import load_generator
        return load_generator
    raise AttributeError(f"module 'gancompose' has no attribute {name!r}")
