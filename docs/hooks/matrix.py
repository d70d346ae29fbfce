"""The composition matrix: the recipes that stand for each architecture family, the components each is combined
with, and what each cell claims. One definition for two readers: ``tests/test_matrix.py`` trains every cell (a
tiny version of the recipe, two steps on the CPU) and asserts its claim; the generated compatibility page
(``docs/hooks/docgen.py``, ``docs/reference/compatibility.md``) lists the same cells, so the page says what the
test proves on every run.

The columns come from the registry, so a loss, regularizer, augmentation or conditioner that a third-party
plugin registers joins the matrix by itself. The ``with_*`` functions change a recipe's raw dict (as loaded,
before validation) into one cell's recipe; the test shrinks the recipe first, the docs page does not.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

#: family -> (recipe in recipes/, the discriminators a regularizer, augmentation or condition is attached to)
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "mlp": ("vanilla_gan_ring.toml", ["discriminator"]),
    "dcgan": ("dcgan_shapes.toml", ["discriminator"]),
    "sngan_resnet": ("sngan_shapes.toml", ["discriminator"]),
    "resnet_patchgan_pair": ("cyclegan_shapes.toml", ["D_A", "D_B"]),
    "progressive": ("progan_shapes.toml", ["discriminator"]),
    "stylegan2": ("stylegan2_shapes.toml", ["discriminator"]),
    "unet_paired_patchgan": ("pix2pix_shapes.toml", ["D"]),
}
#: image-to-image families (unlabelled pairs of images: no class conditioning)
IMAGE_TO_IMAGE: tuple[str, ...] = ("resnet_patchgan_pair", "unet_paired_patchgan")
#: families with one generator and one discriminator (class conditioning is tried on these)
SINGLE_PAIR: list[str] = [f for f in FAMILIES if f not in IMAGE_TO_IMAGE]
#: families whose discriminators refuse an augmentation while building, with why
REFUSES_AUGMENTATION: dict[str, str] = {
    "unet_paired_patchgan": "is refused at the discriminator's augment key (it would transform B and not the A "
                            "it is paired with; ADA, by the pair's 6 channels)",
}
#: regularizers that regularize a discriminator on real and generated samples (any family)
D_REGULARIZERS: tuple[str, ...] = ("gradient_penalty", "r1", "r2", "drift", "weight_clipping")
#: how the generator is conditioned when the discriminator is, tried in this order: the block's own label input
#: (``num_classes``: the StyleGAN2 generator, whose path-length term needs the block unwrapped), then conditioners
G_CONDITIONS: tuple[str, ...] = ("num_classes", "conditional_batch_norm", "concat")
#: the built-in discriminator conditionings: each must train with every single-pair family
BUILT_IN_D_CONDITIONS: tuple[str, ...] = ("auxiliary_classifier", "concat", "projection")
#: classes of the labelled data conditioned cells train on (the shapes dataset: circle, square, triangle, star,
#: cross, ring); the 2-D mixtures of the MLP family are labelled by mode already
SHAPE_CLASSES = 6

#: the matrix's columns: title, and the test in tests/test_matrix.py that trains its cells
COLUMNS: dict[str, tuple[str, str]] = {
    "loss": ("Losses", "test_every_family_trains_with_every_loss"),
    "discriminator regularizer": ("Discriminator regularizers",
                                  "test_every_family_trains_with_every_discriminator_regularizer"),
    "other term": ("Other terms (on the generator)", "test_other_terms_train_or_are_refused_clearly"),
    "augmentation": ("Augmentations (on every discriminator)",
                     "test_every_family_trains_with_every_augmentation_or_refuses_it"),
    "discriminator conditioning": ("Discriminator conditionings (labelled data)",
                                   "test_every_single_pair_family_trains_with_every_conditioning"),
    "network flag": ("Network flags (on every discriminator)",
                     "test_every_family_trains_with_every_network_flag_on_its_discriminators"),
}
#: network-level flags every family's discriminators must honour on every weighted layer (asserted after building)
NETWORK_FLAGS: tuple[str, ...] = ("spectral_norm",)

TRAINS = "trains"
TRAINS_OR_REFUSED = "trains, or is refused with a RecipeError"
#: a term that needs what only the built network shows (weight clipping: no spectrally normalized layer)
TRAINS_UNLESS_NORMALIZED = "trains, or is refused where the discriminator is spectrally normalized"


def d_regularizer_claim(registry, name: str) -> str:
    from gancompose.compatibility import BUILT_NETWORK
    comp = registry.find("regularizer", name)
    return TRAINS_UNLESS_NORMALIZED if any(cap in BUILT_NETWORK for cap in comp.requires) else TRAINS


@dataclass(frozen=True)
class Cell:
    """One cell: ``family`` combined with component ``kind``/``name``; ``claim`` is what the test asserts."""
    column: str  # a key of COLUMNS
    family: str
    kind: str
    name: str
    claim: str


def losses(registry) -> list[str]:
    return registry.names("loss")


def other_regularizers(registry) -> list[str]:
    """Terms with requirements or another target (cycle, identity, path length, the auxiliary classifier...)."""
    return [n for n in registry.names("regularizer") if n not in D_REGULARIZERS]


def augmentations(registry) -> list[str]:
    return registry.names("augmentation")


def d_conditions(registry) -> list[str]:
    """Conditioners tried on the discriminator (conditional batch norm conditions generators)."""
    return [c for c in registry.names("conditioner") if c != "conditional_batch_norm"]


def cells(registry) -> list[Cell]:
    """Every cell of the matrix, in the order the test runs them."""
    out = [Cell("loss", f, "loss", n, TRAINS) for n in losses(registry) for f in FAMILIES]
    out += [Cell("discriminator regularizer", f, "regularizer", n, d_regularizer_claim(registry, n))
            for n in D_REGULARIZERS for f in FAMILIES if registry.find("regularizer", n) is not None]
    out += [Cell("other term", f, "regularizer", n, TRAINS_OR_REFUSED)
            for n in other_regularizers(registry) for f in FAMILIES]
    out += [Cell("augmentation", f, "augmentation", n,
                 REFUSES_AUGMENTATION.get(f, TRAINS if f != "mlp" else "trains, or is refused at its augment key "
                                                                      "(2-D data)"))
            for n in augmentations(registry) for f in FAMILIES]
    out += [Cell("discriminator conditioning", f, "conditioner", n,
                 TRAINS if n in BUILT_IN_D_CONDITIONS else TRAINS_OR_REFUSED)
            for f in SINGLE_PAIR for n in d_conditions(registry)]
    out += [Cell("network flag", f, "network flag", n, TRAINS) for n in NETWORK_FLAGS for f in FAMILIES]
    return out


# ----------------------------------------------------------------------------------- one cell's recipe
def generators(raw: dict) -> list[str]:
    return [n for n in raw["networks"] if n.startswith("G") or n == "generator"]


def with_loss(raw: dict, loss: str) -> dict:
    return {**copy.deepcopy(raw), "loss": {"type": loss}}


def with_d_regularizer(raw: dict, family: str, reg: str) -> dict:
    raw = copy.deepcopy(raw)
    keep = [r for r in raw.get("regularizers", []) if r.get("type") != reg]
    raw["regularizers"] = [*keep, {"type": reg, "network": FAMILIES[family][1][-1]}]
    return raw


def with_other_term(raw: dict, reg: str) -> dict:
    raw = copy.deepcopy(raw)
    raw["regularizers"] = [*raw.get("regularizers", []), {"type": reg, "network": generators(raw)[0]}]
    return raw


def with_augmentation(raw: dict, family: str, aug: str) -> dict:
    raw = copy.deepcopy(raw)
    for d in FAMILIES[family][1]:
        raw["networks"][d] = {**raw["networks"][d], "augment": {"type": aug}}
    return raw


def with_network_flag(raw: dict, family: str, flag: str) -> dict:
    raw = copy.deepcopy(raw)
    for d in FAMILIES[family][1]:
        raw["networks"][d] = {**raw["networks"][d], flag: True}
    return raw


def g_conditions(raw: dict, registry) -> list[str]:
    """The generator conditions to try for this recipe's generator, its own label input first when it has one."""
    block = registry.find("block", raw["networks"]["generator"]["type"])
    own = block is not None and "num_classes" in block.params.model_fields
    return [c for c in G_CONDITIONS if c != "num_classes" or own]


