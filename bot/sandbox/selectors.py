"""Label and field selectors as the API server parses them (`app=x,tier!=db`, `metadata.name=x`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_SET_EXPR = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


Matcher = Callable[[Callable[[str], str | None]], bool]


def parse_selector(text: str, *, field: bool = False) -> list[Matcher]:
    """Label selectors (`a=b,c!=d,k in (x,y),k notin (z),k,!k`) and field selectors (`a=b,c!=d`).
    Each matcher takes a lookup function key -> value (None when absent). ValueError when malformed."""
    matchers: list[Matcher] = []
    for part in _split_selector(text):
        set_match = _SET_EXPR.match(part)
        if set_match and not field:
            key, op, raw = set_match.groups()
            values = {v.strip() for v in raw.split(",") if v.strip()}
            if op == "in":
                matchers.append(lambda get, k=key, vs=values: get(k) in vs)  # type: ignore[misc]
            else:
                matchers.append(lambda get, k=key, vs=values: get(k) not in vs)  # type: ignore[misc]
            continue
        eq = re.fullmatch(r"([\w./-]+)\s*(==|!=|=)\s*([\w./:-]*)", part)
        if eq:
            key, op, value = eq.groups()
            if op == "!=":
                matchers.append(lambda get, k=key, v=value: (get(k) or "") != v if field else get(k) != v)  # type: ignore[misc]
            else:
                matchers.append(lambda get, k=key, v=value: (get(k) or "") == v if field else get(k) == v)  # type: ignore[misc]
            continue
        exists = re.fullmatch(r"(!?)([\w./-]+)", part)
        if exists and not field:
            negate, key = exists.groups()
            matchers.append(lambda get, k=key, n=bool(negate): (get(k) is None) == n)  # type: ignore[misc]
            continue
        raise ValueError(f"unable to parse requirement: {part!r}")
    return matchers


def field_lookup(obj: dict[str, Any]) -> Callable[[str], str | None]:
    def get(path: str) -> str | None:
        value: Any = obj
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return None if value is None else str(value)

    return get
