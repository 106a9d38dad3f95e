"""Shared by the Loki and Tempo config tests: strict YAML loading, key-path flattening, ``-config.expand-env``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type stubs here
    """Refuses a key set twice in one mapping, as Loki's and Tempo's strict Go decoding does (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return dict(super().construct_mapping(node, deep))


def load(text: str) -> dict[str, Any]:
    loaded = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    assert isinstance(loaded, dict), "expected a YAML mapping"
    return loaded


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted key paths; list items that are mappings continue under ``key[]``, scalar lists end at the key."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= key_paths(child, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, f"{prefix}[]")
    return paths


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key path, scalar value) for every leaf, paths spelled as ``key_paths`` spells them."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, prefix + "[]")
    else:
        yield prefix, value


def accepted_keys(path: Path) -> tuple[list[str], set[str]]:
    """An accepted-keys.txt: its ``#`` header lines and its key paths."""
    lines = path.read_text().splitlines()
    return [line for line in lines if line.startswith("#")], {
        line.strip() for line in lines if line.strip() and not line.startswith("#")
    }


def variables(raw: str) -> list[tuple[str, str | None]]:
    """Each ``${NAME}`` or ``${NAME:-default}`` in a config file, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"\$\{([^}:]*)(?::-([^}]*))?\}", raw)]


def expand(text: str, env: dict[str, str]) -> str:
    """What ``-config.expand-env`` does for the ``${VAR:-default}`` and ``${VAR}`` forms used here."""
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
        lambda m: env.get(m.group(1)) or (m.group(2) or ""),
        text,
    )


def dig(config: dict[str, Any], path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        assert isinstance(value, dict) and part in value, f"{path} is not set"
        value = value[part]
    return value
