"""Redaction: everything opsbot posts or prints passes through here first.

Secrets become `[REDACTED:kind]` and the rest of the line stays readable:
`postgresql://taskflow:[REDACTED:password]@db:5432/taskflow`. What is a secret:
- token formats: private keys, JWTs; Slack, GitHub, GitLab, AWS (`AKIA…`, and the secret in
  `AKIA…:secret`), Stripe, OpenAI, Anthropic, npm, PyPI, Google, SendGrid, Twilio, Hugging Face,
  DigitalOcean, Shopify, Databricks, Vault, Doppler, Grafana, Sentry, New Relic, Linear, Postman,
  Atlassian, age, Square, Telegram, Heroku, Azure client secrets and SAS signatures (`sig=`);
- credentials in URLs (`scheme://user:PASSWORD@host`) and in `Authorization`/`Bearer` headers;
- values named secret: `name=value`, `"name": "value"`, `--name value`, `<name>value</name>`,
  `<add key="name" value="…"/>`, `{"name": "NAME", "value": "…"}` and its YAML form over two lines
  (`- name: API_SECRET` then `value: …`), `mysql -pSECRET`, `sshpass -p`, `redis-cli -a`. A name is
  secret when it ENDS with password, passwd, passphrase, pass, pwd, secret, token, credential(s),
  auth or a kind of key (api, access, private, secret, signing, app, account… key). Kept: `None`,
  `null`, `true`, empty values, masks, `${VAR}`, and plain words after `auth` (`auth=ok`);
- under other names holding key, secret, token, pass, auth, cred, cookie, session or signature,
  random-looking values only; never under names that describe a secret (`token_count`, `key_id`,
  `expires_at`) or ordinary keys (`idempotency_key`, `cache_key`…), and under names whose only
  hint is `key`, never ids (UUIDs, hex, `sha256:` digests, pod names, `orders:42`);
- a line of pure base64 (a key's body arriving alone), except inside a certificate or public key.
A private key block from BEGIN to END (or to the end) becomes one tag. A redacted value is never
matched again: redaction is idempotent.

Cost: a long text is redacted line by line. One scan finds the lines holding a trigger (a literal
such as `token` where a `=` follows, `-----BEGIN `, `AKIA`, a line of base64…); only those lines,
and the lines a multi-line rule needs, run the rules whose triggers they hold. The result is the
same as every rule over the whole text (`redact_one_piece`, checked with hypothesis). Measured
(`python -m tests.test_redact_properties`, 2 shared cores, two runs): a 2,000-line log (222 KB, 9
secrets) takes 13 ms, 406-460 ms in one piece (the previous redactor: 147-197 ms in one piece,
55-66 ms line by line); 100,000 lines (11 MB) take 0.58-0.62 s (18 MB/s), 17-20 s in one piece.
An ordinary short line costs about 8 us.
"""

from __future__ import annotations

import functools
import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bot.plumbing.lazyre import LazyRegex

if TYPE_CHECKING:  # pydantic is not imported for redacting text (`opsbot redact` starts faster)
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")
Repl = Callable[[re.Match[str]], str]

