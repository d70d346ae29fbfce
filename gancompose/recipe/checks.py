"""Checks across sections that a per-field model cannot make: names that refer to other names."""
from __future__ import annotations

from gancompose.compatibility import BUILT_NETWORK, OWN_NETWORK
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


def network_provides(spec, registry) -> tuple[str, ...]:
    """What a network's own architecture provides to a conditioner on it: its block's capabilities, or for a
    ``sequential`` network its last layer's (a final ``linear`` layer is a ``feature_head``)."""
    if spec.type == "sequential":
        layers = getattr(spec, "layers", None) or []
        comp = registry.find("layer", layers[-1].type) if layers else None
    else:
        comp = registry.find("block", spec.type)
    own = {"data": ("data_input",), "latent": ("latent_input",)}.get(getattr(spec, "input", None), ())
    return (comp.provides if comp is not None else ()) + own


def _givers(registry, caps) -> list[str]:
    out = []
    for c in registry.components.values():
        if set(caps) & set(c.provides):
            out.append(f"a sequential network ending in layer {c.name!r}" if c.kind == "layer"
                       else f"{c.kind} {c.name!r}")
    return out


def _providers(registry, missing) -> str:
    givers = _givers(registry, missing)
    return f"provided by {', '.join(givers)}" if givers else "no installed component provides it"


def _wrong_input(name: str, spec, wrong: list[str], registry) -> RecipeError:
    """A block put where its input cannot come from: a latent-only generator in an image-to-image slot, or an
    image-taking block fed latents."""
    if "latent_input" in wrong:
        fit = [c.name for c in registry.of_kind("block") if "image_to_image" in c.provides]
        return RecipeError(
            f"block {spec.type!r} maps a latent vector to an image, but networks.{name} has input = {spec.input!r}: "
            "it would treat each image as a latent vector", key=["networks", name, "type"],
            hint=(f"blocks that map images to images: {', '.join(fit)}" if fit else "no installed block maps images "
                  "to images") + "; or a sequential network; or input = 'latent'")
    fit = [c.name for c in registry.of_kind("block") if "latent_input" in c.requires]
    return RecipeError(
        f"block {spec.type!r} takes data samples (input = 'data'), but networks.{name} has input = {spec.input!r}",
        key=["networks", name, "input"],
        hint="set input = 'data'" + (f", or use a block that takes latents: {', '.join(fit)}" if fit else ""))


def scheduled_networks(recipe) -> list[str]:
    """The networks the schedule names (its parameters whose value is a network), or every network."""
    named = [v for k, v in recipe.schedule if k != "type" and isinstance(v, str) and v in recipe.networks]
    return list(dict.fromkeys(named)) or list(recipe.networks)


def check_compatibility(recipe, registry, *, file: str | None = None) -> None:
    """Every capability a regularizer ``requires`` is provided by the recipe's schedule or one of its networks
    (blocks and conditions), every capability a network's conditioner ``requires`` by that network's own
    block (or last layer), every capability the schedule ``requires`` by the block of each network it
    names (the progressive schedule: growing networks), and every capability an augmentation ``requires`` by
    the dataset (images): otherwise one RecipeError per term, condition or
    network naming it, what is missing and which registered components would provide it. Runs on the
    validated recipe, before anything is built."""
    have = provided_by(recipe, registry)
    problems: list[RecipeError] = []
    for name, spec in recipe.networks.items():
        cond = getattr(spec, "condition", None)
        comp = registry.find("conditioner", cond.type) if cond is not None else None
        if comp is None:
            continue
        own = network_provides(spec, registry)
        missing = [cap for cap in comp.requires if cap not in own]
        if not missing:
            continue
        what = (f"a sequential network ending in layer {spec.layers[-1].type!r}"
                if spec.type == "sequential" and getattr(spec, "layers", None) else f"block {spec.type!r}")
        free = [c.name for c in registry.of_kind("conditioner") if not c.requires]
        problems.append(RecipeError(
            f"condition {cond.type!r} needs {', '.join(missing)} from the network it conditions, which "
            f"{name!r} ({what}) does not provide",
            key=["networks", name, "condition", "type"],
            hint=_providers(registry, missing)
            + (f"; or condition {name!r} with {' or '.join(repr(n) for n in free)}" if free else "")))
    for name, spec in recipe.networks.items():  # what a block takes comes from its own network's table
        block = registry.find("block", spec.type) if spec.type != "sequential" else None
        wrong = [cap for cap in (block.requires if block is not None else ()) if cap in OWN_NETWORK
                 and cap not in network_provides(spec, registry)]
        if wrong:
            problems.append(_wrong_input(name, spec, wrong, registry))
    data = registry.find("dataset", recipe.data.type)
    for name, spec in recipe.networks.items():  # an augmentation's needs come from the data
        aug = getattr(spec, "augment", None)
        comp = registry.find("augmentation", aug.type) if aug is not None else None
        missing = [cap for cap in (comp.requires if comp is not None and data is not None else ())
                   if cap not in data.provides]
        if missing:
            problems.append(RecipeError(
                f"augmentation {aug.type!r} needs {', '.join(missing)} from the data, which "
                f"{recipe.data.type!r} does not provide", key=["networks", name, "augment", "type"],
                hint=_providers(registry, missing) + "; or remove the augment key"))
    schedule = registry.find("schedule", recipe.schedule.type)
    if schedule is not None and schedule.requires:
        for name in scheduled_networks(recipe):
            spec = recipe.networks[name]
            missing = [cap for cap in schedule.requires if cap not in network_provides(spec, registry)]
            if missing:
                problems.append(RecipeError(
                    f"the {recipe.schedule.type!r} schedule needs {', '.join(missing)} from the networks it "
                    f"trains, which {name!r} (block {spec.type!r}) does not provide",
                    key=["networks", name, "type"], hint=_providers(registry, missing)))
    for i, spec in enumerate(recipe.regularizers):
        comp = registry.find("regularizer", spec.type)
        needs = comp.requires if comp is not None else ()
        target = recipe.networks.get(getattr(spec, "network", None))
        own = [cap for cap in needs if cap in OWN_NETWORK]
        if own and target is not None and not all(cap in network_provides(target, registry) for cap in own):
            problems.append(RecipeError(
                f"{spec.type!r} scores data samples with network {spec.network!r} and differentiates with respect "
                f"to them, but {spec.network!r} takes input = {target.input!r}", key=["regularizers", i, "network"],
                hint=did_you_mean(spec.network, [n for n, s in recipe.networks.items() if s.input == "data"])
                or "attach it to a network with input = 'data' (the discriminator)"))
        missing = [cap for cap in needs if cap not in have and cap not in OWN_NETWORK and cap not in BUILT_NETWORK]
        if not missing:
            continue
        problems.append(RecipeError(
            f"{spec.type!r} needs {', '.join(missing)}, which neither the {recipe.schedule.type!r} schedule nor "
            f"the networks ({', '.join(f'{n}: {s.type}' for n, s in recipe.networks.items())}) provide",
            key=["regularizers", i, "type"], hint=_providers(registry, missing)))
    if len(problems) == 1:
        raise problems[0].with_file(file)
    if problems:
        raise RecipeError("invalid recipe", file=file, problems=problems)
