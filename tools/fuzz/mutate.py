"""Structure-aware mutation of JSON-like trees, for the custom mutators of the harnesses.

libFuzzer's byte mutations almost never keep JSON valid, so most of its inputs
would only test the JSON parser. These mutations keep the document a document
and change what the readers look at: a value's type, a number to an edge value,
a key dropped or renamed, a list entry duplicated, removed or swapped. Strings
still go through libFuzzer's own byte mutator (atheris.Mutate), so
coverage guidance still steers them."""

from __future__ import annotations

import copy
import random
from typing import Any

import atheris

EDGE_NUMBERS = [0, 1, -1, 2, 3, 7, 64, 255, 256, 65535, 2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**53,
                2**63 - 1, 2**63, 2**64, -(2**31), -(2**63), 10**12, 0.5, -0.0, 1e308, float("inf"),
                float("nan")]
EDGE_VALUES: list[Any] = [None, True, False, "", "same", "valid", "channels_first", "linear", "relu", [], {},
                          [0], [None], [1, 1], [2**32, 2**32], {"class_name": "Dense", "config": {}}]


def _edge(rng: random.Random, numbers: bool = True) -> Any:
    """An edge value, copied: the tables' lists and dicts must never end up shared by
    two places of a tree (a later append could then make it contain itself)."""
    return copy.deepcopy(rng.choice(EDGE_VALUES + EDGE_NUMBERS if numbers else EDGE_VALUES))


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every location in the tree (the root is ())."""
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, path + (i,))
    return out


def _get(tree: Any, path: tuple) -> Any:
    for p in path:
        tree = tree[p]
    return tree


def _mutate_str(s: str, rng: random.Random) -> str:
    raw = atheris.Mutate(s.encode("utf-8", "surrogatepass"), max(8, 2 * len(s) + 8))
    return raw.decode("utf-8", "replace")


def _mutate_value(v: Any, rng: random.Random, pool: list[Any]) -> Any:
    r = rng.random()
    if isinstance(v, bool) or v is None:
        return _edge(rng, numbers=False) if r < 0.5 else (not v if isinstance(v, bool) else rng.choice(EDGE_NUMBERS))
    if isinstance(v, (int, float)):
        if r < 0.4:
            return rng.choice(EDGE_NUMBERS)
        if r < 0.7 and isinstance(v, int):
            return v + rng.choice([-64, -2, -1, 1, 2, 64])
        if r < 0.8:
            return str(v)
        return -v if r < 0.9 else v * rng.choice([2, 1024, 2**20])
    if isinstance(v, str):
        if r < 0.5:
            return _mutate_str(v, rng)
        if r < 0.7 and pool:
            return rng.choice(pool)  # another string of the same document: a name of another layer/tensor
        return _edge(rng)
    return _edge(rng)


def _strings(tree: Any) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, dict):
        return [s for k, v in tree.items() for s in [k, *_strings(v)]]
    if isinstance(tree, list):
        return [s for v in tree for s in _strings(v)]
    return []


def mutate_tree(tree: Any, rng: random.Random, rounds: int = 0) -> Any:
    """A mutated copy of `tree` (1 to 3 changes)."""
    tree = copy.deepcopy(tree)
    pool = _strings(tree)
    for _ in range(rounds or rng.randint(1, 3)):
        paths = _paths(tree)
        path = rng.choice(paths)
        if not path:
            continue
        parent, key = _get(tree, path[:-1]), path[-1]
        value = parent[key]
        op = rng.random()
        if op < 0.15:  # drop it
            del parent[key]
        elif op < 0.25 and isinstance(parent, dict):  # rename the key
            parent[_mutate_str(str(key), rng) if rng.random() < 0.5 else rng.choice(pool or ["x"])] = parent.pop(key)
        elif op < 0.35 and isinstance(parent, list):  # duplicate or swap entries
            if rng.random() < 0.5 or len(parent) < 2:
                parent.insert(key, copy.deepcopy(value))
            else:
                j = rng.randrange(len(parent))
                parent[key], parent[j] = parent[j], parent[key]
        elif op < 0.45 and isinstance(value, (dict, list)) and rng.random() < 0.5:
            other = _get(tree, rng.choice(paths))  # graft another subtree here
            parent[key] = copy.deepcopy(other) if other is not tree else {}
        elif isinstance(value, (dict, list)):
            parent[key] = _edge(rng) if rng.random() < 0.3 else value
            if isinstance(value, list) and value and rng.random() < 0.5:
                value.append(copy.deepcopy(rng.choice(value)))
        else:
            parent[key] = _mutate_value(value, rng, pool)
    return tree
