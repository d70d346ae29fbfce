"""What combines with what: the capabilities components declare (``requires``/``provides``, see
gancompose/registry.py) read as relations between two components.

A component without requirements combines with any other (the composition matrix in tests/test_matrix.py
trains every architecture family with every loss and discriminator regularizer). A component with
requirements needs, somewhere in the recipe, a component that provides each of them; the validator
checks it (gancompose/recipe/checks.py ``check_compatibility``).
"""
from __future__ import annotations


#: kinds a recipe has exactly one of: a capability only they provide cannot come from elsewhere
SINGLE = ("schedule", "loss", "dataset")


def relation(c, target, registry) -> str:
    """How component ``c`` goes with ``target`` in one recipe, in words."""
    def only_from_kind(cap: str, kind: str) -> bool:
        providers = [x for x in registry if cap in x.provides]
        return kind in SINGLE and bool(providers) and all(x.kind == kind for x in providers)

    blocked = [cap for cap in target.requires if cap not in c.provides and only_from_kind(cap, c.kind)]
    blocked += [cap for cap in c.requires if cap not in target.provides and only_from_kind(cap, target.kind)]
    if blocked:
        return f"cannot go with it: {', '.join(blocked)} comes only from another {c.kind if blocked[0] in target.requires else target.kind}"
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


def capability_table(registry) -> list[tuple[str, list[str], list[str]]]:
    """(capability, the components that require it, those that provide it), sorted by capability."""
    caps = sorted({cap for c in registry for cap in (*c.requires, *c.provides)})
    return [(cap, [f"{c.kind} {c.name}" for c in registry if cap in c.requires],
             [f"{c.kind} {c.name}" for c in registry if cap in c.provides]) for cap in caps]
