"""Checklist templates (YAML), validated at load. The bot's own checks tick items with evidence."""

import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import PatternFileError
from bot.models import ChecklistItem
from playbooks.knowledge import read_yaml_file, validate_row

AutoCheck = Literal[
    "pods", "app-logs", "sidecar-logs", "events", "pattern", "ci", "rollout", "restarts", "commit", "trace",
    "error-rate",
]
DEFAULT_FILE = Path(__file__).with_name("checklists.yaml")


class ChecklistTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    key: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    text: str = Field(min_length=1, max_length=75)  # a Slack checkbox option holds 75 characters
    auto: AutoCheck | None = None


class ChecklistCatalogue(BaseModel):
    lists: dict[str, list[ChecklistTemplate]]

    @field_validator("lists")
    @classmethod
    def _unique_keys(cls, value: dict[str, list[ChecklistTemplate]]) -> dict[str, list[ChecklistTemplate]]:
        for name, items in value.items():
            seen: set[str] = set()
            for item in items:
                if item.key in seen:
                    raise ValueError(f"list {name!r}: duplicate key {item.key!r}")
                seen.add(item.key)
        return value

    @classmethod
    def load(cls, *paths: Path | str) -> "ChecklistCatalogue":
        """The packaged lists, then each extra file's lists (a list of the same name replaces it)."""
        lists: dict[str, list[ChecklistTemplate]] = {}
        for path in (DEFAULT_FILE, *map(Path, paths)):
            lists.update(_read(path))
        return cls(lists=lists)

    @classmethod
    def default(cls) -> "ChecklistCatalogue":
        return _default()

    def items(self, playbook: str, evidence: dict[str, str]) -> list[ChecklistItem]:
        """Fresh items for a playbook; those whose auto check produced evidence are ticked by opsbot."""
        out = []
        for tpl in self.lists.get(playbook, []):
            proof = evidence.get(tpl.auto) if tpl.auto else None
            out.append(
                ChecklistItem(key=tpl.key, text=tpl.text, done=proof is not None, evidence=proof,
                              by="opsbot" if proof is not None else None)
            )
        return out


def _key(row: object) -> object:
    return row.get("key", "?") if isinstance(row, dict) else "?"


@cache
def _default() -> ChecklistCatalogue:
    return ChecklistCatalogue.load()


def _read(path: Path) -> dict[str, list[ChecklistTemplate]]:
    data = read_yaml_file(path)
    if not isinstance(data, dict):
        raise PatternFileError(f"{path}: must map playbook names to lists of items")
    out: dict[str, list[ChecklistTemplate]] = {}
    for name, rows in data.items():
        if not isinstance(rows, list):
            raise PatternFileError(f"{path}: {name}: must be a list of items")
        out[name] = [
            validate_row(ChecklistTemplate, row, path=path, label=f"{name}[{index}] (key {_key(row)!r})")
            for index, row in enumerate(rows)
        ]
    try:
        ChecklistCatalogue(lists=out)
    except ValidationError as exc:
        msg = re.sub(r"^Value error, ", "", exc.errors()[0]["msg"])
        raise PatternFileError(f"{path}: {msg}") from None
    return out
