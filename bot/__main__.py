"""The `opsbot` console script (also `python -m bot`): the CLI, started and ended the cheap way.

A one-shot command (debug, verify, trace, patterns, redact, demo) lives for about a second, and
half of that used to be the interpreter's own bookkeeping rather than our work:

- the cyclic garbage collector, triggered over and over by the thousands of objects that
  importing kubernetes, pydantic and httpx creates, then by the snapshots of a run: nothing a
  one-shot command makes lives long enough for a cycle to matter, so it stays off;
- the teardown at exit, which frees every module and object one by one (~0.1 s): once the
  output is flushed and every resource is closed (the commands close their own), the process
  ends with os._exit and the kernel reclaims the memory at once.

The commands that reach GitHub also start loading the TLS trust store in a thread before the
imports (bot.plumbing.tls), so that it costs no time of its own.

The long-running commands (serve, console, sandbox) run with the collector on and exit normally.
"""

from __future__ import annotations

import gc
import os
import sys

LONG_RUNNING = frozenset({"serve", "console", "sandbox"})
USES_GITHUB = frozenset({"demo", "debug", "verify", "trace", "serve", "console"})


def _exit_status(code: object) -> int:
    """What sys.exit would make of a SystemExit code: None is 0, an int is itself, anything else is
    printed to stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main() -> None:
    command = sys.argv[1:2]
    if USES_GITHUB.intersection(command) and "--help" not in sys.argv:
        from bot.plumbing import tls

        tls.prepare()
    long_running = bool(LONG_RUNNING.intersection(command))
    gc.disable()
    from bot.cli import app

    if long_running:
        gc.enable()
        app()
        return
    try:
        app()
        status = 0
    except SystemExit as exc:
        status = _exit_status(exc.code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `opsbot debug ... | head`: the reader left; nothing more to say
        status = status or 1
    os._exit(status)


if __name__ == "__main__":
    main()
