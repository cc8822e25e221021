"""LazyRegex: compiled at first use, then the compiled pattern's own methods; pickled as its source."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.plumbing.lazyre import LazyRegex
from playbooks.patterns import PatternTable


def test_it_compiles_at_first_use_and_then_calls_the_compiled_methods() -> None:
    lazy = LazyRegex(r"timeout after (\d+)s", re.I)
    with pytest.raises(AttributeError):
        object.__getattribute__(lazy, "search")  # nothing compiled yet
    assert lazy.search("Timeout after 30s")[1] == "30"  # type: ignore[index]
    compiled = re.compile(r"timeout after (\d+)s", re.I)
    assert lazy.search.__self__ == compiled  # type: ignore[attr-defined]
    assert lazy.sub("x", "timeout after 1s!") == "x!"
    assert [m[1] for m in lazy.finditer("timeout after 1s, TIMEOUT AFTER 2s")] == ["1", "2"]


def test_a_bad_regex_fails_at_first_use_or_up_front_when_asked() -> None:
    lazy = LazyRegex("(unclosed")
    with pytest.raises(re.error):
        lazy.search("x")
    with pytest.raises(re.error):
        LazyRegex.compiled("(unclosed")


def test_it_pickles_as_its_source_and_compiles_again_only_where_used() -> None:
    lazy = LazyRegex.compiled(r"OOMKilled", re.I)
    back = pickle.loads(pickle.dumps(lazy))
    assert back == lazy and back.pattern == "OOMKilled" and back.flags == re.I
    with pytest.raises(AttributeError):
        object.__getattribute__(back, "search")
    assert back.match("oomkilled")


def test_unknown_attributes_are_still_errors() -> None:
    with pytest.raises(AttributeError):
        LazyRegex("x").groups  # noqa: B018


@given(st.text(alphabet="ab(|)*?+.^$\\ ", max_size=12), st.text(alphabet="ab ", max_size=20))
def test_it_finds_what_re_finds(pattern: str, text: str) -> None:
    try:
        expected = re.compile(pattern, re.I)
    except re.error:
        with pytest.raises(re.error):
            LazyRegex(pattern, re.I).search(text)
        return
    lazy = LazyRegex(pattern, re.I)
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in expected.finditer(text)]
    assert lazy.sub("-", text) == expected.sub("-", text)


def test_a_table_through_pickle_classifies_as_the_table_it_came_from() -> None:
    table = PatternTable.load()
    back = pickle.loads(pickle.dumps(table))
    lines = ["java.lang.OutOfMemoryError: Java heap space", "dial tcp 10.0.0.1:5432: connect: connection refused",
             "all good", "error: context deadline exceeded", "panic: runtime error: invalid memory address"]
    assert [p.id if p else None for p in back.classify_many(lines)] == \
        [p.id if p else None for p in table.classify_many(lines)]


def test_every_redaction_rule_and_check_compiles() -> None:
    # compiled at first use now: a typo in a rule would otherwise wait for the first line that triggers it
    from bot import redact

    for rule in redact._RULES:
        rule.regex.search("")  # compiles (raises re.error if it does not)
        assert isinstance(rule.regex.search.__self__, re.Pattern)  # type: ignore[attr-defined]
    for _bits, check in redact._ANCHORS.values():
        if check is not None:
            check.match("", 0)
            assert isinstance(check.match.__self__, re.Pattern)  # type: ignore[attr-defined]
