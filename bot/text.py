"""Wording shared by the renderers and the playbooks' evidence lines."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 pod`, `3 pods` (`many` for irregular plurals)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"
