"""Redaction: everything opsbot posts or prints passes through here first.

Secrets are replaced with `[REDACTED:kind]` and the rest of the line is left as it was, so a
log line stays readable: `postgresql://taskflow:[REDACTED:password]@db:5432/taskflow`.

Rules are ordered: specific token formats (private keys, JWTs, Slack/GitHub/AWS tokens) first,
then credentials in URLs and headers, then `name=value` / `"name": "value"` pairs whose name says
the value is secret. A value already redacted is never matched again, so redaction is idempotent.

Decisions on names (no false positives on ordinary log lines):
- a pair is secret when its name ENDS with password, passwd, pwd, secret, token, api_key/apikey,
  access_key, private_key, credential(s) or auth (e.g. `DB_PASSWORD`, `github_token`, `client_secret`);
  `token_count=42`, `max_tokens=100`, `secret_name=db-creds`, `password_policy=strict` are kept:
  those names describe a secret, they do not hold one;
- `None`, `null`, `true`, `false`, empty values and `***` are kept (nothing to hide, useful to see);
- any other name containing key, secret, token, pass, auth, cred, cookie, session or signature
  is redacted only when its value looks random (long, high entropy), e.g. `"signing_key": "9f8A..."`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar, cast

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# Non-ASCII letters that case-insensitive regexes take for ASCII ones, which str.lower() leaves alone.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_DONE = r"(?!\[REDACTED:)"  # never redact a redaction again
# values that hide nothing: empty markers, masks, placeholders and references to env variables
_KEEP_VALUES = re.compile(
    r"(?i)(?:none|null|nil|true|false|undefined|\*+|<[^>]*>?|\$\{[^}]*\}?|\$\w+|\[REDACTED:[^]]*\])"
)

# names whose value is the secret itself
_SECRET_NAME = (
    r"[\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|credentials?|auth)"
)
# names that hint at a secret: redact when the value looks random
_HINT_NAME = r"[\w.-]*?(?:key|secret|token|pass|auth|cred|cookie|session|signature)[\w.-]*"
# ...but not names of ids, counts and other descriptions of a secret
_NOT_SECRET_NAME = re.compile(
    r"(?i)(?:id|ids|name|names|count|total|type|kind|len|length|size|ttl|expiry|expires|at|url|path|file)$"
)


def _tag(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def _looks_random(value: str) -> bool:
    """Long, mixed and high-entropy: an API key or a signature, not a word, a path or an id like 42."""
    if len(value) < 16 or " " in value:
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes >= 2 and _entropy(value) >= 3.5


Rule = tuple[str, re.Pattern[str], Callable[[re.Match[str]], str]]


def _whole(kind: str) -> Callable[[re.Match[str]], str]:
    return lambda m: _tag(kind)


def _keep_groups(kind: str) -> Callable[[re.Match[str]], str]:
    """Keep the `pre` and `post` groups, replace the `value` group."""

    def repl(m: re.Match[str]) -> str:
        value = m.group("value")
        if _KEEP_VALUES.fullmatch(value) or not value:
            return m.group(0)
        return f"{m.group('pre')}{_tag(kind)}{m.groupdict().get('post') or ''}"

    return repl


def _pair_kind(name: str) -> str:
    low = name.translate(_FOLD).lower()
    for word, kind in (
        ("passw", "password"), ("pwd", "password"), ("secret", "secret"), ("private", "private_key"),
        ("token", "token"), ("key", "api_key"), ("cred", "credentials"), ("auth", "auth"),
    ):
        if word in low:
            return kind
    return "secret"


def _named_pair(m: re.Match[str]) -> str:
    value = m.group("value")
    if not value or _KEEP_VALUES.fullmatch(value):
        return m.group(0)
    return f"{m.group('pre')}{_tag(_pair_kind(m.group('name')))}{m.group('post') or ''}"


def _hinted_pair(m: re.Match[str]) -> str:
    value = m.group("value")
    if _NOT_SECRET_NAME.search(m.group("name")) or not _looks_random(value):
        return m.group(0)
    return f"{m.group('pre')}{_tag(_pair_kind(m.group('name')))}{m.group('post') or ''}"


def _pair_regex(name: str) -> re.Pattern[str]:
    """`name=value`, `name: value`, `"name": "value"`, `'name': 'value'` (also with escaped quotes).

    The value is quoted (up to the closing quote) or bare (up to a space or separator). A quoted
    key needs its closing quote; `:` followed by `//` is a URL, not a pair.
    """
    return re.compile(
        rf"(?P<pre>(?<![\w.-])(?P<nq>\\?[\"']?)(?P<name>{name})(?P=nq)\s*(?:=|:(?!//))\s*"
        rf"(?P<q>\\?[\"'])?)"
        rf"(?P<value>{_DONE}(?(q)(?:(?!(?P=q)).)*|(?![\[{{\\])[^\s\"',;&|)}}\]]+))"
        rf"(?P<post>(?(q)(?P=q)|))",
        re.IGNORECASE,
    )


RULES: list[Rule] = [
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        _whole("private_key"),
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), _whole("jwt")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"), _whole("slack_token")),
    ("slack_token", re.compile(r"\bxapp-\d-[A-Za-z0-9-]{8,}"), _whole("slack_token")),
    (
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+"),
        _whole("slack_webhook"),
    ),
    ("github_token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), _whole("github_token")),
    ("github_token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), _whole("github_token")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), _whole("aws_access_key")),
    (
        "aws_secret_key",
        re.compile(
            r"(?P<pre>aws_secret_access_key\\?[\"']?\s*[=:]\s*\\?[\"']?)(?P<value>" + _DONE + r"[A-Za-z0-9/+=]{16,})",
            re.IGNORECASE,
        ),
        _keep_groups("aws_secret_key"),
    ),
    (
        "password",  # scheme://user:PASSWORD@host
        re.compile(
            r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"']*:)(?P<value>" + _DONE + r"[^\s@/\"']+)(?P<post>@)"
        ),
        _keep_groups("password"),
    ),
    (
        "authorization",  # the header: keep the scheme (Bearer, Basic...), hide the credentials
        re.compile(
            r"(?P<pre>\b(?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?(?>(?:(?:bearer|basic|token|digest|"
            r"apikey|key)\s+)?))(?P<value>" + _DONE + r"[^\s\"',;]+)",
            re.IGNORECASE,
        ),
        _keep_groups("authorization"),
    ),
    (
        "bearer",
        re.compile(
            r"(?P<pre>\b[Bb]earer\s+)(?P<value>" + _DONE
            + r"(?=[^\s]*[\d._~+/=-])[A-Za-z0-9._~+/-]{8,}=*)(?![^\s\"',;)\]}])"
        ),
        _keep_groups("bearer"),
    ),
    ("secret", _pair_regex(_SECRET_NAME), _named_pair),
    ("secret", _pair_regex(_HINT_NAME), _hinted_pair),
]

# A key's body line on its own: logs arrive line by line, apart from their BEGIN line.
_KEY_BODY_LINE = re.compile(r"(?m)^(?=[^\n]*[A-Z])(?=[^\n]*[a-z])(?=[^\n]*\d)[A-Za-z0-9+/]{60,76}={0,2}$")

# Cheap test first: a text holding none of these words (lowercased) holds no secret a rule would find.
_TRIGGER_WORDS = (
    "-----begin", "eyj", "xox", "xapp-", "hooks.slack", "gho_", "ghp_", "ghs_", "ghu_", "ghr_", "github_pat_",
    "akia", "asia", "://", "bearer", "pass", "pwd", "secret", "token", "key", "cred", "auth", "cookie", "session",
)


def redact(text: str) -> str:
    """The text with every secret replaced by `[REDACTED:kind]`; everything else unchanged."""
    if not text:
        return text
    if len(text) >= 60:
        text = _KEY_BODY_LINE.sub(_tag("private_key"), text)
    folded = text.lower() if text.isascii() else text.translate(_FOLD).lower()
    if not any(word in folded for word in _TRIGGER_WORDS):
        return text
    for _kind, regex, repl in RULES:
        text = regex.sub(repl, text)
    return text


def redact_model(model: M) -> M:
    """A copy of a pydantic model with every string redacted, however deeply nested: fields, lists,
    tuples (NamedTuples such as LogLine stay NamedTuples), dict values (keys are names and kept),
    nested models. Enum members are kept as they are; the original model is not modified."""
    return cast(M, _scrub(model))


def _scrub(value: Any) -> Any:
    if isinstance(value, Enum):  # StrEnum members are str: keep them members
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        update = {name: _scrub(getattr(value, name)) for name in fields}
        return value.model_copy(update=update)
    if isinstance(value, tuple):
        items = [_scrub(v) for v in value]
        return cast(Any, type(value))._make(items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return type(value)(_scrub(v) for v in value)
    return value
