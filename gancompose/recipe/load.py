"""Reading recipes: TOML -> dict -> ``extends`` merged -> ``--set`` applied -> validated model."""
from __future__ import annotations

import copy
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from gancompose.errors import RecipeError, did_you_mean
from gancompose.recipe.schema import KindTag, recipe_model, used_types
from gancompose.registry import Registry, default_registry


# ----------------------------------------------------------------------------------- reading
#: a recipe file is read only if it is a regular file of at most this many bytes
MAX_RECIPE_BYTES = 4 * 1024 * 1024
#: tables and arrays nested deeper than this are refused (no recipe needs more than a handful of levels)
MAX_DEPTH = 32
#: at most this many files in an ``extends`` chain
MAX_EXTENDS = 32
#: integers must fit 64 bits (torch's seeds: -2**63 to 2**64 - 1)
INT_RANGE = (-(2 ** 63), 2 ** 64 - 1)


def _shipped_hint(path: Path) -> str:
    from gancompose.recipe.shipped import shipped_recipes
    try:
        names = list(shipped_recipes())
    except Exception:  # the hint must never hide the error
        return "gancompose recipes lists the recipes that ship with gancompose and its plugins"
    import difflib
    near = difflib.get_close_matches(path.stem, names, n=1)
    return (f"did you mean {near[0]!r}? " if near else "") + \
        "gancompose recipes lists the recipes that ship with gancompose and its plugins (run one by name)"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        if not path.is_file():
            if not path.exists():
                raise RecipeError("recipe file not found", file=str(path), hint=_shipped_hint(path))
            raise RecipeError("cannot read the recipe: not a regular file", file=str(path),
                              hint="a recipe is a .toml file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"cannot read the recipe: {exc.strerror or exc}", file=_short_path(path)) from None
    if len(data) > MAX_RECIPE_BYTES:
        raise RecipeError(f"cannot read the recipe: larger than {MAX_RECIPE_BYTES // 2 ** 20} MiB", file=str(path),
                          hint="a recipe is a small text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecipeError(f"cannot read the recipe: not UTF-8 text at line {line} ({exc})", file=str(path)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc).replace("(at end of document)", f"(at the end of the document, line {text.count(chr(10)) + 1})")
        raise RecipeError(f"not valid TOML: {msg}", file=str(path),
                          hint="see https://toml.io for the syntax") from None
    except RecursionError:
        raise RecipeError(f"not valid TOML here (line {_deep_line(text, MAX_DEPTH)}): arrays or inline tables "
                          f"nested too deeply (at most {MAX_DEPTH} levels)", file=str(path)) from None
    except ValueError as exc:  # an integer longer than Python converts (4,300 digits)
        m = re.search(r"\d{100,}", text)
        line = f" (line {text.count(chr(10), 0, m.start()) + 1})" if m else ""
        raise RecipeError(f"not valid TOML here{line}: a number of {len(m.group()) if m else 'too many'} digits "
                          f"({str(exc).split(':')[0]})", file=str(path)) from None
    check_depth(raw, file=str(path))
    return raw


def _deep_line(text: str, limit: int) -> int:
    """The line where brackets and braces (outside strings, roughly) first nest deeper than ``limit``."""
    depth, quote, line = 0, None, 1
    for ch in text:
        if ch == "\n":
            line += 1
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return line
        elif ch in "]}":
            depth = max(0, depth - 1)
    return line


def _short_path(path: Path, limit: int = 200) -> str:
    text = str(path)
    return text if len(text) <= limit else text[:limit // 2] + "..." + text[-limit // 2:]


def check_depth(raw: Any, *, file: str | None = None, limit: int = MAX_DEPTH) -> None:
    """Refuse tables and arrays nested deeper than ``limit``, naming the key path (iteratively: no recursion)."""
    stack = [(raw, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            raise RecipeError(f"nested more than {limit} levels deep", file=file, key=path[:limit])
        if isinstance(node, dict):
            stack.extend((v, [*path, k]) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(node))


def check_values(raw: Any, *, file: str | None = None) -> None:
    """Refuse what no recipe key means: a NaN or an infinite float, an integer beyond 64 bits. One error per
    recipe, naming the key path (iteratively)."""
    import math
    check_depth(raw, file=file)
    stack = [(raw, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, [*path, k]) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise RecipeError(f"expected a finite number, got {node}", file=file, key=path)
        elif isinstance(node, int) and not isinstance(node, bool) and not INT_RANGE[0] <= node <= INT_RANGE[1]:
            raise RecipeError(f"the integer {_short(node)} is out of range (64 bits: -2**63 to 2**64 - 1)",
                              file=file, key=path)


def _short(value: Any, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters (an error message never echoes a huge value)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 60:
        return f"{'-' if value < 0 else ''}<an integer of {len(str(abs(value)))} digits>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 20] + f"... ({len(text)} characters)"


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; every other value (arrays included) in ``over`` replaces ``base``'s."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            # a component table that changes its type starts over instead of inheriting old params
            if "type" in value and value.get("type") != out[key].get("type"):
                out[key] = copy.deepcopy(value)
            else:
                out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_raw(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The recipe as a dict, with ``extends = "other.toml"`` (relative to the file) merged in."""
    path = Path(path)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:
        raise RecipeError(f"cannot read the recipe: {exc}", file=_short_path(path)) from None
    if resolved in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, resolved))
        raise RecipeError(f"'extends' forms a cycle: {cycle}", file=str(_chain[0]), key="extends")
    if len(_chain) >= MAX_EXTENDS:
        raise RecipeError(f"'extends' chains more than {MAX_EXTENDS} files", file=str(_chain[0]), key="extends",
                          hint="a recipe extends a few others at most")
    raw = _read_toml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise RecipeError(f"expected a file name (string), got {_short(parent)}", file=str(path), key="extends")
    parent_path = (path.parent / parent)
    try:
        found = parent_path.exists()
    except (OSError, ValueError) as exc:  # a name longer than the filesystem allows, a NUL byte
        raise RecipeError(f"cannot read the extended recipe {_short(parent)}: {getattr(exc, 'strerror', None) or exc}",
                          file=str(path), key="extends") from None
    if not found:
        raise RecipeError(f"extended recipe {_short(parent)} not found (looked at {_short_path(parent_path)})",
                          file=str(path), key="extends")
    try:
        base = load_raw(parent_path, (*_chain, resolved))
    except RecipeError as exc:
        if exc.file == str(parent_path) and exc.key is None and not exc.problems:  # it cannot be read at all
            raise RecipeError(f"{exc.message} ({_short_path(parent_path)})", file=str(path), key="extends",
                              hint=exc.hint) from None
        raise
    merged = deep_merge(base, raw)
    if isinstance(base.get("requires"), list) and isinstance(raw.get("requires"), list):  # both: the union
        merged["requires"] = base["requires"] + [r for r in raw["requires"] if r not in base["requires"]]
    return merged


#: the tables whose entries may copy a sibling with ``like = "NAME"``
LIKE_TABLES = ("networks", "optimizers")


def expand_like(raw: dict[str, Any], file: str | None = None) -> dict[str, Any]:
    """Resolve ``like = "OTHER"`` in ``[networks.*]`` and ``[optimizers.*]``: the entry is OTHER's table
    with its own keys merged over it, so a pair of identical networks is declared once
    (``[networks.G_BA] like = "G_AB"``). Chains resolve in order; a cycle or an unknown name is an error."""
    out = dict(raw)
    for table in LIKE_TABLES:
        entries = raw.get(table)
        if not isinstance(entries, dict) or not any(isinstance(v, dict) and "like" in v for v in entries.values()):
            continue
        done: dict[str, Any] = {}

        def resolve(name: str, chain: tuple[str, ...]) -> Any:
            if name in done:
                return done[name]
            entry = entries[name]
            if not isinstance(entry, dict) or "like" not in entry:
                done[name] = entry
                return entry
            other = entry["like"]
            key = [table, name, "like"]
            if not isinstance(other, str):
                raise RecipeError(f"expected the name of another entry of [{table}], got {other!r}", file=file,
                                  key=key)
            if other not in entries:
                raise RecipeError(f"no [{table}.{other}] to copy", file=file, key=key,
                                  hint=did_you_mean(other, [n for n in entries if n != name]))
            if other in chain or other == name:
                raise RecipeError(f"'like' forms a cycle: {' -> '.join((*chain, name, other))}", file=file, key=key)
            base = resolve(other, (*chain, name))
            own = {k: v for k, v in entry.items() if k != "like"}
            done[name] = deep_merge(base, own) if isinstance(base, dict) else own
            return done[name]

        out[table] = {name: resolve(name, ()) for name in entries}
    return out


# --------------------------------------------------------------------------------- overrides
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_key_path(key: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    for m in _PART.finditer(key):
        gap = key[pos:m.start()]
        if gap not in ("", "."):
            raise RecipeError(f"cannot parse the key path {key!r}", key="--set")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts or key[pos:]:
        raise RecipeError(f"cannot parse the key path {key!r}", key="--set")
    return parts


def parse_value(text: str) -> Any:
    """A TOML value (``32``, ``2e-4``, ``true``, ``[0.5, 0.999]``, ``{type = "adam"}``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except (RecursionError, ValueError):
        raise RecipeError(f"cannot read the value {_short(text)}: nested too deeply or a number too long",
                          key="--set") from None


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` strings (the CLI's ``--set``) to a raw recipe dict."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"expected KEY=VALUE, got {item!r}", key="--set",
                              hint="for example: --set train.batch_size=32")
        key, _, value = item.partition("=")
        parts = parse_key_path(key.strip())
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise RecipeError(f"index {part} is out of range", key=parts[: i + 1])
                node = node[part]
            else:
                if not isinstance(node, dict):
                    raise RecipeError("is not a table", key=parts[:i])
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise RecipeError(f"index {last} is out of range", key=parts)
            node[last] = parse_value(value.strip())
        else:
            if not isinstance(node, dict):
                raise RecipeError("is not a table", key=parts[:-1])
            node[last] = parse_value(value.strip())
    return out


# -------------------------------------------------------------------------------- validation
def _strip(tp: Any) -> tuple[Any, KindTag | None]:
    """Unwrap Annotated/Optional; return the inner type and its KindTag if it is a component union."""
    tag = None
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            tag = next((a for a in args[1:] if isinstance(a, KindTag)), tag)
            tp = args[0]
        elif origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
        else:
            return tp, tag


def _members(tp: Any) -> list[type[BaseModel]]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
    return [tp] if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if args else None


def _describe(loc: Sequence[Any], root: type[BaseModel], raw: Any):
    """Walk the model type and the raw input along pydantic's ``loc``.

    Returns the user's key path (union tags dropped), the model class found at the end of the
    path (if it is a model), and the component-union KindTag met at the last step, if any.
    """
    tp: Any = root
    node: Any = raw
    path: list[Any] = []
    kindtag: KindTag | None = None
    for i, part in enumerate(loc):
        tp, tag = _strip(tp)
        members = _members(tp)
        if tag is not None:
            kindtag = tag
            if isinstance(part, str) and any(_tag_of(m) == part for m in members) and not (
                    isinstance(node, dict) and part in node and node.get("type") != part):
                tp = next(m for m in members if _tag_of(m) == part)
                continue  # a union tag, not a key the user wrote
        path.append(part)
        kindtag = None
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part) if isinstance(part, str) else None
            # pydantic keeps Annotated metadata (our KindTag) apart from the annotation: put it back
            tp = field.rebuild_annotation() if field is not None else Any
        elif typing.get_origin(tp) in (dict, list):
            args = typing.get_args(tp)
            tp = args[-1] if args else Any
        else:
            tp = Any
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
    final, tag = _strip(tp)
    return path, final if isinstance(final, type) and issubclass(final, BaseModel) else None, kindtag or tag


def errors_from_validation(exc: ValidationError, model: type[BaseModel], raw: dict[str, Any],
                           registry: Registry) -> list[RecipeError]:
    problems = []
    missing: list[str] | None = None  # packages the recipe ``requires`` that are not installed, looked up once
    for err in exc.errors():
        loc = err["loc"]
        path, _, kindtag = _describe(loc, model, raw)
        etype = err["type"]
        value = err.get("input")
        if etype == "union_tag_invalid":
            kind = kindtag.kind if kindtag else "component"
            tag = err.get("ctx", {}).get("tag")
            if (kind, tag) in registry.clashes:  # several plugins register it: say which, and how to pick one
                problems.append(registry.clash_error(kind, tag).under([*path, "type"]))
                continue
            names = registry.names(kind) + (["sequential"] if kind == "block" else [])
            if missing is None:
                from gancompose.recipe.checks import missing_packages
                missing = missing_packages(raw.get("requires"))
            note = ""
            if missing:
                from gancompose.recipe.checks import requires_note
                note = f": {requires_note(missing)}"
            problems.append(RecipeError(f"unknown {kind} {tag!r}{note}", key=[*path, "type"],
                                        hint=did_you_mean(str(tag), names)))
        elif etype == "union_tag_not_found":
            kind = kindtag.kind if kindtag else "component"
            names = registry.names(kind) + (["sequential"] if kind == "block" else [])
            problems.append(RecipeError(f"missing 'type': which {kind}?", key=path,
                                        hint=did_you_mean("", names)))
        elif etype == "extra_forbidden":
            _, parent, _ = _describe(loc[:-1], model, raw)
            known = list(parent.model_fields) if parent is not None else []
            problems.append(RecipeError(f"unknown key {path[-1]!r}", key=path,
                                        hint=did_you_mean(str(path[-1]), known) if known else None))
        elif etype == "missing" and isinstance(path[-1], int):
            problems.append(RecipeError(f"too few items (item {path[-1]} is missing)", key=path[:-1]))
        elif etype == "missing":
            problems.append(RecipeError("required key is missing", key=path))
        elif etype in ("model_type", "dict_type") and isinstance(value, (list, str, int, float, bool)):
            problems.append(RecipeError(f"expected a table, got {_short(value)}", key=path))
        else:
            msg = err["msg"]
            msg = msg[0].lower() + msg[1:] if msg else msg
            problems.append(RecipeError(f"expected: {msg.replace('input should be', '').strip()}; got {_short(value)}"
                                        if msg.startswith("input should be") else f"{msg}; got {_short(value)}",
                                        key=path))
    return problems


def validate_recipe(raw: dict[str, Any], *, file: str | None = None, registry: Registry | None = None):
    """Validate a raw recipe dict; raise one :class:`RecipeError` listing every problem."""
    registry = registry or default_registry()
    check_values(raw, file=file)
    raw = expand_like(raw, file)
    model = recipe_model(registry, used_types(raw))  # unions of the components it names: no model for the rest
    try:
        recipe = model.model_validate(raw)
    except ValidationError as exc:
        problems = errors_from_validation(exc, model, raw, registry)
        if len(problems) == 1:
            raise problems[0].with_file(file) from None
        raise RecipeError("invalid recipe", file=file, problems=problems).with_file(file) from None
    from gancompose.recipe.checks import check_compatibility, check_references
    check_references(recipe, file=file)
    check_compatibility(recipe, registry, file=file)
    return recipe


def load_recipe(path: str | Path, overrides: Sequence[str] = (), *, registry: Registry | None = None):
    """Read, merge, override and validate a recipe file, or a shipped recipe by name (``vanilla_gan_ring``:
    gancompose/recipe/shipped.py). The run name defaults to the file's stem."""
    from gancompose.recipe.shipped import resolve
    path = resolve(path, registry)
    raw = load_raw(path)
    raw = apply_overrides(raw, overrides)
    raw.setdefault("name", path.stem)
    try:
        recipe = validate_recipe(raw, file=str(path), registry=registry)
    except RecipeError as exc:
        raise exc.with_file(str(path)) from None
    recipe._source = str(path)
    return recipe
