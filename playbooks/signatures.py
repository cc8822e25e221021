"""Error events outside the bug-pattern table: found, folded to a signature, grouped.

The table names what it knows; everything else that a log says at error level must still be seen,
or a service full of errors would look healthy. This module finds the error EVENTS of a log - a
line at error level (JSON or logfmt `level`, `ERROR`/`FATAL`/`CRITICAL`... levels, klog `E`/`F`
lines), or a multi-line event: a Python traceback, a Java/Kotlin stack trace with its `Caused by:`,
a Go panic with its goroutines, a Node/JS error with its `at ...` frames, a .NET exception, a Rust
panic, a kernel or kubelet OOM kill - and folds each to a signature: the message with its variable
parts masked (numbers, ids, hashes, UUIDs, IPs, quoted values, paths, durations), a stack trace
keyed by its exception type and innermost frame. Drain3 then clusters the masked messages of
single-line events, so that what the masks missed (a user name, a table) still groups.

Lines that merely contain a scary word stay silent: `error_count=0`, `errors: []`, `0 failed`, an
INFO line of the `uvicorn.error` logger, a retry that succeeded, a health check answering 200.

Cost: one Aho-Corasick pass over the lower-cased log finds the few lines holding a trigger word;
only those (and the frames that follow them) are looked at in Python.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import ahocorasick  # type: ignore[import-not-found]

from bot.models import Severity
from playbooks import fastscan

# --- what makes a line worth a look ----------------------------------------------------------------

# Strings (case as written) of which an error event's first line holds at least one: level words
# as loggers write them (ERROR, Error, "error" / =error in JSON and logfmt, a lower-case level word
# standing alone), the names of exceptions and panics, OOM kills, and klog's severity letter at the
# start of a line (E0412 ...). Matched case-sensitively on the text as it is: a plain "error" in a key
# or a sentence ("error_count=0", "no error") is not a reason to look at a line.
TRIGGERS = (
    "ERR", "FATAL", "CRIT", "SEVERE", "PANIC", "EMERG", "ALERT",
    "Error", "Fatal", "Critical", "Panic", "Exception", "Throwable", "Failure", "Fault", "Traceback", "Timeout",
    "NotFound", "Greenlet", "Unhandled", "panic", "goroutine ", "fatal error", "runtime error",
    "Out of memory", "out of memory", "oom-kill", "OOMKill", "OutOfMemory", "Killed process",
    '"error"', "'error'", "=error", '"err"', "=err", '"eror"', "=eror", '"fatal"', "=fatal", "=panic", '"crit',
    "=crit", '"alert"', "=alert", '"emerg', "=emerg", '"severe"', "=severe", "level: error", "level: fatal",
    '"level":5', '"level":6', '"level": 5', '"level": 6',
    " error ", " error:", "[error]", "\nerror ", "\nerror:", " fatal ", " fatal:", "[fatal]", "\nfatal",
    " critical ", "[critical]", "\ncritical",
    "\nE0", "\nE1", "\nF0", "\nF1", "]: E0", "]: E1", "]: F0", "]: F1",
)
MAX_FRAMES = 200  # lines a multi-line event may span (a Java trace of a deep framework is long)
LOOKAHEAD = 4  # records of other requests that may come between a log line and the traceback it printed

_ERROR_LEVELS = {"error": Severity.ERROR, "err": Severity.ERROR, "eror": Severity.ERROR, "severe": Severity.ERROR,
                 "fatal": Severity.CRITICAL, "critical": Severity.CRITICAL, "crit": Severity.CRITICAL,
                 "panic": Severity.CRITICAL, "dpanic": Severity.CRITICAL, "alert": Severity.CRITICAL,
                 "emerg": Severity.CRITICAL, "emergency": Severity.CRITICAL, "e": Severity.ERROR,
                 "f": Severity.CRITICAL}
_QUIET_LEVELS = {"info", "information", "informational", "debug", "trace", "warn", "warning", "notice",
                 "verbose", "dbug", "inf", "wrn", "dbg", "i", "d", "w", "v", "t"}

# a level in a JSON line ("level":"error", "severity":"ERROR", "log.level": "error", "@l": "Error")
_JSON_LEVEL = re.compile(
    r'"(?:level|lvl|severity|log\.level|loglevel|levelname|@l|status)"\s*:\s*"(\w+)"', re.IGNORECASE)
_JSON_LEVEL_NUM = re.compile(r'"level"\s*:\s*(\d{2})\b')  # pino/bunyan: 50 error, 60 fatal
_LOGFMT_LEVEL = re.compile(r'(?:^|\s)(?:level|lvl|severity)="?(\w+)"?', re.IGNORECASE)
# a level word near the start of a plain line: `2024-05-01 12:00:00 ERROR ...`, `[ERROR]`, `ERROR:`,
# `E, [2024...] ERROR -- :` (Ruby), `<3>` (syslog priority 3 = err)
_PLAIN_LEVEL = re.compile(
    r"^.{0,120}?(?<![\w.-])\[?(ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|PANIC|EMERG|ALERT|INFO|DEBUG|TRACE|WARN|"
    r"WARNING|NOTICE)\]?(?![\w.-])", re.IGNORECASE)
# what journald / syslog puts before a process's line: `Apr 04 14:25:13 node-1 kubelet[15169]: `
_JOURNAL = r"(?:(?:[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d |\d{4}-\d\d-\d\dT\S+ )?(?:\S+ )?[\w./-]+\[\d+\]: )?"
_KLOG_HEADER = r"([EFWI])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]]+\] "
_KLOG = re.compile(_JOURNAL + _KLOG_HEADER)
_KLOG_HEADER_ONLY = re.compile(_KLOG_HEADER)  # in every match of _KLOG: where it is absent, _KLOG is too

# the first line of a multi-line event, or a single line shaped as an error without any level
_PY_TRACEBACK = re.compile(r"Traceback \(most recent call last\):")
_JAVA_HEAD = re.compile(
    r'(?:Exception in thread "[^"]*" |Caused by: |^|\s)((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|'
    r'Failure|Fault))(?=[:\]),;]|\s*$)')
# Go: a panic, the runtime's own fatal errors, net/http's recovered handler panics, a goroutine dump
_GO_PANIC = re.compile(
    r"^(?:panic: |fatal error: |runtime error: )|\bhttp: panic serving\b|^goroutine \d+ \[running\]:")
# any other exception named at the start of a message: `RpcException: ...`, `Dapr.DaprException: ...`
_EXCEPTION_NAME = re.compile(
    r"(?:^|[\s(\[=>])((?:[A-Za-z_$][\w$]*\.)*[A-Z][\w$]*(?:Exception|Error))(?=:\s|\]|$)|"
    r"\bException thrown: '((?:[A-Za-z_]\w*\.)+[A-Z]\w*Exception)'")  # a .NET debugger's first-chance line
_RUST_PANIC = re.compile(r"^thread '[^']*' panicked at ")
_JS_HEAD = re.compile(r"^\s*(?:Uncaught )?((?:[A-Z]\w*)?Error)(?: \[[\w-]+\])?: ")
_DOTNET_HEAD = re.compile(r"(?:^|Unhandled exception\. )((?:[A-Z]\w*\.)+[A-Z]\w*Exception)(?::|\s*$)")
# (not `...Warning:` lines: a warning is not an error event)
_PY_EXCEPTION = re.compile(
    r"^((?:[a-zA-Z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Timeout|NotFound|Failure|Greenlet))(?::|$)")
_OOM = re.compile(r"Out of memory: Killed process|oom-kill|invoked oom-killer|Memory cgroup out of memory|OOMKilled|"
                  r"JavaScript heap out of memory|java\.lang\.OutOfMemoryError", re.IGNORECASE)

# lines that continue an event: stack frames and their connective tissue
_FRAME = re.compile(
    r"^(?:\s+at |\s+\.\.\. \d+ (?:more|common frames omitted)|\s*Caused by: |\s+Suppressed: |\s*---> |"
    r"\s*--- End of |\s+File \"|\s{2,}\S|\t\S|goroutine \d+ \[|created by |\[signal |exit status \d+|"
    r"\s*\d+: \S|note: run with `RUST_BACKTRACE|During handling of the above exception|"
    r"The above exception was the direct cause)")
_GO_FUNC = re.compile(r"^[\w./*()-]+\(.*\)$")
_PY_FRAME = re.compile(r'^\s+File "([^"]+)", line \d+, in (\S+)')
_JAVA_FRAME = re.compile(r"^\s+at ([\w$.<>]+)\(([^)]*)\)")
_JS_FRAME = re.compile(r"^\s+at (?:(\S+) \()?([^()\s]+?)(?::\d+){0,2}\)?$")
_DOTNET_FRAME = re.compile(r"^\s+at ([\w.<>`|$]+)\(")
_GO_FRAME = re.compile(r"^([\w./*()-]+)\(.*\)$")

# harmless despite their words: counters at zero, empty lists, health checks, retries that worked
_HARMLESS = re.compile(
    r"\b(?:errors?|failures?|failed|exceptions?|error_count|errorcount|err_count|panics?)\s*[=:]\s*(?:0\b|\[\]|\{\}|"
    r"none\b|null\b|false\b|nil\b)|\b0 (?:errors?|failed|failures?|exceptions?)\b|\bno errors?\b",
    re.IGNORECASE)
# ...and work that went through in the end, unless the line says it did not
_RECOVERED = re.compile(r"\b(?:succeeded|recovered|resolved) after\b|retry(?:ing)? .*\bsucceeded\b|\bsuccessfully\b",
                        re.IGNORECASE)
_NEGATED = re.compile(r"\b(?:not|never|un|failed|couldn't|could not|did not|didn't)\b", re.IGNORECASE)
_HEALTH_OK = re.compile(r'(?:GET|HEAD) /(?:health|healthz|ready|readyz|live|livez|ping|metrics)\S*(?: HTTP/[\d.]+)?"?'
                        r' (?:2\d\d|3\d\d)\b', re.IGNORECASE)


@dataclass(frozen=True)
class ErrorEvent:
    """One error event of one log: lines [start, end) of it, its level, its signature."""

    start: int
    end: int
    severity: Severity
    kind: str  # python-traceback, java, go-panic, node, dotnet, rust-panic, klog, json, logfmt, leveled, oom
    head: str  # the line that says what went wrong (an exception line, the panic message, the log line)
    signature: str  # the masked head (for stack traces: exception type and innermost frame)
    frame: str | None = None  # the innermost stack frame, when there is a stack


def _level_of(line: str) -> tuple[Severity | None, bool]:
    """(severity when the line is at error level, True when it carries a level at all)."""
    stripped = line.lstrip()
    if stripped.startswith("{"):
        match = _JSON_LEVEL.search(line)
        if match:
            word = match.group(1).lower()
            return _ERROR_LEVELS.get(word), True
        number = _JSON_LEVEL_NUM.search(line)
        if number:
            value = int(number.group(1))
            return (Severity.CRITICAL if value >= 60 else Severity.ERROR if value >= 50 else None), True
    klog = _KLOG.match(line)
    if klog:
        return _ERROR_LEVELS.get(klog.group(1).lower()), True
    logfmt = _LOGFMT_LEVEL.search(line)
    if logfmt:
        word = logfmt.group(1).lower()
        if word in _ERROR_LEVELS or word in _QUIET_LEVELS:
            return _ERROR_LEVELS.get(word), True
    plain = _PLAIN_LEVEL.match(line)
    if plain:
        word = plain.group(1).lower()
        return _ERROR_LEVELS.get(word), True
    return None, False


def _head_kind(line: str) -> tuple[str, Severity] | None:
    """An error shape that needs no level: the first line of a stack trace, a panic, an OOM kill."""
    if _PY_TRACEBACK.search(line):
        return "python-traceback", Severity.ERROR
    if _GO_PANIC.match(line):
        return "go-panic", Severity.CRITICAL
    if _RUST_PANIC.match(line):
        return "rust-panic", Severity.CRITICAL
    if _OOM.search(line):
        return "oom", Severity.CRITICAL
    if "Unhandled exception." in line or (
        _DOTNET_HEAD.search(line) and line.lstrip().startswith(("System.", "Microsoft."))
    ):
        return "dotnet", Severity.ERROR
    if _JAVA_HEAD.search(line):
        return "java", Severity.ERROR
    if _JS_HEAD.match(line):
        return "node", Severity.ERROR
    if _PY_EXCEPTION.match(line.lstrip()) and not line.startswith((" ", "\t")):
        return "exception", Severity.ERROR
    if _EXCEPTION_NAME.search(line):
        return "exception", Severity.ERROR
    return None


def classify_line(line: str) -> tuple[str, Severity] | None:
    """Whether one line starts an error event: its kind and severity, or None (not an error, or harmless)."""
    if _HARMLESS.search(line) or _HEALTH_OK.search(line) or (_RECOVERED.search(line) and not _NEGATED.search(line)):
        return None
    level, leveled = _level_of(line)
    shape = _head_kind(line)
    if leveled and level is None:
        # a line at INFO/WARN/DEBUG is not an error event, whatever its words; a stack it prints is
        # shaped as one (an exception line inside a WARN entry is still only a warning)
        return None
    if level is not None:
        kind = shape[0] if shape is not None else ("klog" if _KLOG.match(line) else
                                                    "json" if line.lstrip().startswith("{") else "leveled")
        severity = max(level, shape[1], key=_RANK.__getitem__) if shape is not None else level
        return kind, severity
    return shape


_RANK = {Severity.CRITICAL: 3, Severity.ERROR: 2, Severity.WARNING: 1, Severity.INFO: 0}


# --- folding to a signature -------------------------------------------------------------------------

_PREFIX = re.compile(
    r"^(?:\s*(?:\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?|\d\d:\d\d:\d\d(?:[.,]\d+)?|"
    r"[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d|\[[^\]]{1,60}\]|\(\S+\)|<\d>|[EFWI]\d{4}|\d{5,}|---|-|:|"
    r"(?:ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|PANIC|EMERG|ALERT)\b:?)\s*)+")
# (regex, token, characters one of which a text must hold for the regex to match: a sub that cannot
# match is skipped, most messages hold no URL, address, path or quote; whether it needs a digit,
# any `\d`: a third of the real error excerpts hold none, and no token put in holds one)
_MASKS: list[tuple[re.Pattern[str], str, str, bool]] = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>", "-", False),
    (re.compile(r"\bhttps?://[^\s\"'<>]+"), "<url>", ":", False),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "<email>", "@", False),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>", ".", True),
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.I), "<ip>", ":", False),
    (re.compile(r"\b(?:0x)?[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b(?<=\w{8})|\b0x[0-9a-f]+\b", re.I), "<hex>", "", True),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>", "-", True),
    (re.compile(r"\"[^\"]{0,200}\"|'[^']{0,200}'|`[^`]{0,200}`"), "<q>", "\"'`", False),
    (re.compile(r"(?<![\w.])(?:/[\w.@%+-]+){2,}/?"), "<path>", "/", False),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|us|µs|ns|s|sec|seconds|m|min|minutes|h|hours)\b"), "<dur>", "", True),
    (re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)+(?![\w.])"), "<n>", ".,", True),
]
_SPACES = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")
# a word holding a digit: a number (with its unit) or an id (`A-1042`, `web-1`, `job42`)
_DIGIT_WORD = re.compile(r"(?<![\w<])[\w-]*\d[\w-]*")
_NUMBER_WORD = re.compile(r"-?\d+[A-Za-z]{0,3}")


def _digit_word(match: re.Match[str]) -> str:
    return "<n>" if _NUMBER_WORD.fullmatch(match.group(0)) else "<id>"


_JSON_MESSAGE = re.compile(r'"(?:msg|message|error|err|exception|@m|@mt|event)"\s*:\s*"((?:[^"\\]|\\.){1,500})"')
_LOGFMT_MESSAGE = re.compile(r'(?:^|\s)(?:msg|message)=(?:"((?:[^"\\]|\\.)*)"|(\S+))')
_LOGFMT_ERROR = re.compile(r'(?:^|\s)(?:err|error)=(?:"((?:[^"\\]|\\.)*)"|(\S+))')
_THREAD_PREFIX = re.compile(r'^Exception in thread "[^"]*" ')


def message_of(line: str) -> str:
    """What a log line says, without its envelope: the `msg` of a JSON or logfmt line (with its
    error), the text after a klog header, the line itself otherwise."""
    stripped = line.strip()
    if stripped.startswith("{"):
        parts = [m.group(1) for m in _JSON_MESSAGE.finditer(stripped)]
        if parts:
            return ": ".join(dict.fromkeys(parts))
    if "msg=" in stripped or "message=" in stripped:
        msg = _LOGFMT_MESSAGE.search(stripped)
        if msg:
            err = _LOGFMT_ERROR.search(stripped)
            text = msg.group(1) or msg.group(2) or ""
            return f"{text}: {err.group(1) or err.group(2)}" if err else text
    # `_KLOG`'s optional journal prefix, tried at every place of a line, was most of what masking a
    # line cost (~50 us of a 170-character line): it is only run where its header is
    if "] " in stripped and _KLOG_HEADER_ONLY.search(stripped):
        stripped = _KLOG.sub("", stripped)
    return _THREAD_PREFIX.sub("", stripped)


MASKED_TEXTS = 4096  # the masks kept: an error repeats, across a log and across the pods of a burst
_CACHED_LENGTH = 1000  # longer texts (a whole JSON record) are masked each time, not kept


def mask(text: str) -> str:
    """The message without its log prefix (time, level, thread, pid) and with its variable parts masked.
    The same text gives the same mask: the last MASKED_TEXTS (of up to _CACHED_LENGTH characters) are
    kept (~0.1 ms a text: one error in every pod of a namespace is masked once)."""
    return _masked(text) if len(text) <= _CACHED_LENGTH else _mask(text)


def _mask(text: str) -> str:
    text = message_of(text)
    text = _PREFIX.sub("", text, count=1) or text
    digits = _DIGIT.search(text) is not None
    for regex, token, needs, digit in _MASKS:
        if (digits or not digit) and (not needs or any(char in text for char in needs)):
            text = regex.sub(token, text)
    if digits:
        text = _DIGIT_WORD.sub(_digit_word, text)
    return _SPACES.sub(" ", text).strip()[:300]


_masked = lru_cache(maxsize=MASKED_TEXTS)(_mask)


def _innermost_frame(lines: Sequence[str], kind: str) -> str | None:
    if kind == "python-traceback":
        calls = [m for line in lines if (m := _PY_FRAME.match(line))]
        return f"{calls[-1].group(1).rsplit('/', 1)[-1]} in {calls[-1].group(2)}" if calls else None
    if kind == "go-panic":
        for line in lines:
            call = _GO_FRAME.match(line)
            if call and not call.group(1).startswith(("runtime.", "panic(")):
                return call.group(1)
        return None
    # Java, .NET, Node: the first frame after the last cause is where the innermost error was thrown;
    # the first one of the application's own code says more than a frame of the runtime's
    start = max((i for i, line in enumerate(lines) if "Caused by:" in line or "---> " in line), default=0)
    frames: list[str] = []
    for line in lines[start:]:
        for regex in (_JAVA_FRAME, _DOTNET_FRAME, _JS_FRAME):
            found = regex.match(line)
            if found:
                frames.append(str(found.group(1) or found.group(2)))
                break
    own = [f for f in frames if not f.startswith(_RUNTIME_FRAMES) and "node_modules" not in f]
    return (own or frames)[0] if frames else None


_RUNTIME_FRAMES = ("java.", "javax.", "jdk.", "sun.", "kotlin.", "System.", "Microsoft.", "node:", "internal/",
                   "Object.<anonymous>", "process.", "Module.", "async ")


def _exception_line(lines: Sequence[str], kind: str) -> str:
    """The line that names what went wrong: the last line of a Python traceback, the innermost
    `Caused by:` of a Java trace, else the first line."""
    if kind == "python-traceback":
        for line in reversed(lines):
            if line.strip() and not line.startswith((" ", "\t")) and not _PY_TRACEBACK.search(line) \
                    and not line.startswith(("During handling", "The above exception")):
                return line
    if kind == "java":
        causes = [line for line in lines if line.lstrip().startswith("Caused by:")]
        if causes:
            return causes[-1].lstrip()[len("Caused by:"):].strip()
    if kind == "dotnet":
        inner = [line for line in lines if "---> " in line]
        if inner:
            return inner[-1].split("---> ", 1)[1]
    # a log line followed by the exception it printed: the exception's own line names it
    head = {"java": _JAVA_HEAD, "dotnet": _DOTNET_HEAD, "node": _JS_HEAD}.get(kind)
    if head is not None:
        return next((line for line in lines if head.search(line) and not _FRAME.match(line)), lines[0])
    return lines[0]


def _continues(line: str, kind: str) -> bool:
    if _FRAME.match(line):
        return True
    if kind == "go-panic":
        return not line.strip() or bool(_GO_FUNC.match(line))
    if kind == "python-traceback":
        return not line.strip()  # a blank line inside a chained traceback
    return False


def _extent(lines: Sequence[str], start: int, kind: str) -> int:
    """One past the last line of the event that starts at `start`."""
    end = start + 1
    limit = min(len(lines), start + MAX_FRAMES)
    if kind == "python-traceback":
        while end < limit:
            line = lines[end]
            if line.startswith((" ", "\t")) or not line.strip():
                end += 1
                continue
            if line.startswith(("During handling", "The above exception")) or _PY_TRACEBACK.search(line):
                end += 1
                continue
            return end + 1  # the exception line ends it
        return end
    # a leveled line may be followed by the traceback it logs (uvicorn's "Exception in ASGI application",
    # logging.exception), possibly after a few records other requests wrote in between
    if kind in ("leveled", "json", "logfmt", "klog"):
        for ahead in range(end, min(end + LOOKAHEAD, limit)):
            if _PY_TRACEBACK.search(lines[ahead]):
                return _extent(lines, ahead, "python-traceback")
            if not _level_of(lines[ahead])[1]:
                break
    if end < limit and kind in ("leveled", "json", "logfmt", "klog", "exception") and (
        _head_kind(lines[end]) is not None and _head_kind(lines[end]) != ("oom", Severity.CRITICAL)
    ) and not _level_of(lines[end])[1]:
        end += 1
    while end < limit and _continues(lines[end], kind):
        end += 1
    # trailing blank lines belong to nobody
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def _event(lines: Sequence[str], start: int, kind: str, severity: Severity) -> ErrorEvent:
    end = _extent(lines, start, kind)
    body = lines[start:end]
    if kind in ("leveled", "json", "logfmt", "klog") and len(body) > 1:
        # a log line followed by the stack trace it printed: the trace's shape decides how to read it
        follow = _head_kind(body[1])
        if follow is not None and follow[0] in ("java", "dotnet", "node", "python-traceback"):
            kind = follow[0]
    head = _exception_line(body, kind)
    frame = _innermost_frame(body, kind) if len(body) > 1 else None
    signature = mask(head)
    if frame:
        signature = f"{signature} @ {frame}"
    return ErrorEvent(start=start, end=end, severity=severity, kind=kind, head=head.strip(),
                      signature=signature, frame=frame)


class _Triggers:
    automaton: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.automaton is None:
            automaton = ahocorasick.Automaton()
            for word in TRIGGERS:
                automaton.add_word(word, word)
            automaton.make_automaton()
            cls.automaton = automaton
        return cls.automaton


@cache
def trigger_scanner() -> fastscan.LineScanner | None:
    """The hyperscan database of the triggers (a leading line break: the start of a line), built once."""
    patterns = [(n, ("^" + re.escape(word[1:])) if word.startswith("\n") else re.escape(word))
                for n, word in enumerate(TRIGGERS)]
    return fastscan.LineScanner.build(patterns, caseless=False)


def candidate_lines(lines: Sequence[str], encoded: bytes | None = None) -> list[int]:
    """Indexes of the lines holding a trigger: one pass over the whole log, as it is (hyperscan for a
    big log where it is installed, else Aho-Corasick). `encoded`: `fastscan.encode(lines)`, if known."""
    big = encoded is not None or sum(map(len, lines)) >= fastscan.MIN_BYTES
    if big and (scanner := trigger_scanner()) is not None:
        # the triggers are ASCII: matched on the bytes, they find exactly what they find in the text
        hits, _ = scanner.scan(lines, ascii_only=False, data=encoded)
        return sorted(hits)
    joined = "\n" + "\n".join(lines)
    found: list[int] = []
    index, position = -1, 0  # the line of `position` (-1: the "\n" put before the first line)
    for end, _word in _Triggers.get().iter(joined):  # in order of end: count the breaks in between
        if end > position:
            index += joined.count("\n", position, end)
            position = end
        # (no word ends with a line break: `end`, its last character, is on the line it belongs to)
        if not found or found[-1] != index:
            found.append(min(index, len(lines) - 1))
    return sorted(set(found))


def find_events(lines: Sequence[str], skip: set[int] | frozenset[int] = frozenset(), *,
                encoded: bytes | None = None) -> list[ErrorEvent]:
    """The error events of one log, in order. Lines in `skip` (already explained by the pattern
    table) never start an event, and an event holding one of them is left out: it is accounted for.
    `encoded`: `fastscan.encode(lines)`, when the caller has it."""
    return events_before(lines, skip, encoded=encoded)[0]


# lines an event may span from its first line (a leveled line, a few records, then a whole trace) and
# a little more: a window of a log holding this many lines after an event's start sees it whole
SPAN = MAX_FRAMES + LOOKAHEAD + 4


def events_before(lines: Sequence[str], skip: set[int] | frozenset[int] = frozenset(), *,
                  encoded: bytes | None = None, stop: int | None = None,
                  covered: int = -1, candidates: Sequence[int] | None = None) -> tuple[list[ErrorEvent], int]:
    """find_events for a window of a log read in pieces: (the events starting before line `stop`,
    where the last event ends). `covered`: where the previous window's last event ended (lines
    before it start nothing). Exact when the window holds SPAN lines after `stop`. `candidates`:
    `candidate_lines(lines)` when the caller found them already (`blockscan`)."""
    events: list[ErrorEvent] = []
    for index in candidate_lines(lines, encoded) if candidates is None else candidates:
        if stop is not None and index >= stop:
            break
        if index < covered or index in skip:
            continue
        shape = classify_line(lines[index])
        if shape is None or _exited_cleanly(lines, index):
            continue
        event = _event(lines, index, *shape)
        covered = event.end
        if skip and any(i in skip for i in range(event.start, event.end)):
            continue
        events.append(event)
    return events, covered


_DESCRIBE_REASON = re.compile(r"^\s*Reason:\s+Error\s*$")
_EXIT_ZERO = re.compile(r"^\s*Exit Code:\s+0\s*$")


def _exited_cleanly(lines: Sequence[str], index: int) -> bool:
    """A `kubectl describe` container state reading `Reason: Error` whose exit code, on the lines
    below it, is 0: the runtime's word, not an error (a completed container)."""
    return bool(_DESCRIBE_REASON.match(lines[index])) and any(
        _EXIT_ZERO.match(line) for line in lines[index + 1:index + 4])


