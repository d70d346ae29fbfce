"""Fuzzed recipes through ``gancompose validate`` (issue 22): never a traceback, and every refusal names a key
path or a TOML line. Seeded and deterministic: 2,000 mutations of the recipes in recipes/ (structural: drop,
duplicate, rename keys, swap types, huge / negative / inf / NaN numbers, deep nesting, long strings, bad
``extends``; textual: truncate, flip bytes, insert junk), in-process through click's CliRunner.

The 2-D recipes (small MLPs, a dry forward pass of a few milliseconds) take the structural mutations; every recipe
takes textual ones, and a textual mutation of an image recipe that still parses is left out (building its networks
would only cost time).

Then hypothesis (issue 11): 1 to 3 mutations of the ring recipe (a value of the wrong type, NaN/Inf, sizes of
±10¹² and more, a deleted key, an unknown key or type, a bad ``extends``) through ``validate`` and through ``run
--max-steps 1``, and non-UTF-8 bytes: a run or one ``error:`` message, never a traceback. Bounded here;
``GANCOMPOSE_SOAK=1 pytest -m soak tests/test_fuzz_recipes.py`` runs the soak (2,000 + 200 examples)."""
from __future__ import annotations

import copy
import math
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from conftest import ROOT, clean_exit, invoke, soak, tiny_ring_raw, write_recipe
from gancompose.cli import cli

CASES = 2000
SEED = 22
SMALL = ["vanilla_gan_ring", "wgangp_ring", "vanilla_gan_grid25", "nsgan_r1_grid25", "pacgan4_r1_ring",
         "wgangp_grid25"]
ALL = sorted(p.stem for p in (ROOT / "recipes").glob("*.toml"))

KEY_PATH = re.compile(r"(?:^|: |- )(?:[\w-]+|--set|\"[^\"]*\")(?:\.(?:[\w-]+|\"[^\"]*\"?)|\[\d+\])*: ")
TOML_LINE = re.compile(r"line \d+")


def _paths(obj, prefix=()):
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _parent(obj, path):
    for part in path[:-1]:
        obj = obj[part]
    return obj


def _value(rng: random.Random, folder):
    return rng.choice([
        lambda: rng.choice([0, -1, 1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 30, -(10 ** 12), 10 ** 12]),
        lambda: rng.choice([float("inf"), float("-inf"), float("nan"), 1e308, -1e-308, 0.0, 1e12, -3.5]),
        lambda: rng.choice([True, False]),
        lambda: rng.choice(["", "x" * rng.choice([10, 300, 5000]), "mlp", "adam", "bce", "no_such", "latent", "data",
                            "ring", "../" * 20, "\u00e9\u4e2d\U0001f600", "a.b[3]"]),
        lambda: [rng.randint(-5, 300) for _ in range(rng.randint(0, 4))],
        lambda: {"type": rng.choice(["mlp", "adam", "nope", "sequential", "linear"]), "x": rng.randint(-3, 3)},
        lambda: _deep(rng.randint(20, 60), rng),
        lambda: [{"type": "linear", "out_features": rng.choice([-1, 0, 3, 10 ** 9])}],
    ])()


def _deep(depth, rng):
    v = rng.choice([1, "x", 0.5])
    for _ in range(depth):
        v = [v] if rng.random() < 0.5 else {"k": v}
    return v


def _bad_extends(rng: random.Random, folder) -> object:
    (folder / "a_folder").mkdir(exist_ok=True)
    (folder / "binary.toml").write_bytes(bytes(range(256)))
    (folder / "self_a.toml").write_text('extends = "self_b.toml"\n')
    (folder / "self_b.toml").write_text('extends = "self_a.toml"\n')
    return rng.choice(["missing.toml", "recipe.toml", "/dev/zero", "/dev/null", "/proc", "a_folder", "binary.toml",
                       "self_a.toml", "", "x" * 300 + ".toml", "../" * 40 + "etc/passwd", "nul\x00.toml", 3, [1],
                       {"a": 1}, True])


