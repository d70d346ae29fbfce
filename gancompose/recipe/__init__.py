"""Recipes: TOML files that declare what to train.

``load_recipe(path, overrides)`` reads the file (following ``extends``), applies ``--set``
overrides, and validates the result against a model built from the registry.
"""
from gancompose.recipe.load import load_recipe, load_raw, apply_overrides, validate_recipe
from gancompose.recipe.schema import recipe_model, Recipe

__all__ = ["load_recipe", "load_raw", "apply_overrides", "validate_recipe", "recipe_model", "Recipe"]