def signature_id(signature: str) -> str:
    """A short stable id for a signature (`unrecognised-3f2a9c1b`)."""
    return "unrecognised-" + hashlib.sha1(signature.encode()).hexdigest()[:8]


STACK_KINDS = frozenset({"python-traceback", "java", "go-panic", "node", "dotnet", "rust-panic"})


class SignatureClusters:
    """Groups error events into signatures. A stack trace's signature (exception type and innermost
    frame) is its group; the masked messages of single-line events are clustered by Drain3, so that
    messages differing in what the masks could not know (a user, a table, a topic) group together.
    `key()` gives an event's group, `template()` a group's signature once every event was added
    (Drain3 generalises a cluster's template as it grows)."""

    def __init__(self) -> None:
        self._miner: Any = None

    def _drain(self) -> Any:
        if self._miner is None:  # imported on first use: most logs have no unrecognised error at all
            from drain3 import TemplateMiner  # type: ignore[import-untyped]
            from drain3.template_miner_config import TemplateMinerConfig  # type: ignore[import-untyped]

            config = TemplateMinerConfig()
            config.profiling_enabled = False
            config.drain_sim_th = 0.5  # at least half of the tokens in common (after masking) to group
            config.drain_depth = 4
            config.parametrize_numeric_tokens = True
            self._miner = TemplateMiner(config=config)
        return self._miner

    def key(self, event: ErrorEvent) -> str:
        if event.kind in STACK_KINDS or event.frame is not None:
            return "stack:" + event.signature
        cluster = self._drain().add_log_message(event.signature)
        return f"drain:{cluster['cluster_id']}"

    def template(self, key: str) -> str:
        kind, _, value = key.partition(":")
        if kind == "stack":
            return value
        cluster = self._drain().drain.id_to_cluster.get(int(value))
        return cluster.get_template() if cluster is not None else value