def _structural(raw: dict, rng: random.Random, folder) -> dict:
    raw = copy.deepcopy(raw)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(raw)
        if not paths:
            break
        path = rng.choice(paths)
        parent = _parent(raw, path)
        op = rng.choice(["drop", "duplicate", "rename", "set", "set", "set", "nest", "extends", "unknown_key"])
        try:
            if op == "drop":
                del parent[path[-1]]
            elif op == "duplicate" and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[path[-1]]))
            elif op == "duplicate" and isinstance(parent, dict):
                parent[f"{path[-1]}_copy"] = copy.deepcopy(parent[path[-1]])
            elif op == "rename" and isinstance(parent, dict):
                parent[rng.choice(["tpye", "Type", "lr ", "hidden_", "", "networks"])] = parent.pop(path[-1])
            elif op == "nest":
                parent[path[-1]] = _deep(rng.randint(30, 120), rng)
            elif op == "extends":
                raw["extends"] = _bad_extends(rng, folder)
            elif op == "unknown_key":
                tables = [p for p in paths if isinstance(_parent(raw, (*p, None)), dict)]
                target = _parent(raw, (*rng.choice(tables), None)) if tables else raw
                target[rng.choice(["zzz", "type", "like", "every", "extends"])] = _value(rng, folder)
            else:
                parent[path[-1]] = _value(rng, folder)
        except (KeyError, IndexError, TypeError):
            pass
    return raw


JUNK = [b"[[", b"]]", b"= =", b"\x00", b'"""', b"{", b"}", b"\xff\xfe", b"[train]\n", b"\n[train]\nseed = 1\n",
        b"\nx = " + b"[" * 3000 + b"\n", b"\nseed = " + b"9" * 5000 + b"\n", b'\nextends = "/dev/zero"\n',
        b"\n" + b".".join([b"a"] * 500) + b" = 1\n", b"\ninf = nan\n", b"\nlr = inf\n", b"=", b"\\u0000"]


def _textual(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["truncate", "flip", "junk", "junk", "dup_line", "delete_line"])
        pos = rng.randint(0, max(0, len(data) - 1))
        if op == "truncate":
            data = data[:pos]
        elif op == "flip" and data:
            data[pos] ^= 1 << rng.randint(0, 7)
        elif op == "junk":
            data[pos:pos] = rng.choice(JUNK)
        else:
            lines = bytes(data).split(b"\n")
            i = rng.randrange(len(lines))
            if op == "dup_line":
                lines.insert(i, lines[i])
            else:
                del lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def _cases(tmp_path):
    rng = random.Random(SEED)
    texts = {n: (ROOT / "recipes" / f"{n}.toml").read_bytes() for n in ALL}
    raws = {n: tomllib.loads(texts[n].decode()) for n in SMALL}
    made = 0
    while made < CASES:
        folder = tmp_path / f"c{made % 50}"
        folder.mkdir(exist_ok=True)
        path = folder / "recipe.toml"
        if rng.random() < 0.6:
            name = rng.choice(SMALL)
            raw = _structural(raws[name], rng, folder)
            raw.setdefault("train", {}) if isinstance(raw.get("train", {}), dict) else None
            try:
                data = tomli_w.dumps(raw).encode()
            except (TypeError, ValueError, RecursionError):  # not writable as TOML: the writer refuses it
                continue
        else:
            name = rng.choice(ALL)
            data = _textual(texts[name], rng)
            if name not in SMALL:
                try:
                    tomllib.loads(data.decode("utf-8"))
                    continue  # still parses: only building an image recipe's networks would be tested
                except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError, ValueError):
                    pass
        path.write_bytes(data)
        yield made, name, path, data
        made += 1


def test_fuzzed_recipes_never_traceback_and_name_where(tmp_path):
    runner = CliRunner(env={"COLUMNS": "200"})
    outcomes = {"ok": 0, "refused": 0}
    unnamed, crashes = [], []
    t0 = time.monotonic()
    for i, name, path, data in _cases(tmp_path):
        res = runner.invoke(cli, ["validate", str(path)])
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            crashes.append(f"case {i} ({name}): {res.exception!r}\n{data[:300]!r}")
            continue
        if res.exit_code == 0:
            outcomes["ok"] += 1
            continue
        out = res.output
        if res.exit_code != 2 or "Traceback" in out or out.count("error:") != 1:
            crashes.append(f"case {i} ({name}): exit {res.exit_code}\n{out[:500]}")
            continue
        outcomes["refused"] += 1
        message = out.split("error:", 1)[1]
        if not (KEY_PATH.search(message) or TOML_LINE.search(message)):
            unnamed.append(f"case {i} ({name}): {message[:300]}")
    took = time.monotonic() - t0
    print(f"{sum(outcomes.values())} fuzzed recipes in {took:.1f} s: {outcomes}")
    assert not crashes, f"{len(crashes)} tracebacks:\n" + "\n\n".join(crashes[:5])
    assert not unnamed, f"{len(unnamed)} refusals naming no key path or line:\n" + "\n".join(unnamed[:10])
    assert sum(outcomes.values()) == CASES


