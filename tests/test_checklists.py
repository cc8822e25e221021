"""Checklist files: validated at load, a bad one is one line naming the file, the row and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import PatternFileError
from playbooks.checklists import ChecklistCatalogue


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("debug:\n  - key: Bad Key\n    text: x\n",
         r"extra\.yaml: debug\[0\] \(key 'Bad Key'\): field 'key': String should match"),
        ("debug:\n  - key: ok\n    text: x\n    auto: nope\n", r"debug\[0\] \(key 'ok'\): field 'auto'"),
        ("debug:\n  - key: ok\n    text: x\n    colour: red\n", r"field 'colour': unknown field"),
        ("debug: [1]\n", r"debug\[0\] \(key '\?'\): must be a mapping of fields"),
        ("debug: {}\n", r"debug: must be a list of items"),
        ("- a\n", r"must map playbook names to lists of items"),
        ("debug: [\n", r"not valid YAML \(line \d+\)"),
        ("debug:\n  - key: a\n    text: x\n  - key: a\n    text: y\n", r"duplicate key 'a'"),
    ],
)
def test_a_bad_checklist_file_names_the_file_the_row_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(text)
    with pytest.raises(PatternFileError, match=message):
        ChecklistCatalogue.load(path)


def test_an_extra_file_replaces_a_list_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text("debug:\n  - key: only\n    text: The only item\n")
    catalogue = ChecklistCatalogue.load(path)
    assert [t.key for t in catalogue.lists["debug"]] == ["only"]
    assert catalogue.lists["verify"] == ChecklistCatalogue.default().lists["verify"]
