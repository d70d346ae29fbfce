"""User-facing errors: one exception type carries everything the CLI needs for one clear message.

Anything that is *not* a :class:`GancomposeError` is a bug and may show a traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class GancomposeError(Exception):
    """An error caused by the user's input (a recipe, a checkpoint, a path, a plugin)."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  {self.hint}"


def format_key_path(loc: Sequence[str | int]) -> str:
    """``("generator", "layers", 3, "out_channels")`` -> ``generator.layers[3].out_channels``; a key that is not
    a bare TOML key is quoted as TOML writes it (``train."lr "``, ``train.""``)."""
    import json
    import re
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if not re.fullmatch(r"[A-Za-z0-9_-]+", text) and not text.startswith("--"):
                text = json.dumps(text, ensure_ascii=False)[:80]
            out += ("." if out else "") + text
    return out or "<top level>"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choices, then every choice."""
    choices = sorted(set(choices))
    if not choices:
        return "nothing of this kind is registered"
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    listing = ", ".join(choices)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}? (available: {listing})"
    return f"available: {listing}"


class RecipeError(GancomposeError):
    """A recipe is not valid. Carries the file, the TOML key path, what was expected and a hint."""

    def __init__(self, message: str, *, file: str | None = None, key: Sequence[str | int] | str | None = None,
                 hint: str | None = None, problems: list["RecipeError"] | None = None, absolute: bool = False):
        self.file = file
        self.absolute = absolute  # the key path is from the recipe's top, not from the raising component
        self.loc: list[str | int] | None = [key] if isinstance(key, str) else (list(key) if key is not None else None)
        self.problems = problems or []
        super().__init__(message, hint=hint)

    @property
    def key(self) -> str | None:
        return None if self.loc is None else format_key_path(self.loc)

    def under(self, prefix: Sequence[str | int]) -> "RecipeError":
        """The same error, its key path placed under ``prefix`` (where a component sits in the recipe)."""
        if not self.absolute:
            self.loc = [*prefix, *(self.loc or [])]
        for p in self.problems:
            p.under(prefix)
        return self

    def with_file(self, file: str | None) -> "RecipeError":
        if file and not self.file:
            self.file = file
            for p in self.problems:
                p.with_file(file)
        return self

    def __str__(self) -> str:
        if self.problems:
            head = f"{self.file}: " if self.file else ""
            lines = [f"{head}{len(self.problems)} problems in the recipe:"]
            lines += ["  - " + p._one(with_file=False).replace("\n", "\n    ") for p in self.problems]
            return "\n".join(lines)
        return self._one(with_file=True)

    def _one(self, with_file: bool) -> str:
        where = ""
        if with_file and self.file:
            where = f"{self.file}: "
        if self.key:
            where += f"{self.key}: "
        text = where + self.message
        if self.hint:
            text += f"\n  {self.hint}"
        return text


class CheckpointError(GancomposeError):
    """A checkpoint cannot be read or does not fit what it is loaded into."""


class PluginError(GancomposeError):
    """Plugins conflict or are malformed."""


class DataError(GancomposeError):
    """Data files are missing or unreadable; the message says how to fetch or prepare them."""