# ------------------------------------------------- hypothesis: mutations of the ring recipe, validate and run
def _leaf_paths(obj, prefix=()):
    if isinstance(obj, dict):
        out = [prefix] if prefix else []
        for k, v in obj.items():
            out += _leaf_paths(v, (*prefix, k))
        return out
    if isinstance(obj, list):
        out = [prefix]
        for i, v in enumerate(obj):
            out += _leaf_paths(v, (*prefix, i))
        return out
    return [prefix]


def _set(obj, path, value):
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


def _delete(obj, path):
    for part in path[:-1]:
        obj = obj[part]
    del obj[path[-1]]


_sizes = st.one_of(st.integers(-3, 300), st.integers(10 ** 12, 10 ** 15), st.integers(-(10 ** 15), -(10 ** 12)))
_values = st.one_of(
    _sizes, st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=8),
    st.lists(_sizes, max_size=3), st.dictionaries(st.text(max_size=5), _sizes, max_size=2),
    st.sampled_from(["mlp", "sequential", "adam", "bce", "latent", "data", "no_such_thing", "linear"]))
_mutation = st.tuples(st.sampled_from(["set", "delete", "unknown_key", "unknown_type", "extends"]),
                      st.integers(0, 10 ** 6), _values, st.text(min_size=1, max_size=6))


def _mutate(raw: dict, mutations) -> dict:
    raw = copy.deepcopy(raw)
    for kind, pick, value, name in mutations:
        paths = _leaf_paths(raw)
        if not paths:
            break
        path = paths[pick % len(paths)]
        tables = [p for p in paths if isinstance(_get(raw, p), dict)] or [()]
        table = tables[pick % len(tables)]
        if kind == "set":
            _set(raw, path, value)
        elif kind == "delete":
            _delete(raw, path)
        elif kind == "unknown_key":
            _get(raw, table)[name] = value
        elif kind == "unknown_type":
            _get(raw, table)["type"] = name
        else:
            raw["extends"] = name if pick % 3 else "recipe.toml"  # a missing file, or itself
    return raw


def _get(obj, path):
    for part in path:
        obj = obj[part]
    return obj


def _fuzz_validate(mutations):
    with tempfile.TemporaryDirectory() as tmp:
        raw = _mutate(tiny_ring_raw(Path(tmp) / "runs"), mutations)
        path = write_recipe(raw, Path(tmp))
        if path is not None:
            clean_exit(invoke("validate", path))


def _fuzz_run(mutations):
    with tempfile.TemporaryDirectory() as tmp:
        raw = _mutate(tiny_ring_raw(Path(tmp) / "runs"), mutations)
        path = write_recipe(raw, Path(tmp))
        if path is not None:
            clean_exit(invoke("run", path, "--max-steps", 1, "--quiet", "--output-dir", Path(tmp) / "runs"))


FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@settings(max_examples=60, **FUZZ)
@given(st.lists(_mutation, min_size=1, max_size=3))
def test_fuzz_validate_never_tracebacks(mutations):
    _fuzz_validate(mutations)


@settings(max_examples=12, **FUZZ)
@given(st.lists(_mutation, min_size=1, max_size=2))
def test_fuzz_run_one_step_never_tracebacks(mutations):
    _fuzz_run(mutations)


@settings(max_examples=25, **FUZZ)
@given(st.binary(min_size=1, max_size=64))
def test_fuzz_non_utf8_bytes(garbage):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.toml"
        path.write_bytes(b"\xff\xfe" + garbage + tomli_w.dumps(tiny_ring_raw(Path(tmp))).encode())
        result = invoke("validate", path)
        clean_exit(result)
        assert result.exit_code == 2 and "cannot read the recipe" in result.output


@pytest.mark.soak
@soak
@settings(max_examples=2000, **{**FUZZ, "derandomize": False})
@given(st.lists(_mutation, min_size=1, max_size=5))
def test_soak_fuzz_validate(mutations):
    _fuzz_validate(mutations)


@pytest.mark.soak
@soak
@settings(max_examples=200, **{**FUZZ, "derandomize": False})
@given(st.lists(_mutation, min_size=1, max_size=3))
def test_soak_fuzz_run(mutations):
    _fuzz_run(mutations)
