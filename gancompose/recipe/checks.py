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


def provided_by(recipe, registry) -> dict[str, list[str]]:
    """Capability -> the recipe's components that provide it (``"schedule 'cycle'"``, ``"network 'D' (block
    'stylegan2_discriminator')"``, ``"network 'D' (condition 'auxiliary_classifier')"``)."""
    out: dict[str, list[str]] = {}

    def add(comp, what: str) -> None:
        for cap in (comp.provides if comp is not None else ()):
            out.setdefault(cap, []).append(what)

    add(registry.find("schedule", recipe.schedule.type), f"schedule {recipe.schedule.type!r}")
    for name, spec in recipe.networks.items():
        add(registry.find("block", spec.type), f"network {name!r} (block {spec.type!r})")
        if getattr(spec, "condition", None) is not None:
            add(registry.find("conditioner", spec.condition.type),
                f"network {name!r} (condition {spec.condition.type!r})")
    return out


def check_compatibility(recipe, registry, *, file: str | None = None) -> None:
    """Every capability a regularizer ``requires`` is provided by the recipe's schedule or one of its networks
    (blocks and conditions): otherwise one RecipeError per term naming it, what is missing and which
    registered components would provide it. Runs on the validated recipe, before anything is built."""
    have = provided_by(recipe, registry)
    problems: list[RecipeError] = []
    for i, spec in enumerate(recipe.regularizers):
        comp = registry.find("regularizer", spec.type)
        missing = [cap for cap in (comp.requires if comp is not None else ()) if cap not in have]
        if not missing:
            continue
        givers = [f"{c.kind} {c.name!r}" for c in registry.components.values() if set(missing) & set(c.provides)]
        problems.append(RecipeError(
            f"{spec.type!r} needs {', '.join(missing)}, which neither the {recipe.schedule.type!r} schedule nor "
            f"the networks ({', '.join(f'{n}: {s.type}' for n, s in recipe.networks.items())}) provide",
            key=["regularizers", i, "type"],
            hint=f"provided by {', '.join(givers)}" if givers else "no installed component provides it"))
    if len(problems) == 1:
        raise problems[0].with_file(file)
    if problems:
        raise RecipeError("invalid recipe", file=file, problems=problems)
