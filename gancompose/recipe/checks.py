"""Checks across sections that a per-field model cannot make: names that refer to other names."""
from __future__ import annotations

from gancompose.errors import RecipeError, did_you_mean

NETWORK_INPUTS = ("latent", "data")


def missing_packages(requires) -> list[str]:
    """The distributions named in a recipe's ``requires`` that are not installed (ignoring malformed entries,
    which the schema reports)."""
    import importlib.metadata
    missing = []
    for name in requires if isinstance(requires, list) else []:
        if not isinstance(name, str) or not name:
            continue
        try:
            importlib.metadata.distribution(name)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            missing.append(name)
    return missing


def requires_note(missing: list[str]) -> str:
    """``this recipe requires X (pip install X), which is not installed``, for an unknown-component error."""
    if len(missing) == 1:
        return f"this recipe requires {missing[0]} (pip install {missing[0]}), which is not installed"
    return (f"this recipe requires {', '.join(missing)} (pip install {' '.join(missing)}), which are not "
            "installed")


def check_references(recipe, *, file: str | None = None) -> None:
    problems: list[RecipeError] = []
    nets = list(recipe.networks)
    for name, spec in recipe.networks.items():
        if spec.input not in NETWORK_INPUTS:
            problems.append(RecipeError(f"unknown input {spec.input!r}", key=["networks", name, "input"],
                                        hint=did_you_mean(spec.input, NETWORK_INPUTS)))
    for name in recipe.optimizers:
        if name not in recipe.networks:
            problems.append(RecipeError(f"optimizer for unknown network {name!r}", key=["optimizers", name],
                                        hint=did_you_mean(name, nets)))
        elif not getattr(recipe.networks[name], "trainable", True):
            problems.append(RecipeError(f"optimizer for {name!r}, which has trainable = false",
                                        key=["optimizers", name],
                                        hint=f"remove [optimizers.{name}], or set networks.{name}.trainable = true "
                                             "(freeze = [...] freezes only some layers)"))
    ema = recipe.train.ema
    if ema is not None and ema.network not in recipe.networks:
        problems.append(RecipeError(f"unknown network {ema.network!r}", key=["train", "ema", "network"],
                                    hint=did_you_mean(ema.network, nets)))
    if len(problems) == 1:
        raise problems[0].with_file(file)
    if problems:
        raise RecipeError("invalid recipe", file=file, problems=problems)
