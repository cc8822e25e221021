"""YAML reading for knowledge and config files: libyaml's C loader when present (5-10x faster than
the pure-Python one, which matters at every start of the CLI), safe in both cases."""

from __future__ import annotations

from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)