# Non-ASCII letters that case-insensitive regexes take for ASCII ones, which str.lower() leaves alone.
# U+0130 is also the only character whose lower() is two characters: folding keeps offsets.
_FOLD = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"), ("\u212a", "k"))
_H = r"[^\S\n]"  # white space within a line: only the multi-line rules cross a line end
_Q = r"\\?[\"']"  # a quote, maybe escaped (JSON inside a string)
_DONE = r"(?!\[REDACTED:)"  # never redact a redaction again
# a value after its separator: quoted (to the closing quote) or bare (to a space or a separator);
# it closes the `pre` group that each rule opens
_VALUE = (
    rf"(?P<q>{_Q})?)(?P<value>{_DONE}(?(q)(?:(?!(?P=q)).)*|(?![\[{{\\])[^\s\"',;&|)}}\]<]+))"
    r"(?P<post>(?(q)(?P=q)|))"
)
# values that hide nothing: empty markers, answers (MySQL's `using password: NO`), masks, placeholders
# and references to env variables
_KEEP_VALUES = re.compile(
    r"(?i)(?:none|null|nil|true|false|yes|no|undefined|\*+|<[^>]*>?|\$\{[^}]*\}?|\$\w+|\[REDACTED:[^]]*\])"
)
# a name ending with one of these holds a secret (`by`pass and `com`pass do not)
_SECRET_WORDS = (
    r"password|passwd|passphrase|(?<!by)(?<!com)pass|pwd|secret|token|credentials?|auth|apikey"
    r"|(?:api|access|private|secret|signing|encryption|master|app|application|account|storage|shared|hmac"
    r"|subscription|license|sas)[_-]?key"
)
_SECRET_END = re.compile(rf"(?:{_SECRET_WORDS})$")
_HINT_WORDS = r"key|secret|token|pass|pwd|auth|cred|cookie|session|signature"
_HINT = re.compile(_HINT_WORDS)
# names of ids, counts and other descriptions of a secret, and keys that are not secret
_NOT_SECRET_NAME = re.compile(
    r"(?:id|ids|name|names|count|total|type|kind|len|length|size|ttl|expiry|expires|at|url|uri|path|file"
    r"|arn|ref|version|method|mode|provider|header|prefix|field|policy|format|alg|algorithm)$"
    r"|(?:idempotency|cache|partition|routing|sort|dedup\w*|object|primary|foreign|lock|shard|row|message"
    r"|group|lookup|bucket|index|event|request|correlation|trace|metric|label|public|kms)[_.-]?keys?$"
)
# ids: digests, pod-like names, and parts of one kind (words, numbers, hex: UUIDs, `orders:42`, `a/2024/05`)
_ID_PART = r"(?:[a-z]+|[A-Z]+|\d+|[0-9a-f]+|[0-9A-F]+)"
_ID_SHAPE = re.compile(rf"(?:sha\d+|md5):[0-9a-fA-F]+|[a-z0-9]+(?:-[a-z0-9]+)+|{_ID_PART}(?:[:/._-]{_ID_PART})*")
_PLAIN_WORD = re.compile(r"(?:[A-Za-z][a-z]*|[A-Z]+)(?:[_-][a-z]+)*\d?")


def _fold(text: str) -> str:
    if not text.isascii():
        for char, ascii_ in _FOLD:
            if char in text:
                text = text.replace(char, ascii_)
    return text.lower()


def _tag(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


_CLASSES = (re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"\d"))


def _looks_random(value: str) -> bool:
    """Long, mixed and high-entropy: an API key or a signature, not a word, a path or an id like 42."""
    if len(value) < 16 or " " in value:
        return False
    classes = sum(bool(p.search(value)) for p in _CLASSES)
    return classes >= 2 and _entropy(value) >= 3.5


def _is_secret(name: str, value: str) -> bool:
    """Whether `value`, given under `name`, is to be hidden (the rules in the module docstring)."""
    if not value or _KEEP_VALUES.fullmatch(value):
        return False
    low = _fold(name).strip("-")
    if _SECRET_END.search(low[-24:]):  # the longest word with its look-behind fits
        return not (low.endswith("auth") and _PLAIN_WORD.fullmatch(value))
    if not _looks_random(value) or _NOT_SECRET_NAME.search(low):
        return False
    words = set(_HINT.findall(low))
    return bool(words) and not (words == {"key"} and _ID_SHAPE.fullmatch(value))


def _pair_kind(name: str) -> str:
    low = _fold(name)
    for word, kind in (
        ("passw", "password"), ("pwd", "password"), ("secret", "secret"), ("private", "private_key"),
        ("token", "token"), ("key", "api_key"), ("cred", "credentials"), ("auth", "auth"), ("pass", "password"),
    ):
        if word in low:
            return kind
    return "secret"


def _named(m: re.Match[str]) -> str:
    """For rules with `pre`, `name`, `value`, `post`: hide the value when the name says it is secret."""
    if not _is_secret(m["name"], m["value"]):
        return m[0]
    return f"{m['pre']}{_tag(_pair_kind(m['name']))}{m['post'] or ''}"


