"""The recipe model, built from the registry once every plugin has loaded.

Each component slot (``[loss]``, ``[networks.NAME]``, ``[[regularizers]]``...) is a tagged union
over the registered components of its kind, discriminated by ``type``, so a third-party
component validates exactly like a built-in one and shows up in the JSON Schema.
"""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, StringConstraints, create_model

from gancompose.recipe.sections import LatentSpec, PerformanceSpec, Section, TrainSpec
from gancompose.recipe.weights import network_fields as portable_network_fields
from gancompose.registry import Registry

Recipe = BaseModel  # the concrete class is built per registry by recipe_model()

#: a distribution name as pip takes it (``gancompose-relativistic``), without a version
PackageName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")]


@dataclass(frozen=True)
class KindTag:
    """Marks a tagged union in the model so error reporting knows which kind it selects."""
    kind: str


def _component_model(kind: str, name: str, params: type[BaseModel], extra: dict[str, Any]) -> type[BaseModel]:
    return create_model(f"{kind}.{name}", __base__=params, __doc__=params.__doc__,
                        type=(Literal[name], Field(description=f"the {kind} to use")), **extra)


def component_union(registry: Registry, kind: str, extra: dict[str, Any] | None = None,
                    additional: tuple[type[BaseModel], ...] = (), types: frozenset[str] | None = None) -> Any:
    members = tuple(_component_model(kind, c.name, c.params, extra or {}) for c in registry.of_kind(kind)
                    if types is None or c.name in types)
    members += additional
    if not members:
        members = (create_model(f"{kind}.none", __base__=Section, type=(Literal["<none registered>"], ...)),)
    return Annotated[Union[members], Field(discriminator="type"), KindTag(kind)]


class RecipeBase(Section):
    """Base of every recipe model :func:`recipe_model` builds."""
    model_config = ConfigDict(extra="forbid", frozen=True, title="gancompose recipe")
    #: the file the recipe was read from, so errors found while building can name it
    _source: Optional[str] = PrivateAttr(None)

    def __eq__(self, other: object) -> bool:
        """Equal content is an equal recipe, wherever it was read and whichever model validated it (one built for
        the components a recipe names has classes of its own)."""
        if not isinstance(other, RecipeBase):
            return NotImplemented
        if type(self) is type(other):
            return self.__dict__ == other.__dict__
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]


_cache: "weakref.WeakKeyDictionary[Registry, dict[frozenset[str] | None, type[BaseModel]]]" = \
    weakref.WeakKeyDictionary()


def recipe_model(registry: Registry, types: frozenset[str] | None = None) -> type[BaseModel]:
    """The pydantic model of a recipe, given the components in ``registry``; with ``types``, its unions hold only
    the components of those names (:func:`used_types`: what one recipe names, a model that validates that recipe
    exactly as the whole one does, built in a fraction of the time; a tag it lacks is reported from the
    registry's names, as an unknown component is)."""
    models = _cache.setdefault(registry, {})
    if types in models:
        return models[types]
    union = functools.partial(component_union, types=types)  # every union of this model, restricted alike
    initializer = union(registry, "initializer")
    layer = union(registry, "layer")
    lr_schedule = union(registry, "lr_schedule")
    conditioner = union(registry, "conditioner", {
        "num_classes": (Optional[PositiveInt], Field(None, description="classes; must match the data's "
                                                                       "(read from the data when omitted)")),
    })

    augmentation = union(registry, "augmentation")
    network_fields = {
        "input": (str, Field(description="what the network consumes: 'latent' or 'data'")),
        "init": (Optional[initializer], Field(None, description="weight initializer applied after building")),
        "condition": (Optional[conditioner], Field(None, description="make the network class-conditional")),
        "augment": (Optional[augmentation], Field(None, description="augment every image the network sees "
                                                                    "while training (DiffAugment, ADA)")),
        "spectral_norm": (bool, Field(False, description="spectral normalization of every conv and linear weight "
                                                         "of the network (Miyato et al. 2018)")),
        **portable_network_fields(),  # init_from, trainable, freeze (gancompose/recipe/weights.py)
    }
    sequential = create_model(
        "block.sequential", __base__=Section, __doc__="A network written layer by layer.",
        type=(Literal["sequential"], Field(description="a list of layers")),
        layers=(list[layer], Field(min_length=1, description="the layers, in order")),
        **network_fields)
    network = union(registry, "block", network_fields, additional=(sequential,))
    optimizer = union(registry, "optimizer", {
        "lr_schedule": (Optional[lr_schedule], Field(None, description="learning-rate factor over training")),
    })

    model = create_model(
        "Recipe", __base__=RecipeBase,
        name=(Optional[str], Field(None, description="run name (default: the file's stem)")),
        description=(str, Field("", description="what this recipe trains")),
        requires=(list[PackageName], Field([], description="distributions (pip package names) that provide "
                                           "components this recipe uses; a recipe error about an unknown "
                                           "component names those not installed")),
        latent=(LatentSpec, Field(LatentSpec(), description="the generator's latent input")),
        networks=(dict[str, network], Field(description="the networks, by name")),
        loss=(union(registry, "loss"), Field(description="the adversarial loss")),
        regularizers=(list[union(registry, "regularizer")], Field([], description="extra loss terms")),
        optimizers=(dict[str, optimizer], Field(description="one optimizer per trained network, by network name")),
        schedule=(union(registry, "schedule"), Field(description="the training schedule (variant)")),
        data=(union(registry, "dataset"), Field(description="the training data")),
        train=(TrainSpec, Field(TrainSpec(), description="loop settings")),
        performance=(PerformanceSpec, Field(PerformanceSpec(), description="precision, layout, optimizer kernels "
                                            "and compilation on the device (speed only)")),
        metrics=(list[union(registry, "metric", {
            "every": (PositiveInt, Field(500, description="steps between evaluations (and one at the end)")),
        })], Field([], description="metrics computed during training, logged to metrics.jsonl")),
    )
    models[types] = model
    return model


def used_types(raw: Any) -> frozenset[str]:
    """Every ``type`` a raw recipe names, at any depth (its components, their layers, initializers...)."""
    found: set[str] = set()
    stack = [raw]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("type"), str):
                found.add(item["type"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return frozenset(found)
