"""Reading log lines: what `parse_log` makes of any text, and masking as it was, faster.

`parse_log` (generated logs): a kubelet's RFC3339Nano stamp (a fraction of 0 to 9 digits, trailing
zeros cut) gives its time to the microsecond and the rest of the line; a stamp shaped like a time but
not one (month 13, day 32, hour 24, year 0000) leaves the line whole; CR line ends and blank lines are
dropped. Whatever replaces the parse (a lazy one, a C one) must keep these.

`mask` skips the klog search where no header is, the masks that need a digit where none is, and keeps
the masks of repeated texts: checked against the code it replaced (copied here as it was) on
generated text, on every real error excerpt, and on every error event of every sandbox scenario."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.k8s.snapshots import parse_log
from bot.sandbox.scenario import load_scenario, scenario_names
from bot.sandbox.world import World
from playbooks import signatures as sig
from playbooks.signatures import find_events, mask, message_of

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def kubelet_stamp(at: datetime, digits: int) -> str:
    """RFC3339Nano as the kubelet writes it: a fraction of up to 9 digits, trailing zeros cut."""
    fraction = f"{at.microsecond:06d}{at.microsecond % 1000:03d}"[:digits].rstrip("0")
    return f"{at.year:04d}-" + at.strftime("%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def truncated(at: datetime, digits: int) -> datetime:
    """The time a stamp of `digits` fraction digits gives: to the microsecond, no rounding."""
    keep = min(digits, 6)
    return at.replace(microsecond=at.microsecond // 10 ** (6 - keep) * 10 ** (6 - keep), tzinfo=UTC)


times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
bodies = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=30)  # a lone CR below


@SETTINGS
@given(st.lists(st.tuples(times, st.integers(0, 9), bodies, st.sampled_from(["\n", "\r\n", "\r\r\n", "\n\n"]),
                          st.booleans()), max_size=25))
def test_a_kubelet_stamp_gives_its_time_and_the_rest_of_the_line(
        lines: list[tuple[datetime, int, str, str, bool]]) -> None:
    text = "".join(kubelet_stamp(at, digits) + " " + ("\r" + body if cr else body) + end
                   for at, digits, body, end, cr in lines)
    want = [(truncated(at, digits), ("\r" + body).rstrip("\r") if cr else body) for at, digits, body, _end, cr in lines]
    got = parse_log(text)
    assert [(line.ts, line.text) for line in got] == want
    assert all(line.ts is not None and line.ts.utcoffset() is not None and not line.ts.utcoffset() for line in got)


not_times = st.builds(
    lambda y, mo, d, h, mi, s, f: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{f}Z",
    st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99),
    st.integers(0, 99), st.sampled_from(["", ".5", ".123456789"]),
).filter(lambda stamp: not _is_time(stamp))


def _is_time(stamp: str) -> bool:
    try:
        datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True


@SETTINGS
@given(not_times, bodies, st.sampled_from(["\n", "\r\n", "\r\r\n"]))
def test_a_stamp_shaped_like_a_time_but_not_one_leaves_the_line_whole(stamp: str, body: str, end: str) -> None:
    good = "2026-01-01T10:00:00.5Z fine\n"
    lines = parse_log(good + stamp + " " + body + end + good)
    assert [(line.ts, line.text) for line in lines] == [
        (datetime(2026, 1, 1, 10, 0, 0, 500000, tzinfo=UTC), "fine"), (None, f"{stamp} {body}"),
        (datetime(2026, 1, 1, 10, 0, 0, 500000, tzinfo=UTC), "fine")]


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



def test_every_error_event_of_every_sandbox_scenario_has_the_signature_it_had() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for name in [*scenario_names(), *map(str, sorted((ROOT / "tests" / "scenarios").glob("*.yaml")))]:
        for containers in World(load_scenario(name, now=now)).containers.values():
            for container in containers.values():
                for log in (container.log, container.previous):
                    if log is not None:
                        text = log.text(tail=None, since=None, timestamps=True, limit_bytes=None)
                        events += find_events([line.text for line in parse_log(text)])
    assert len(events) > 20
    for event in events:
        assert event.signature == old_mask(event.head) + (f" @ {event.frame}" if event.frame else "")
