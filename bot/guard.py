"""The door of `/slack/events`: a request is checked before a byte of its body is parsed.

Order: the timestamp header must be a number (else 400), within Slack's five minutes (else 401);
the `v0=` signature over `v0:{timestamp}:{body}` must match the signing secret (else 401); a
signature already seen inside the window is a replay, answered 200 and not acted on (Slack's own
retries of an event are signed anew, and Bolt's event-id dedupe handles them). Only then is the body
handed to Bolt, and whatever Bolt cannot parse is a 400 with a one-line reason, never a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import NamedTuple

WINDOW = 300  # seconds: Slack's replay window
MAX_REMEMBERED = 100_000  # signatures kept for replay detection (oldest dropped first)


class Verdict(NamedTuple):
    """What to answer instead of dispatching (status, one-line reason); `None` from `check`: go on."""

    status: int
    reason: str


class RequestGuard:
    """Signature, freshness and replay checks for Slack's signed HTTP requests (one process)."""

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # signature -> when it stops mattering

    def check(self, body: bytes, headers: Mapping[str, str]) -> Verdict | None:
        """None when the request is genuine, fresh and new; else what to answer."""
        stamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not stamp or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
            return Verdict(400, "X-Slack-Request-Timestamp is missing or not a number")
        now = self._clock()
        if abs(now - int(stamp)) > WINDOW:
            return Verdict(401, "the request is older than five minutes (or from the future)")
        if not signature.startswith("v0=") or not signature.isascii():
            return Verdict(401, "X-Slack-Signature is missing or malformed")
        expected = "v0=" + hmac.new(self._secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return Verdict(401, "the signature does not match")
        self._forget(now)
        if signature in self._seen:
            return Verdict(200, "replay ignored")
        self._seen[signature] = now + WINDOW
        if len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        return None

    def _forget(self, now: float) -> None:
        while self._seen:
            oldest, until = next(iter(self._seen.items()))
            if until > now:
                break
            del self._seen[oldest]
