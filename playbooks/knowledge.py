"""Knowledge files (the bug-pattern table, the checklists): YAML read and validated row by row.

One reader for both, so that a bad file says the same kind of thing whichever it is: the file, the
row (and its id or key), the field and the problem, as one line (`PatternFileError`), at start-up.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bot.errors import PatternFileError
from bot.plumbing.yamlio import load_yaml

M = TypeVar("M", bound=BaseModel)


def read_yaml_file(path: Path) -> Any:
    """The parsed YAML of a knowledge file; any problem is one line naming the file (and the line)."""
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PatternFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PatternFileError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PatternFileError(f"{path}: not valid YAML{line}: {problem}") from None


def validate_row(model: type[M], raw: Any, *, path: Path, label: str) -> M:
    """One row as `model`, or a PatternFileError naming the file, the row and the field."""
    if not isinstance(raw, dict):
        raise PatternFileError(f"{path}: {label}: must be a mapping of fields")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise PatternFileError(f"{path}: {label}: {describe(exc, model)}") from None


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """`field 'severity': Input should be 'critical', ...` for the first error (and how many more)."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    fld = loc[0] if loc else "row"
    detail = f"[{']['.join(loc[1:])}]" if len(loc) > 1 else ""
    msg = re.sub(r"^Value error, ", "", err["msg"])
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = f"unknown field (known: {', '.join(model.model_fields)})"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"field {fld!r}{detail}: {msg}{more}"