def with_conditioning(raw: dict, family: str, d_cond: str, g_cond: str) -> dict:
    """The family's recipe on labelled data, its discriminator conditioned by ``d_cond`` (with the
    auxiliary_classifier term when that is the head) and its generator by ``g_cond``."""
    raw = copy.deepcopy(raw)
    if family != "mlp":
        raw["data"] = {**raw["data"], "type": "shapes"}
    g = raw["networks"]["generator"]
    raw["networks"]["generator"] = ({**g, "num_classes": SHAPE_CLASSES} if g_cond == "num_classes"
                                    else {**g, "condition": {"type": g_cond}})
    raw["networks"]["discriminator"] = {**raw["networks"]["discriminator"], "condition": {"type": d_cond}}
    if d_cond == "auxiliary_classifier":
        raw["regularizers"] = [*raw.get("regularizers", []),
                               {"type": "auxiliary_classifier", "network": "discriminator"}]
    return raw


def cell_recipe(cell: Cell, raw: dict, registry) -> dict:
    """``raw`` (the family's recipe) changed into ``cell``'s recipe; a conditioned generator takes the first of
    :func:`g_conditions` (the test tries the others when that one is refused)."""
    if cell.column == "loss":
        return with_loss(raw, cell.name)
    if cell.column == "discriminator regularizer":
        return with_d_regularizer(raw, cell.family, cell.name)
    if cell.column == "other term":
        return with_other_term(raw, cell.name)
    if cell.column == "augmentation":
        return with_augmentation(raw, cell.family, cell.name)
    if cell.column == "network flag":
        return with_network_flag(raw, cell.family, cell.name)
    if cell.column == "discriminator conditioning":
        return with_conditioning(raw, cell.family, cell.name, g_conditions(raw, registry)[0])
    raise ValueError(f"unknown matrix column {cell.column!r}")

