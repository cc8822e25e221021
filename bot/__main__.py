"""The `opsbot` console script (also `python -m bot`): the CLI, started and ended the cheap way.

A one-shot command (debug, verify, trace, patterns, redact, demo) lives for about a second, and
half of that used to be the interpreter's own bookkeeping rather than our work:

- the cyclic garbage collector, triggered over and over by the thousands of objects that
  importing kubernetes, pydantic and httpx creates, then by the snapshots of a run: nothing a
  one-shot command makes lives long enough for a cycle to matter, so it stays off;
- the teardown at exit, which frees every module and object one by one (~0.1 s): once the
  output is flushed and every resource is closed (the commands close their own), the process
  ends with os._exit and the kernel reclaims the memory at once.

pydantic looks for plugins (package entry points) the first time it builds a model, through
`importlib.metadata` (~20-30 ms with what that imports, and ~9 ms to scan the installed packages).
opsbot has none, so its commands run with `PYDANTIC_DISABLE_PLUGINS=__all__` unless that is set
already, and the plugin loader is imported with a placeholder for `importlib.metadata`
(`bot.plumbing.later`): a set `PYDANTIC_DISABLE_PLUGINS` (even empty) keeps both as pydantic has them.

The commands that reach GitHub also start loading the TLS trust store in a thread before the
imports (bot.plumbing.tls), so that it costs no time of its own.

The regular expressions a run compiles (ours and its libraries', ~70 ms) are kept on disk as SRE
code for the next run of a one-shot command (bot.plumbing.recache).

The long-running commands (serve, console, sandbox) run with the collector on and exit normally.
"""

from __future__ import annotations

import gc
import os
import sys

LONG_RUNNING = frozenset({"serve", "console", "sandbox"})
ONE_SHOT = frozenset({"debug", "demo", "eval", "incident", "patterns", "redact", "runs", "snapshot", "trace",
                      "verify"})
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


def _without_pydantic_plugins() -> None:
    if "PYDANTIC_DISABLE_PLUGINS" in os.environ:
        return
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    from bot.plumbing.later import Later, placeholders

    with placeholders(Later("importlib.metadata", calls=("entry_points",))):
        import pydantic.plugin._loader  # noqa: F401


def main() -> None:
    command = sys.argv[1:2]
    long_running = bool(LONG_RUNNING.intersection(command))
    if not long_running:
        from bot.plumbing import recache

        # a file a command (a typo, an option, no command at all: one file for all of them)
        regex_cache = recache.cache_file(command[0] if ONE_SHOT.intersection(command) else "")
        recache.prewarm(regex_cache)
    if command and not command[0].startswith("-") and "--help" not in sys.argv:
        _without_pydantic_plugins()
    if USES_GITHUB.intersection(command) and "--help" not in sys.argv:
        from bot.plumbing import tls

        tls.prepare()
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
    recache.keep(regex_cache)  # the answer is out: what this run compiled is kept for the next one
    os._exit(status)


if __name__ == "__main__":
    main()