def _keep_groups(kind: str) -> Repl:
    """Keep the `pre` and `post` groups, replace the `value` group."""

    def repl(m: re.Match[str]) -> str:
        value = m["value"]
        if not value or _KEEP_VALUES.fullmatch(value):
            return m[0]
        return f"{m['pre']}{_tag(kind)}{m.groupdict().get('post') or ''}"

    return repl


def _aws_key(m: re.Match[str]) -> str:
    pair = f"{m['sep']}{_tag('aws_secret_key')}" if m["secret"] else ""
    return _tag("aws_access_key") + pair


@dataclass(frozen=True)
class _Rule:
    """A line rule and its triggers: literals (lowercase ones are looked for in the lowercased text),
    one of which must be present, where `check` matches, for the regex to have anything to find.
    Its regex is compiled when a line first needs it (`LazyRegex`): a run triggers a few rules."""

    regex: LazyRegex
    repl: Repl
    literals: tuple[str, ...]
    check: str | None = None


def _rule(pattern: str, repl: Repl | str, literals: str, check: str | None = None, flags: int = 0) -> _Rule:
    action = repl if callable(repl) else (lambda m, tag=_tag(repl): tag)
    return _Rule(LazyRegex(pattern, flags), action, tuple(literals.split()), check)


# the end of a secret name, from where one of its literals is found (`key` needs a qualifier)
_SECRET_CHECK = r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|credentials?|auth|(?<=[\w-])key)"
# Line rules, in order: token formats first, then credentials in URLs and headers, then named values.
_RULES: list[_Rule] = [
    _rule(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", "jwt", "eyJ"),
    _rule(r"\bxox[abposre]-[A-Za-z0-9-]{8,}", "slack_token", "xox"),
    _rule(r"\bxapp-\d-[A-Za-z0-9-]{8,}", "slack_token", "xapp-"),
    _rule(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+", "slack_webhook", "://",
          r"://hooks\.slack\.com/"),
    _rule(r"\bgh[pousr]_[A-Za-z0-9]{20,}", "github_token", "gh", r"gh[pousr]_"),
    _rule(r"\bgithub_pat_[A-Za-z0-9_]{20,}", "github_token", "github_pat_"),
    _rule(r"\bgl(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt|soat|ffct)-[A-Za-z0-9_.-]{20,}", "gitlab_token", "gl",
          r"gl[a-z]+-"),
    _rule(r"\bgl(?:sa|c)_[A-Za-z0-9+/_=]{32,}", "grafana_token", "gl", r"gl(?:sa|c)_"),
    _rule(r"\b[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,}", "stripe_key",
          "k_live_ k_test_ k_prod_", r"(?<=[sr])(?<!\w[sr])k_"),
    _rule(r"\bwhsec_[A-Za-z0-9+/=]{20,}", "stripe_webhook_secret", "whsec_"),
    _rule(r"\bsk-ant-[a-z]+\d*-[A-Za-z0-9_-]{20,}", "anthropic_key", "sk-", r"(?<!\w)sk-ant-"),
    _rule(r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{32,})",
          "openai_key", "sk-", r"(?<!\w)sk-(?:proj-|svcacct-|admin-|[a-z0-9]{32})"),
    _rule(r"\bnpm_[A-Za-z0-9]{36}\b", "npm_token", "npm_"),
    _rule(r"\bpypi-AgE[A-Za-z0-9_-]{50,}", "pypi_token", "pypi-AgE"),
    _rule(r"\bAIza[0-9A-Za-z_-]{35}", "google_api_key", "AIza"),
    _rule(r"\bGOCSPX-[A-Za-z0-9_-]{24,}", "google_oauth_secret", "GOCSPX-"),
    _rule(r"\bya29\.[0-9A-Za-z_-]{20,}", "google_oauth_token", "ya29."),
    _rule(r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}", "sendgrid_key", "SG."),
    _rule(r"\bSK[0-9a-fA-F]{32}\b", "twilio_key", "SK", r"SK[0-9a-fA-F]{32}"),
    _rule(r"\bhf_[A-Za-z0-9]{30,}", "huggingface_token", "hf_"),
    _rule(r"\bdo[opr]_v1_[a-f0-9]{64}\b", "digitalocean_token", "_v1_"),
    _rule(r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", "shopify_token", "shp"),
    _rule(r"\bdapi[a-f0-9]{32}\b", "databricks_token", "dapi"),
    _rule(r"\bhv[sb]\.[A-Za-z0-9_-]{24,}", "vault_token", "hv", r"hv[sb]\."),
    _rule(r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}", "doppler_token", "dp."),
    _rule(r"\bsntry[su]_[A-Za-z0-9+/=_]{40,}", "sentry_token", "sntry"),
    _rule(r"\bNR(?:AK|II|JS)-[A-Za-z0-9-]{19,}", "newrelic_key", "NR", r"NR(?:AK|II|JS)-"),
    _rule(r"\blin_api_[A-Za-z0-9]{40}\b", "linear_key", "lin_api_"),
    _rule(r"\bPMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}\b", "postman_key", "PMAK-"),
    _rule(r"\bATATT3[A-Za-z0-9_=-]{40,}", "atlassian_token", "ATATT3"),
    _rule(r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b", "age_secret_key", "AGE-SECRET-KEY-"),
    _rule(r"\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,}", "square_token", "sq0"),
    _rule(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b", "telegram_token", ":AA"),
    _rule(r"\bHRKU-[A-Za-z0-9_-]{30,}", "heroku_key", "HRKU-"),
    _rule(r"(?<![\w~.])[\w~.]{3}\dQ~[\w~.-]{31,34}(?![\w~.-])", "azure_client_secret", "Q~"),
    _rule(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b(?:(?P<sep>[:/])(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=]))?",
          _aws_key, "AKIA ASIA"),
    _rule(rf"(?P<pre>aws_secret_access_key{_Q}?{_H}*[=:]{_H}*{_Q}?)(?P<value>{_DONE}[A-Za-z0-9/+=]{{16,}})",
          _keep_groups("aws_secret_key"), "secret", "secret_access_key", flags=re.I),
    _rule(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"']*:)(?P<value>" + _DONE + r"[^\s@/\"']+)(?P<post>@)",
          _keep_groups("password"), "://", r"://[^\s:/@\"']*:[^\s@/\"']+@"),
    _rule(rf"(?P<pre>\b(?:proxy-)?authorization{_Q}?{_H}*[:=]{_H}*{_Q}?(?>(?:(?:bearer|basic|token|digest|"
          rf"apikey|key){_H}+)?))(?P<value>{_DONE}[^\s\"',;]+)", _keep_groups("authorization"), "auth", "authorization",
          flags=re.I),
    _rule(rf"(?P<pre>\b[Bb]earer{_H}+)(?P<value>{_DONE}(?=[^\s]*[\d._~+/=-])[A-Za-z0-9._~+/-]{{8,}}=*)"
          r"(?![^\s\"',;)\]}])", _keep_groups("bearer"), "bearer"),
    _rule(rf"(?P<pre>[?&;]sig=)(?P<value>{_DONE}[^\s&\"'<>;#]+)", _keep_groups("signature"), "sig", "sig=",
          flags=re.I),
    _rule(rf"(?P<pre><(?P<name>[\w.:-]*?(?:{_SECRET_WORDS}))(?:{_H}[^>\n]*)?>)(?P<value>{_DONE}[^<\n]+)"
          r"(?P<post></(?P=name)>)", _named, "</", rf"</[\w.:-]*{_SECRET_CHECK}>", flags=re.I),
    _rule(rf"(?P<pre>(?<![\w.-])(?P<nq>{_Q}?)(?:name|key)(?P=nq){_H}*[:=]{_H}*(?P<q1>{_Q}?)(?P<name>[\w.-]+)"
          rf"(?P=q1){_H}*,?{_H}*(?P<vq>{_Q}?)value(?P=vq){_H}*[:=]{_H}*{_VALUE}", _named, "value",
          rf"value{_Q}?{_H}*[:=]", flags=re.I),
    _rule(rf"(?P<pre>(?<![\w-])--?(?P<name>(?!-)[\w-]*?(?:{_SECRET_WORDS})){_H}+(?!-){_VALUE}", _named,
          "pass pwd secret token cred auth key", rf"{_SECRET_CHECK}{_H}+[^\s-]", flags=re.I),
    _rule(rf"(?P<pre>(?:\b(?i:mysql\w*|mariadb[\w-]*)\b[^\n|;&]*?{_H}-p|\bsshpass{_H}+-p{_H}*"
          rf"|\bredis-cli\b[^\n|;&]*?{_H}-a{_H}+){_VALUE}", _keep_groups("password"),
          "mysql mariadb redis-cli pass", r"mysql|mariadb|redis-cli|(?<=ssh)pass"),
    _rule(rf"(?P<pre>(?<![\w.-])(?P<nq>{_Q}?)(?P<name>[\w.-]*?(?:{_HINT_WORDS})[\w.-]*)(?P=nq){_H}*(?:=|:(?!//))"
          rf"{_H}*{_VALUE}", _named, "pass pwd secret token cred auth key cookie session sig",
          rf"{_SECRET_CHECK}{_Q}?{_H}*(?:=|:(?!//))|(?:{_HINT_WORDS})[\w.-]*{_Q}?{_H}*(?:=|:(?!//)){_H}*{_Q}?"
          r"[^ \n]{16}", flags=re.I),
]

_PRIVATE_KEY = _tag("private_key")
_PRIV_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PRIV_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PRIV_BLOCK = re.compile(rf"{_PRIV_BEGIN.pattern}.*?(?:{_PRIV_END.pattern}|\Z)", re.DOTALL)
_PUB_BEGIN = re.compile(r"-----BEGIN (?![A-Z0-9 ]*PRIVATE)[A-Z0-9]+(?: [A-Z0-9]+)*-----")
_ANY_END = re.compile(r"-----END [A-Z0-9]+(?: [A-Z0-9]+)*-----")
_PUB_BLOCK = re.compile(rf"{_PUB_BEGIN.pattern}.*?(?:{_ANY_END.pattern}|\Z)", re.DOTALL)
_SENTINEL = "-----BEGIN PRIVATE KEY-----"  # put before a line inside a key block, in one-line-per-line mode
_BODY = re.compile(r"[A-Za-z0-9+/]{16,76}={0,2}")
_BODY_LINES = re.compile(rf"(?m)^{_BODY.pattern}$")
_BODY_START = re.compile(r"\n[A-Za-z0-9+/]{16}")
# `- name: API_SECRET` then, on the next line, `value: ...`
_ENV_NAME = rf"(?<![\w.-])(?P<nq>{_Q}?)name(?P=nq){_H}*[:=]{_H}*(?P<q1>{_Q}?)(?P<name>[\w.-]+)(?P=q1){_H}*,?{_H}*"
# (the value line may carry the log's own prefix: `INFO     value: ...`, `2024-05-01T10:00:00Z   value: ...`)
_ENV_NEXT = re.compile(
    rf"(?P<pre>{_ENV_NAME}\n[^\n]{{0,80}}?(?<![\w.-])(?P<vq>{_Q}?)value(?P=vq){_H}*[:=]{_H}*{_VALUE}", re.I)
_ENV_TAIL = re.compile(rf"{_ENV_NAME}\Z", re.I)
_ENV_CHECK = re.compile(rf"name{_Q}?{_H}*[:=]{_H}*{_Q}?[\w.-]+{_Q}?{_H}*,?{_H}*(?:\n|\Z)")


def _is_body(line: str) -> bool:
    """A line of a private key's body: pure base64 with upper, lower and digits, random if short."""
    if not _BODY.fullmatch(line) or line.isupper() or line.islower() or not any(c.isdigit() for c in line):
        return False
    core = line.rstrip("=")
    return len(core) >= 60 or _entropy(core) >= 3.5


def _still_open(line: str, open_: bool, begin: re.Pattern[str], end: re.Pattern[str]) -> bool:
    """Whether a BEGIN … END block is open after this line, given whether it was open before."""
    if "-----" not in line:
        return open_
    at = 0
    while True:
        m = (end if open_ else begin).search(line, at)
        if m is None:
            return open_
        at, open_ = m.end(), not open_


# Where to look: literal -> (bits, check). Bit 1 marks a line for the multi-line rules, bit 2**(i+1)
# for rule i. The checks of the rules sharing a literal are joined: running a rule for nothing is
# harmless, skipping one is not. A line whose literals all fail their checks is left as it is.
_CONTEXT = 1
_USES: dict[str, list[tuple[int, str | None]]] = {
    "-----": [(_CONTEXT, "-----(?:begin|end) ")], "name": [(_CONTEXT, _ENV_CHECK.pattern)]}
for _i, _r in enumerate(_RULES):
    for _lit in _r.literals:
        _USES.setdefault(_lit, []).append((2 << _i, _r.check))
_ANCHORS: dict[str, tuple[int, LazyRegex | None]] = {
    literal: (
        sum(bit for bit, _ in uses),
        None if any(c is None for _, c in uses) else LazyRegex("|".join(f"(?:{c})" for _, c in uses)),
    )
    for literal, uses in _USES.items()
}


# one regex call tells a short text holds no literal at all (cheaper there than one find per literal)
_ANY_FOLDED, _ANY_EXACT = (
    re.compile("|".join(re.escape(lit) for lit in sorted(_ANCHORS) if lowercase == (lit == lit.lower())))
    for lowercase in (True, False)
)


_LONG = 2000  # characters: a text this long is searched for every literal at once (one pass, not one a literal)


@functools.cache
def _finders() -> tuple[Any, list[str], Any, list[str]] | None:
    """Aho-Corasick automatons of the lowercase literals (searched in the folded text) and of the others
    (in the text as it is); None without the `ahocorasick_rs` wheel."""
    try:
        from ahocorasick_rs import AhoCorasick
    except ImportError:
        return None
    folded = [lit for lit in _ANCHORS if lit == lit.lower()]
    exact = [lit for lit in _ANCHORS if lit != lit.lower()]
    return AhoCorasick(folded), folded, AhoCorasick(exact), exact


def _anchored_by_automaton(text: str, folded: str, lines: dict[int, int],
                           finders: tuple[Any, list[str], Any, list[str]]) -> None:
    """The lines where a literal passes its check, every literal found in one pass (a long text: a
    findings file, a log; `find` a literal read a 400 KB log tail 55 times, 16 ms; this takes 2.4)."""
    for finder, literals, hay in ((finders[0], finders[1], folded), (finders[2], finders[3], text)):
        for index, at, _ in finder.find_matches_as_indexes(hay, overlapping=True):
            bits, check = _ANCHORS[literals[index]]
            if check is None or check.match(hay, at):
                start = text.rfind("\n", 0, at) + 1
                lines[start] = lines.get(start, 0) | bits


def _anchored_by_find(text: str, folded: str, lines: dict[int, int]) -> None:
    """The same as `_anchored_by_automaton`, one `find` a literal (short texts, or no ahocorasick_rs)."""
    for literal, (bits, check) in _ANCHORS.items():
        hay = folded if literal == literal.lower() else text
        at = hay.find(literal)
        while at >= 0:
            if check is None or check.match(hay, at):
                start = text.rfind("\n", 0, at) + 1
                lines[start] = lines.get(start, 0) | bits
                at = hay.find("\n", at)  # nothing more to learn from this line
                if at < 0:
                    break
            at = hay.find(literal, at + 1)


def _triggers(text: str, folded: str) -> dict[int, int]:
    """For each line that may hold a secret or take part in a multi-line rule: its offset -> bits."""
    lines: dict[int, int] = {}
    finders = _finders() if len(text) > _LONG else None
    if finders is not None:
        _anchored_by_automaton(text, folded, lines, finders)
    elif len(text) > _LONG or _ANY_FOLDED.search(folded) or _ANY_EXACT.search(text):
        _anchored_by_find(text, folded, lines)
    for m in _BODY_START.finditer(text):
        lines[m.start() + 1] = lines.get(m.start() + 1, 0) | _CONTEXT
    if _BODY.match(text):
        lines[0] = lines.get(0, 0) | _CONTEXT
    return lines


def _line_rules(line: str, bits: int | None = None) -> str:
    """The line rules on one line; `bits`, from `_triggers` on this very line, saves looking again."""
    if bits is None:
        bits = _triggers(line, _fold(line)).get(0, 0)
    changed = False
    for i, rule in enumerate(_RULES):
        # once a rule changed the line, the triggers found before no longer tell: run every later rule
        if changed or bits & (2 << i):
            new = rule.regex.sub(rule.repl, line)
            changed, line = changed or new != line, new
    return line


class _Lines:
    """The state the multi-line rules carry from one line to the next."""

    def __init__(self, collapse: bool) -> None:
        self.collapse = collapse  # a key block becomes one line (as in one piece), or one tag per line
        self.in_public = False  # inside a certificate or public key: its base64 lines are kept
        self.key_open = False
        self.held: list[str] | None = None  # the lines of an open key block, when collapsing
        self.prev: str | None = None  # the previous line, once keys are redacted
        self.consumed = 0  # where in `prev` the last name/value match ended
        self.pending = False  # `prev` ends like `name: X`: the next line may be its value

    def feed(self, line: str, adjacent: bool, bits: int) -> str | None:
        """The line redacted (`bits` from `_triggers`); None while a key block is held (`flush` or a
        later line gives it)."""
        if not adjacent:
            self.prev, self.pending = None, False
        body = _PRIVATE_KEY if not self.in_public and _is_body(line) else line
        self.in_public = _still_open(line, self.in_public, _PUB_BEGIN, _ANY_END)
        was_open = self.key_open
        self.key_open = _still_open(body, was_open, _PRIV_BEGIN, _PRIV_END)
        if self.collapse and (was_open or self.key_open):
            self.held = self.held if self.held is not None else []
            self.held.append(body)
            return None if self.key_open else self.flush()
        if was_open:
            body = _PRIV_BLOCK.sub(_PRIVATE_KEY, _SENTINEL + body)
        elif "-----BEGIN " in body:
            body = _PRIV_BLOCK.sub(_PRIVATE_KEY, body)
        return self._after_keys(body, bits if body == line else None)

    def flush(self) -> str:
        text, self.held = "\n".join(self.held or []), None
        return self._after_keys(_PRIV_BLOCK.sub(_PRIVATE_KEY, text), None)

    def _after_keys(self, line: str, bits: int | None) -> str:
        prev, consumed, pending = self.prev, self.consumed, self.pending
        self.prev, self.consumed, out = line, 0, line
        if pending and prev is not None:
            joined = prev + "\n" + line
            m = _ENV_NEXT.search(joined, consumed)
            if m:  # it spans the line end: nothing in `prev` changes
                cut = len(prev) + 1
                out = (joined[: m.start()] + _named(m) + joined[m.end():])[cut:]
                self.consumed = m.end() - cut
        self.pending = "name" in _fold(line) and _ENV_TAIL.search(line, self.consumed) is not None
        return _line_rules(out, bits if out is line else None)


def _redact_text(text: str, collapse: bool) -> str:
    """Line-aware: only lines with a trigger, and the lines a multi-line rule needs, are looked at."""
    triggered = _triggers(text, _fold(text))
    starts = sorted(triggered)
    state, out = _Lines(collapse), list[str]()
    emitted, last_end, k = 0, -2, 0
    start = starts[0] if starts else -1
    while start >= 0:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if state.held is None:
            out.append(text[emitted:start])
            emitted = start
        piece = state.feed(text[start:end], start == last_end + 1, triggered.get(start, 0))
        if piece is not None:
            out.append(piece)
            emitted = end
        last_end = end
        if (state.key_open or state.pending) and end < len(text):  # a multi-line rule needs the next line
            start = end + 1
            continue
        while k < len(starts) and starts[k] <= end:
            k += 1
        start = starts[k] if k < len(starts) else -1
    if state.held is not None:
        out.append(state.flush())
        emitted = len(text)
    out.append(text[emitted:])
    return "".join(out)


def redact(text: str) -> str:
    """The text with every secret replaced by `[REDACTED:kind]`; everything else unchanged.
    Any length: a whole log file costs about the lines that hold a trigger."""
    return _redact_text(text, collapse=True) if text else text


def redact_lines(lines: Iterable[str]) -> list[str]:
    """One redacted string per given line, with the multi-line rules applied across them (a key
    block's lines each become a tag; the `value:` after `name: SECRET` is hidden; a certificate's
    lines are kept). For logs read line by line."""
    items = list(lines)
    joined = "\n".join(items)
    flat = _redact_text(joined, collapse=False).split("\n")
    if len(flat) == len(items) and joined.count("\n") == len(items) - 1:  # one line an item: as split
        return flat
    out, at = list[str](), 0
    for item in items:
        n = item.count("\n") + 1
        out.append("\n".join(flat[at: at + n]))
        at += n
    return out


def redact_one_piece(text: str) -> str:
    """Every rule over the whole text at once: the definition `redact` is tested against, and the
    baseline its cost is measured against. Slow on long texts; use `redact`."""
    spans = [m.span() for m in _PUB_BLOCK.finditer(text)]
    begins = [s for s, _ in spans]

    def body(m: re.Match[str]) -> str:
        i = bisect_right(begins, m.start()) - 1
        public = i >= 0 and m.start() < spans[i][1]
        return _PRIVATE_KEY if not public and _is_body(m[0]) else m[0]

    text = _PRIV_BLOCK.sub(_PRIVATE_KEY, _BODY_LINES.sub(body, text))
    text = _ENV_NEXT.sub(_named, text)
    for rule in _RULES:
        text = rule.regex.sub(rule.repl, text)
    return text


def redact_model(model: M) -> M:
    """A copy of a pydantic model with every string redacted, however deeply nested: fields, lists,
    tuples (NamedTuples such as LogLine stay NamedTuples), dict values (keys are names and kept),
    nested models. A list of log lines (NamedTuples with a `text`) is redacted with `redact_lines`,
    so a key or a name/value pair spread over lines is caught. Enum members are kept as they are;
    the original model is not modified."""
    return cast(M, _scrub(model))


# Strings found to hold nothing to redact, most recent last: a report says the same things many times
# (one error line in every pod, a pod's name in every step: 13,000 strings, 190 different ones at 30
# pods), and the next report, or the CLI's own pass over a report the playbook redacted, says them
# again. Only clean strings are kept: no secret outlives the redaction that found it.
CLEAN_KEPT = 4096
CLEAN_MAX_LENGTH = 2048
_clean: dict[str, None] = {}


def _redact_string(text: str) -> str:
    if text in _clean:
        return text
    out = redact(text)
    if out == text and len(text) <= CLEAN_MAX_LENGTH:
        if len(_clean) >= CLEAN_KEPT:
            _clean.pop(next(iter(_clean), ""), None)  # the oldest (threads may race here: harmless)
        _clean[text] = None
    return out


def _scrub(value: Any) -> Any:
    if isinstance(value, Enum):  # StrEnum members are str: keep them members
        return value
    if isinstance(value, str):
        return _redact_string(value)
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict) and hasattr(value, "model_copy"):  # a pydantic model
        update = {name: _scrub(getattr(value, name)) for name in fields}
        return value.model_copy(update=update)
    if isinstance(value, tuple):
        items = [_scrub(v) for v in value]
        return cast(Any, type(value))._make(items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        if value and all(hasattr(v, "_fields") and isinstance(getattr(v, "text", None), str) for v in value):
            texts = redact_lines(v.text for v in value)
            return [_scrub(v._replace(text=""))._replace(text=t) for v, t in zip(value, texts, strict=True)]
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return type(value)(_scrub(v) for v in value)
    return value
