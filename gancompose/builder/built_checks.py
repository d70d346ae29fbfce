"""What a recipe's terms need from the networks as built (:data:`gancompose.compatibility.BUILT_NETWORK`): checked
after the networks are built (by ``validate`` too), before any step."""
from __future__ import annotations

from gancompose.builder.networks import is_normalized, weighted_layers
from gancompose.errors import RecipeError


def check_built(recipe, registry, networks) -> None:
    """What a term needs from the built network it regularizes (:data:`BUILT_NETWORK`): weight clipping a network
    with a spectrally normalized layer is refused, naming the layers. Runs after the networks are built (by
    ``validate`` too), before any step."""
    problems: list[RecipeError] = []
    for i, spec in enumerate(recipe.regularizers):
        comp = registry.find("regularizer", spec.type)
        net = networks[spec.network] if getattr(spec, "network", None) in networks else None
        if comp is None or net is None or "unnormalized_weights" not in comp.requires:
            continue
        normalized = [path for path, m in weighted_layers(net) if is_normalized(m)]
        if normalized:
            where = ("networks." + spec.network + ".spectral_norm = true" if recipe.networks[spec.network].spectral_norm
                     else f"block {recipe.networks[spec.network].type!r} normalizes them itself")
            problems.append(RecipeError(
                f"{spec.type!r} on {spec.network!r} would clamp stored weights that spectral normalization divides by "
                f"their largest singular value, so it would constrain nothing: {len(normalized)} layers of "
                f"{spec.network!r} are spectrally normalized ({where})", key=["regularizers", i, "type"],
                hint="use one Lipschitz constraint: remove the clipping term, or the spectral norm (or use "
                     "gradient_penalty with spectral norm, as SNGAN-GP does)"))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RecipeError("invalid recipe", problems=problems)
