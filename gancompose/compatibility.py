"""What combines with what: the capabilities components declare (``requires``/``provides``, see
gancompose/registry.py) read as relations between two components.

A component without requirements combines with any other (the composition matrix in tests/test_matrix.py
trains every architecture family with every loss, discriminator regularizer and conditioning). A component
with requirements needs, somewhere in the recipe, a component that provides each of them; a conditioner's
requirements (``projection`` and ``auxiliary_classifier`` need a ``feature_head``) must come from the block of
the very network it conditions. The validator checks both (gancompose/recipe/checks.py
``check_compatibility``).
"""
from __future__ import annotations


#: kinds a recipe has exactly one of: a capability only they provide cannot come from elsewhere
SINGLE = ("schedule", "loss", "dataset")

#: what the capabilities the core itself checks mean; a plugin declares what its own capabilities mean through the
#: ``register_capabilities`` hook (:meth:`gancompose.registry.Registry.meaning`)
CORE_MEANING = {
    "data_input": "the network a term regularizes takes data samples (input = 'data'): the term scores reals and "
                  "differentiates with respect to its input; needed from that very network",
    "latent_input": "the network takes latent vectors (input = 'latent'), as a block that maps a latent to an image "
                    "needs: such a block in an image-to-image slot is refused",
    "image_to_image": "a block that maps an image to an image of the same size (an image-to-image generator), "
                      "listed when a latent-only block is put in such a slot",
    "unnormalized_weights": "a network none of whose weighted layers is spectrally normalized (spectral_norm = true, "
                            "or a block that normalizes itself), as weight clipping needs: clamping a weight that is "
                            "divided by its spectral norm constrains nothing; checked on the built network",
}


#: capabilities that come from the recipe's network table rather than a component (``input = "data"`` or
#: ``"latent"``): a regularizer needs them from the network it is attached to (its ``network``), a block from
#: the network it builds
OWN_NETWORK = ("data_input", "latent_input")

#: capabilities read off the built network (a block may normalize its layers whatever the recipe says), checked
#: after the networks are built, still before anything trains (gancompose/builder/built_checks.py ``check_built``)
BUILT_NETWORK = ("unnormalized_weights",)

#: kinds whose requirements come from components of another kind: a conditioner's from the block of the
#: network it conditions, a schedule's from the blocks of the networks it trains
SCOPED = {"conditioner": "block", "schedule": "block"}
#: how a scoped requirement reads: (where it must come from, the block's side, the scoped component's side)
_SCOPED_WORDS = {"conditioner": ("the conditioned network's own block", "cannot take it", "cannot condition it"),
                 "schedule": ("the blocks of the networks it trains", "cannot be trained by it", "cannot train it")}


def relation(c, target, registry) -> str:
    """How component ``c`` goes with ``target`` in one recipe, in words."""
    for scoped, other, side in ((target, c, 1), (c, target, 2)):
        if SCOPED.get(scoped.kind) == other.kind:
            lacking = [cap for cap in scoped.requires if cap not in other.provides]
            if lacking:
                words = _SCOPED_WORDS[scoped.kind]
                return f"{words[side]}: {', '.join(lacking)} must come from {words[0]}"

    def only_from_kind(cap: str, kind: str) -> bool:
        providers = [x for x in registry if cap in x.provides]
        return kind in SINGLE and bool(providers) and all(x.kind == kind for x in providers)

    if any(cap in OWN_NETWORK for cap in (*c.requires, *target.requires)):  # from the recipe's network table
        c = _without_own(c)
        target = _without_own(target)
    blocked = [cap for cap in target.requires if cap not in c.provides and only_from_kind(cap, c.kind)]
    blocked += [cap for cap in c.requires if cap not in target.provides and only_from_kind(cap, target.kind)]
    if blocked:
        other = c.kind if blocked[0] in target.requires else target.kind
        return f"cannot go with it: {', '.join(blocked)} comes only from another {other}"
    gives = [cap for cap in target.requires if cap in c.provides]
    uses = [cap for cap in c.requires if cap in target.provides]
    needs = [cap for cap in c.requires if cap not in target.provides]
    parts = []
    if gives:
        parts.append(f"provides what it needs ({', '.join(gives)})")
    if uses:
        parts.append(f"uses its {', '.join(uses)}")
    if needs:
        parts.append(f"also needs {', '.join(needs)} from another component")
    return "; ".join(parts) or "combines freely"


def _without_own(c):
    import dataclasses
    return dataclasses.replace(c, requires=tuple(cap for cap in c.requires if cap not in OWN_NETWORK))


def capability_table(registry) -> list[tuple[str, list[str], list[str]]]:
    """(capability, the components that require it, those that provide it), sorted by capability."""
    caps = sorted({cap for c in registry for cap in (*c.requires, *c.provides)})
    return [(cap, [f"{c.kind} {c.name}" for c in registry if cap in c.requires],
             [f"{c.kind} {c.name}" for c in registry if cap in c.provides]) for cap in caps]
