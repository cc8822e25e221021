"""The TLS trust store, loaded ahead of time in a thread.

Loading a CA bundle into an SSLContext takes ~30 ms of C work that does not hold the GIL. A
one-shot command starts it first thing (`prepare()`), so it runs on another core while the
interpreter imports everything else, and the GitHub client takes the context ready (`context()`).
What is loaded is what httpx would load itself: SSL_CERT_FILE, else SSL_CERT_DIR, else certifi's
bundle.
"""

from __future__ import annotations

import os
import ssl
import threading
from concurrent.futures import Future

_lock = threading.Lock()
_pending: Future[ssl.SSLContext] | None = None


def _load() -> ssl.SSLContext:
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def prepare() -> Future[ssl.SSLContext]:
    """Start loading the trust store in a thread (once a process); the future of its context."""
    global _pending
    with _lock:
        if _pending is not None:
            return _pending
        pending = _pending = Future()

    def work() -> None:
        try:
            pending.set_result(_load())
        except BaseException as exc:  # handed to whoever asks for the context
            pending.set_exception(exc)

    threading.Thread(target=work, name="tls-trust-store", daemon=True).start()
    return pending


def context() -> ssl.SSLContext:
    """The client context with the trust store loaded (waits for prepare(), starting it if need be)."""
    return prepare().result()
