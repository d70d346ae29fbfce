"""The recipe model, built from the registry once every plugin has loaded.

Each component slot (``[loss]``, ``[networks.NAME]``, ``[[regularizers]]``...) is a tagged union
over the registered components of its kind, discriminated by ``type``, so a third-party
component validates exactly like a built-in one and shows up in the JSON Schema.
"""
from __future__ import annotations

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
                    additional: tuple[type[BaseModel], ...] = ()) -> Any:
    members = tuple(_component_model(kind, c.name, c.params, extra or {}) for c in registry.of_kind(kind))
    members += additional
    if not members:
        members = (create_model(f"{kind}.none", __base__=Section, type=(Literal["<none registered>"], ...)),)
    return Annotated[Union[members], Field(discriminator="type"), KindTag(kind)]


_cache: "weakref.WeakKeyDictionary[Registry, type[BaseModel]]" = weakref.WeakKeyDictionary()


def recipe_model(registry: Registry) -> type[BaseModel]:
    """The pydantic model of a recipe, given the components in ``registry``."""
    if registry in _cache:
        return _cache[registry]
    initializer = component_union(registry, "initializer")
    layer = component_union(registry, "layer")
    lr_schedule = component_union(registry, "lr_schedule")
    conditioner = component_union(registry, "conditioner", {
        "num_classes": (Optional[PositiveInt], Field(None, description="classes; must match the data's "
                                                                       "(read from the data when omitted)")),
    })

    augmentation = component_union(registry, "augmentation")
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
    network = component_union(registry, "block", network_fields, additional=(sequential,))
    optimizer = component_union(registry, "optimizer", {
        "lr_schedule": (Optional[lr_schedule], Field(None, description="learning-rate factor over training")),
    })

    class _Base(Section):
        model_config = ConfigDict(extra="forbid", frozen=True, title="gancompose recipe")
        #: the file the recipe was read from, so errors found while building can name it
        _source: Optional[str] = PrivateAttr(None)

        def __eq__(self, other: object) -> bool:  # equal content is an equal recipe, wherever it was read
            return type(self) is type(other) and self.__dict__ == other.__dict__

        __hash__ = None  # type: ignore[assignment]

    model = create_model(
        "Recipe", __base__=_Base,
        name=(Optional[str], Field(None, description="run name (default: the file's stem)")),
        description=(str, Field("", description="what this recipe trains")),
        requires=(list[PackageName], Field([], description="distributions (pip package names) that provide "
                                           "components this recipe uses; a recipe error about an unknown "
                                           "component names those not installed")),
        latent=(LatentSpec, Field(LatentSpec(), description="the generator's latent input")),
        networks=(dict[str, network], Field(description="the networks, by name")),
        loss=(component_union(registry, "loss"), Field(description="the adversarial loss")),
        regularizers=(list[component_union(registry, "regularizer")], Field([], description="extra loss terms")),
        optimizers=(dict[str, optimizer], Field(description="one optimizer per trained network, by network name")),
        schedule=(component_union(registry, "schedule"), Field(description="the training schedule (variant)")),
        data=(component_union(registry, "dataset"), Field(description="the training data")),
        train=(TrainSpec, Field(TrainSpec(), description="loop settings")),
        performance=(PerformanceSpec, Field(PerformanceSpec(), description="precision, layout, optimizer kernels "
                                            "and compilation on the device (speed only)")),
        metrics=(list[component_union(registry, "metric", {
            "every": (PositiveInt, Field(500, description="steps between evaluations (and one at the end)")),
        })], Field([], description="metrics computed during training, logged to metrics.jsonl")),
    )
    _cache[registry] = model
    return model
