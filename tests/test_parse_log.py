"""The fast ways of reading log lines give exactly what the plain ways gave.

`parse_log` splits, cuts, times and builds a log's lines in C loops when every stamp has the
kubelet's shape; `pack_stamps` converts every time in C loops; `mask` skips the klog search where no
header is, the masks that need a digit where none is, and keeps the masks of repeated texts. Each is
checked against the code it replaced (copied here as it was) on generated text: RFC3339 stamps with
and without a fraction of any length, offsets, bad months, days, hours and leap days, year 0000,
what `datetime.fromisoformat` accepts beyond RFC3339 (week dates, basic format, commas), no stamp,
CR line ends; and on every log of every sandbox scenario."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.k8s.snapshots import _TIMESTAMP, _timestamp, parse_log
from bot.models import LogLine
from bot.sandbox.scenario import load_scenario, scenario_names
from bot.sandbox.world import World
from playbooks import signatures as sig
from playbooks.logreduce import EPOCH, NO_TIME, pack_stamps, stamps_of
from playbooks.signatures import mask, message_of

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def eager_parse_log(text: str) -> list[LogLine]:
    """parse_log as it was (main at 7d8daa9): one line at a time."""
    lines: list[LogLine] = []
    for line in text.split("\n") if "\r" not in text else (raw.rstrip("\r") for raw in text.split("\n")):
        if not line:
            continue
        stamp, sep, rest = line.partition(" ")
        ts: datetime | None = None
        if sep and len(stamp) >= 20 and stamp[10] == "T" and stamp[-1] == "Z":
            try:
                ts = datetime.fromisoformat(stamp)
            except ValueError:
                ts = None
        if ts is None:
            match = _TIMESTAMP.fullmatch(stamp) if sep or stamp else None
            try:
                ts = _timestamp(match) if match else None
            except ValueError:
                ts = None
            if ts is None:
                lines.append(LogLine(None, line))
                continue
        lines.append(LogLine(ts, rest))
    return lines


def exactly(lines: list[LogLine]) -> list[tuple[object, ...]]:
    """What equality of datetimes does not tell apart: the offset (10:00+02:00 == 08:00Z), the type."""
    return [(type(line), line.ts, line.ts.utcoffset() if line.ts else None, line.text) for line in lines]


def kubelet_stamp(at: datetime, digits: int) -> str:
    """RFC3339Nano as the kubelet writes it: a fraction of up to 9 digits, trailing zeros cut."""
    fraction = f"{at.microsecond:06d}{at.microsecond % 1000:03d}"[:digits].rstrip("0")
    return f"{at.year:04d}-" + at.strftime("%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
valid_stamps = st.builds(kubelet_stamp, times, st.integers(0, 9))
odd_stamps = st.one_of(
    # any digits in every field: months 13, days 31 of February, hours 24, seconds 60, year 0000
    st.builds(lambda y, mo, d, h, mi, s, f, z: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{f}{z}",
              st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99),
              st.integers(0, 99), st.integers(0, 99),
              st.sampled_from(["", ".5", ".123456", ".1234567891", ",5", ".", ".x"]),
              st.sampled_from(["Z", "z", "+02:00", "-0530", "+00:00", "", "+2", "Z+01:00"])),
    st.builds(kubelet_stamp, times, st.integers(10, 12)),  # longer fractions than the kubelet writes
    st.sampled_from([
        "2024-02-29T10:00:00Z", "2023-02-29T10:00:00Z", "2100-02-29T10:00:00Z", "2000-02-29T10:00:00Z",
        "2026-W48-7T08:07:23Z", "20261129T080723.5Z", "2026-11-29T080723.123Z", "2026-11-29T08:07Z",
        "2026-11-29x08:07:23Z", "2026-11-29T08:07:23.5+02:00Z", "２０２６-11-29T08:07:23Z", "2026-11-29T08:07:23",
        "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-11-29", "-", "",
    ]),
)
texts = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=30)  # a lone CR included
separators = st.sampled_from([" ", " ", " ", "", "  ", "\t"])
line_ends = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r\r\n", "\n\n"])


@st.composite
def logs(draw: st.DrawFn, stamps: st.SearchStrategy[str]) -> str:
    lines = draw(st.lists(st.tuples(stamps, separators, texts, line_ends), max_size=25))
    text = "".join(stamp + sep + body + end for stamp, sep, body, end in lines)
    return text if draw(st.booleans()) else text.rstrip("\n")


@SETTINGS
@given(logs(st.one_of(valid_stamps, odd_stamps, st.just(""))))
def test_parse_log_reads_any_text_as_it_was_read_line_by_line(text: str) -> None:
    assert exactly(parse_log(text)) == exactly(eager_parse_log(text))


@SETTINGS
@given(st.lists(st.tuples(valid_stamps, texts), min_size=1, max_size=40), st.booleans(),
       st.lists(st.tuples(odd_stamps, separators, texts), max_size=2))
def test_a_kubelet_log_takes_the_fast_path_and_one_odd_line_the_slow_one_with_the_same_lines(
        lines: list[tuple[str, str]], crlf: bool, odd: list[tuple[str, str, str]]) -> None:
    end = "\r\n" if crlf else "\n"
    text = "".join(f"{stamp} {body}{end}" for stamp, body in lines)
    assert exactly(parse_log(text)) == exactly(eager_parse_log(text))
    assert all(line.ts is not None for line in parse_log(text))  # every stamp read: the fast path's case
    mixed = text + "".join(stamp + sep + body + end for stamp, sep, body in odd) + text
    assert exactly(parse_log(mixed)) == exactly(eager_parse_log(mixed))


def test_parse_log_of_a_month_13_keeps_the_line_whole_among_good_lines() -> None:
    good = "2026-01-01T10:00:00.5Z fine\n"
    lines = parse_log(good + "2026-13-01T10:00:00Z month 13\n" + good)
    assert [line.text for line in lines] == ["fine", "2026-13-01T10:00:00Z month 13", "fine"]
    assert lines[1].ts is None and lines[0].ts == datetime(2026, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)


def scenario_logs() -> list[str]:
    """Every container log of every sandbox scenario (packaged and tests/scenarios), current and previous,
    as the API serves it with `timestamps=true`."""
    now = datetime.now(UTC).replace(microsecond=0)
    found = []
    for name in [*scenario_names(), *map(str, sorted((ROOT / "tests" / "scenarios").glob("*.yaml")))]:
        world = World(load_scenario(name, now=now))
        for containers in world.containers.values():
            for container in containers.values():
                for log in (container.log, container.previous):
                    if log is not None:
                        found.append(log.text(tail=None, since=None, timestamps=True, limit_bytes=None))
    return found


def test_every_sandbox_scenario_log_is_read_as_before() -> None:
    texts_ = scenario_logs()
    assert len(texts_) > 30 and sum(map(len, texts_)) > 10_000
    for text in texts_:
        for variant in (text, text.replace("\n", "\r\n")):
            assert exactly(parse_log(variant)) == exactly(eager_parse_log(variant))
    assert any(line.ts is not None for text in texts_ for line in parse_log(text))


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                                                   timezones=st.sampled_from([UTC, None]))), max_size=30))
def test_pack_stamps_is_every_line_time_in_microseconds(at: list[datetime | None]) -> None:
    lines = [LogLine(ts if ts is None or ts.tzinfo else ts.replace(tzinfo=UTC) + timedelta(hours=1), "x")
             for ts in at]
    packed = pack_stamps(lines)
    want = [NO_TIME if line.ts is None else (line.ts - EPOCH) // timedelta(microseconds=1) for line in lines]
    from bot.models import LogSnapshot
    assert list(stamps_of(LogSnapshot(pod="p", container="c", stamps=packed))) == want


def old_message_of(line: str) -> str:
    """message_of as it was: the klog header searched at every place of every line."""
    stripped = line.strip()
    if stripped.startswith("{"):
        parts = [m.group(1) for m in sig._JSON_MESSAGE.finditer(stripped)]
        if parts:
            return ": ".join(dict.fromkeys(parts))
    if "msg=" in stripped or "message=" in stripped:
        msg = sig._LOGFMT_MESSAGE.search(stripped)
        if msg:
            err = sig._LOGFMT_ERROR.search(stripped)
            text = msg.group(1) or msg.group(2) or ""
            return f"{text}: {err.group(1) or err.group(2)}" if err else text
    return sig._THREAD_PREFIX.sub("", sig._KLOG.sub("", stripped))


def old_mask(text: str) -> str:
    """mask as it was: every mask whose characters are there, digits or not, nothing kept."""
    text = old_message_of(text)
    text = sig._PREFIX.sub("", text, count=1) or text
    for regex, token, needs, _digit in sig._MASKS:
        if not needs or any(char in text for char in needs):
            text = regex.sub(token, text)
    text = sig._DIGIT_WORD.sub(sig._digit_word, text)
    return sig._SPACES.sub(" ", text).strip()[:300]


PIECES = ["I1129 08:07:23.123456   12345 main.go:42] ", "E0101 00:00:00.1 1 x] ", "kubelet[15169]: ",
          "Apr 04 14:25:13 node-1 ", "2026-11-29T08:07:23Z ", "] ", "[main] ", "ERROR ", "msg=", '{"msg":"',
          '"}', "0x1f2e3d4c5b", "deadbeef-1234-5678-9abc-def012345678", "10.0.0.1:5432", "fe80::1:2:3",
          "dead:beef:cafe:face", "deadbeef-abcd-efab-cdef-abcdefabcdef",  # (no digit: masked all the same)
          "https://x.io/a/b", "a@b.io", "/var/lib/x", "'q'", "30s", "1.5", "٣", "²", "abc", "-", " ", "\t",
          'Exception in thread "main" ', "java.lang.IllegalStateException: ", "job42", "web-1"]


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=12))
def test_mask_and_message_of_give_what_they_gave(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert message_of(text) == old_message_of(text)
    assert mask(text) == old_mask(text) == mask(text)  # the second: kept from the first


def test_mask_of_every_real_error_line_is_as_before() -> None:
    corpus = [json.loads(line)["text"] for line in (ROOT / "tests/data/real_errors.jsonl").read_text().splitlines()
              if line.strip()]
    lines = [line for text in corpus for line in text.splitlines()]
    assert len(lines) > 1000
    sig._masked.cache_clear()
    assert [mask(line) for line in lines] == [old_mask(line) for line in lines]
    long = "x" * 2000 + " 10.0.0.1 "  # past what is kept: masked each time, the same
    assert mask(long) == old_mask(long)


@SETTINGS
@given(st.lists(st.one_of(st.integers(-10 ** 11, -1), st.integers(-10 ** 11, 10 ** 11), st.none(),
                          st.integers(-5000, 0).map(lambda s: s * 1_000_000)), min_size=1, max_size=40),
       st.booleans())
def test_a_recorded_log_is_the_offset_of_every_line_as_before(deltas: list[int | None], before: bool) -> None:
    """`recorded` takes C loops when every line is stamped before the capture and off a whole second (a
    kubelet's log): the same text as `offset` a line (a line without a time: the last offset again)."""
    from bot.capture.scenario import recorded
    from bot.models import LogSnapshot
    from bot.redact import redact_lines
    from bot.sandbox.clock import offset

    if before:  # the common case, every line before the capture and off a whole second: the C loops
        deltas = [-(abs(d or 1) | 1) for d in deltas]
    at = datetime(2026, 11, 29, 4, 0, 0, 250_000, tzinfo=UTC)
    lines = [LogLine(None if d is None else at + timedelta(microseconds=d), f"line {i} token=hunter2")
             for i, d in enumerate(deltas)]
    texts_ = redact_lines(line.text for line in lines)
    base = round(at.timestamp() * 1_000_000)
    want, last = [], "now"
    for line, text in zip(lines, texts_, strict=True):
        if line.ts is not None:
            last = offset(round(line.ts.timestamp() * 1_000_000) - base)
        want.append(f"{last} {text}")
    assert recorded(LogSnapshot(pod="p", container="c", lines=lines), at) == "\n".join(want) + "\n"
