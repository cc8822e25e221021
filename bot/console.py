"""`opsbot console`: the Slack thread, in a terminal.

The same intake and the same `IncidentService` as the Slack app; only the sink differs:
`TerminalSink` prints what Slack would show (Block Kit turned into rich text). Checklist items and
next-step buttons are numbered as in the thread, so `tick 3` and `press 1` mean what they show.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import getpass
import html
import itertools
import os
import re
import sys
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from rich.console import Console
from rich.live import Live
from rich.text import Text

from bot import render
from bot.config import Settings
from bot.errors import OpsbotError, UsageError
from bot.redact import redact
from bot.render import FileSnippet, Message
from bot.runtime import open_runtime
from bot.store import Incident, IncidentStore
from bot.threads import IncidentService
from handlers.intake import Intake

if TYPE_CHECKING:
    from bot.sandbox import Scenario

CHANNEL = "console"
T = TypeVar("T")
PROMPT = "opsbot> "

CONSOLE_HELP = """\
Slash commands, as in Slack:
  /debug SERVICE [-n NAMESPACE] [--cluster NAME]   open an incident thread and debug SERVICE
  /verify SERVICE [-n NAMESPACE] [--cluster NAME]  verify its latest deployment
  /trace CORRELATION_ID [-n NAMESPACE] [--since 1h] [--cluster NAME]
                                                   follow one request across services by its id
  /incident status | list | close [#ID] [summary]   (close posts a postmortem draft)
  /incident note TEXT                              add a note to the incident's timeline
  /opsbot help
In the current thread:
  tick N / untick N    tick or untick checklist item N
  press N              press next-step button N
  help                 this text
  quit                 leave (also Ctrl-D)"""

_EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":warning:": "⚠️",
    ":alarm_clock:": "⏰",
    ":heavy_minus_sign:": "➖",
    ":hourglass_flowing_sand:": "⏳",
    ":white_small_square:": "▫️",
    ":red_circle:": "🔴",
    ":large_orange_circle:": "🟠",
    ":large_yellow_circle:": "🟡",
    ":large_blue_circle:": "🔵",
    ":large_green_circle:": "🟢",
    ":mag:": "🔍",
}
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def mrkdwn_to_text(mrkdwn: str, style: str = "") -> Text:
    """Slack mrkdwn as rich text: entities decoded, *bold* in bold, emoji shortcodes as emoji."""
    decoded = _SHORTCODE.sub(lambda m: _EMOJI.get(m.group(0), m.group(0)), mrkdwn.replace("```", "\n"))
    decoded = re.sub(r"<@([A-Z0-9]+)>", r"@\1", decoded)
    out = Text(style=style)
    pos = 0
    for match in _BOLD.finditer(decoded):
        out.append(html.unescape(decoded[pos : match.start()]))
        out.append(html.unescape(match.group(1)), style="bold")
        pos = match.end()
    out.append(html.unescape(decoded[pos:]))
    return out


def _text_of(obj: dict[str, Any] | None) -> str:
    return str((obj or {}).get("text", ""))


class TerminalSink:
    """A `ThreadSink` that prints. Remembers the buttons of each thread so `press N` can find them."""

    def __init__(self, console: Console, channel: str = CHANNEL, *, live: bool = False) -> None:
        self.console = console
        self.channel = channel
        # on a terminal, a run's progress is one block edited in place (rich Live), not a line an edit
        self.live = live
        self._progress: Live | None = None
        self._ts = itertools.count(1)
        self.buttons: dict[str, list[str]] = {}  # thread root ts -> button values, in the order shown
        self._thread_of: dict[str, str] = {}  # message ts -> thread root ts

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    async def post(self, message: Message, *, thread_ts: str | None = None) -> str:
        ts = self._next_ts()
        root = thread_ts or ts
        self._thread_of[ts] = root
        self._print(message, root=root, reply=thread_ts is not None)
        for snippet in message.files:
            await self.upload(snippet, thread_ts=root)
        return ts

    async def update(self, ts: str, message: Message) -> None:
        first = message.blocks[0] if message.blocks else {}
        text = _text_of(first.get("text"))
        if first.get("block_id") == render.BlockId.PROGRESS:
            lines = Text("\n").join(line for block in message.blocks for line in self._render_block(block, ts))
            if "finished" not in text:
                if not self.live:  # piped: one plain line an edit
                    self.console.print(Text("  ↻ ").append(mrkdwn_to_text(text, "dim")))
                elif self._progress is None:
                    self._progress = Live(lines, console=self.console, transient=True, refresh_per_second=8)
                    self._progress.start()
                else:
                    self._progress.update(lines)
                return
            self.stop_live()
        root = self._thread_of.get(ts, ts)
        self._print(message, root=root, reply=root != ts, updated=True)

    def stop_live(self) -> None:
        """End the in-place progress block (the run finished, failed or was cancelled)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    async def upload(self, snippet: FileSnippet, *, thread_ts: str) -> None:
        lines = snippet.content.splitlines()
        self.console.print(Text(f"  📎 {snippet.filename} · {snippet.title} · {len(lines)} lines", style="cyan"))
        # a document (the postmortem draft) is read whole; a log, from its end
        for line in lines if snippet.filename.endswith(".md") else lines[-8:]:
            self.console.print(Text("     " + line[:200], style="dim"))

    async def notify(self, user: str, message: Message, *, thread_ts: str | None = None) -> None:
        self.console.print(mrkdwn_to_text(message.text, "yellow"))

    def _print(self, message: Message, *, root: str, reply: bool, updated: bool = False) -> None:
        indent = "  │ " if reply else ""
        if updated:
            self.console.print(Text(indent + "(updated)", style="dim"))
        for block in message.blocks:
            for line in self._render_block(block, root):
                self.console.print(Text(indent).append_text(line))
        if not reply:
            self.console.print()

    def _render_block(self, block: dict[str, Any], root: str) -> Iterator[Text]:
        kind = block.get("type")
        if kind == "header":
            yield Text(_text_of(block.get("text")), style="bold reverse")
        elif kind == "section":
            yield from mrkdwn_to_text(_text_of(block.get("text"))).split("\n")
        elif kind == "context":
            joined = " ".join(_text_of(e) for e in block.get("elements") or [])
            yield from mrkdwn_to_text(joined, "dim").split("\n")
        elif kind == "divider":
            yield Text("─" * 40, style="dim")
        elif kind == "actions":
            for element in block.get("elements") or []:
                yield from self._render_element(element, root)

    def _render_element(self, element: dict[str, Any], root: str) -> Iterator[Text]:
        if element.get("type") == "checkboxes":
            ticked = {o.get("value") for o in element.get("initial_options") or []}
            for option in element.get("options") or []:
                mark = "[x]" if option.get("value") in ticked else "[ ]"
                line = Text(f"{mark} ", style="green" if mark == "[x]" else "")
                line.append_text(mrkdwn_to_text(_text_of(option.get("text"))))
                if option.get("description"):
                    line.append_text(mrkdwn_to_text(" — " + _text_of(option.get("description")), "dim"))
                yield line
        elif element.get("type") == "button":
            values = self.buttons.setdefault(root, [])
            values.append(str(element.get("value", "")))
            label = _text_of(element.get("text"))
            yield Text(f"[press {len(values)}] ", style="bold cyan").append(label)


class ConsoleSession:
    """One terminal session: reads lines, runs them through the incident service, prints the thread."""

    def __init__(self, service: IncidentService, sink: TerminalSink, *, user: str) -> None:
        self.service = service
        self.intake = Intake(service)
        self.sink = sink
        self.user = user
        self.thread_ts: str | None = None  # the thread `tick` and `press` act on

    def say(self, text: str, style: str = "yellow") -> None:
        self.sink.console.print(Text(redact(text), style=style))

    async def handle(self, line: str) -> bool:
        """Run one line; False when the session should end. Never raises for bad input."""
        line = line.strip()
        if not line:
            return True
        word, _, rest = line.partition(" ")
        try:
            if word in ("quit", "exit"):
                return False
            if word == "help":
                self.say(CONSOLE_HELP, style="")
            elif word.startswith("/"):
                await self._command(word, rest)
            elif word in ("tick", "untick"):
                await self._tick(rest, done=word == "tick")
            elif word == "press":
                await self._press(rest)
            else:
                self.say(f"unknown command {word[:40]!r}: type help")
        except OpsbotError as exc:
            self.say(str(exc))
        await self.service.drain()
        return True

    async def _command(self, command: str, text: str) -> None:
        # As in Slack, a slash command opens a new thread; /incident acts on the current one.
        thread_ts = self.thread_ts if command == "/incident" else None
        accepted = await self.intake.accept(command, text, sink=self.sink, user=self.user, thread_ts=thread_ts)
        if accepted.reply is not None:
            await self.sink.notify(self.user, accepted.reply)
        if accepted.work is not None:
            if command != "/incident":
                # a new thread: until it exists, tick, press and /incident mean no older thread
                self.thread_ts = None
            incident_box: list[Any] = []

            async def work() -> None:
                assert accepted.work is not None
                incident_box.append(await accepted.work())

            self.service.spawn(work(), sink=self.sink, user=self.user, command=accepted.command)
            await self.service.drain()
            result = incident_box[0] if incident_box else None
            if isinstance(result, Incident):
                self.thread_ts = result.thread_ts

    async def _incident(self) -> Incident:
        if self.thread_ts is None:
            raise UsageError("no incident thread yet: start one with /debug SERVICE")
        incident = await self.service.db.get_incident(self.sink.channel, self.thread_ts)
        if incident is None:
            raise UsageError("the current thread has no incident")
        return incident

    @staticmethod
    def _number(text: str, what: str) -> int:
        if not text.strip().isdigit():
            raise UsageError(f"which {what}? give its number, e.g. 3")
        return int(text.strip())

    async def _tick(self, text: str, *, done: bool) -> None:
        number = self._number(text, "item")
        incident = await self._incident()
        items = await self.service.db.checklist(incident.id)
        if not 1 <= number <= len(items):
            raise UsageError(f"there is no item {number}: the checklist has {len(items)}")
        await self.service.toggle(self.sink, incident, {items[number - 1].key: done}, user=self.user)

    async def _press(self, text: str) -> None:
        number = self._number(text, "button")
        incident = await self._incident()
        values = self.sink.buttons.get(incident.thread_ts, [])
        if not 1 <= number <= len(values):
            raise UsageError(f"there is no button {number}: the thread shows {len(values)}")
        action = render.parse_next_action(values[number - 1])
        await self.service.press(self.sink, incident, action, user=self.user)


@contextmanager
def _store_for(settings: Settings, demo: bool) -> Iterator[IncidentStore]:
    if demo:  # a demo leaves nothing behind
        with tempfile.TemporaryDirectory(prefix="opsbot-console-") as tmp:
            store = IncidentStore(Path(tmp) / "console.db")
            try:
                yield store
            finally:
                store.close()
    else:
        store = IncidentStore(settings.store.path)
        try:
            yield store
        finally:
            store.close()


async def run_console(settings: Settings, *, demo: bool, stdin: TextIO, console: Console, user: str,
                      scenario: Scenario | None = None) -> None:
    async with open_runtime(settings, demo=demo, scenario=scenario) as runtime:
        with _store_for(settings, demo or scenario is not None) as store:
            service = IncidentService(runtime, store)
            session = ConsoleSession(service, TerminalSink(console), user=user)
            interactive = stdin.isatty()
            console.print(Text("opsbot console · type help, or /debug taskflow-api", style="bold"))
            while True:
                if interactive:
                    console.print(PROMPT, end="")
                line = await asyncio.to_thread(stdin.readline)
                if not line:  # end of input
                    break
                if not interactive:
                    console.print(Text(PROMPT + line.rstrip("\n"), style="bold"))
                if not await session.handle(line):
                    break
            await service.shutdown(5.0)


HISTORY_LINES = 1000  # typed lines the console keeps between sessions


def history_file() -> Path | None:
    """Where the console keeps the lines typed, between sessions: $OPSBOT_HISTORY_FILE (empty: none kept),
    else $XDG_STATE_HOME/opsbot/console_history (~/.local/state/...); None without a home directory."""
    explicit = os.environ.get("OPSBOT_HISTORY_FILE")
    if explicit is not None:
        return Path(explicit) if explicit else None
    try:
        return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "opsbot" / "console_history"
    except (RuntimeError, KeyError):
        return None


def load_history(path: Path) -> None:
    """The lines of earlier sessions, for the arrow keys (a missing or unreadable file: none)."""
    import readline

    readline.set_history_length(HISTORY_LINES)
    with contextlib.suppress(OSError):
        readline.read_history_file(path)


def save_history(path: Path) -> None:
    """Keep this session's lines, redacted (a token pasted into a command does not stay on disk), in a
    file only the user may read. Best effort: a read-only home only loses the history."""
    import readline

    lines = [readline.get_history_item(i) for i in range(1, readline.get_current_history_length() + 1)]
    readline.clear_history()
    for line in lines:
        if line:
            readline.add_history(redact(line))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        mask = os.umask(0o077)
        try:
            readline.write_history_file(path)
        finally:
            os.umask(mask)
        path.chmod(0o600)
    except OSError:
        pass


class Shell:
    """The console on a terminal: lines read with readline (editing, arrow-key history), commands run
    on an event loop in a thread of their own, so that the main thread can take Ctrl-C at any time.
    Ctrl-C cancels the running command and returns to the prompt; a second Ctrl-C (or Ctrl-C at an
    idle prompt twice), or Ctrl-D, quits."""

    def __init__(self, settings: Settings, *, demo: bool, console: Console, user: str,
                 scenario: Scenario | None = None) -> None:
        self.settings, self.demo, self.console, self.user, self.scenario = settings, demo, console, user, scenario
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="console-loop", daemon=True)
        self.stack = AsyncExitStack()
        self.session: ConsoleSession | None = None

    def _call(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def _open(self) -> ConsoleSession:
        runtime = await self.stack.enter_async_context(
            open_runtime(self.settings, demo=self.demo, scenario=self.scenario))
        store = self.stack.enter_context(_store_for(self.settings, self.demo or self.scenario is not None))
        service = IncidentService(runtime, store)
        self.stack.push_async_callback(service.shutdown, 5.0)
        return ConsoleSession(service, TerminalSink(self.console, live=True), user=self.user)

    async def _cancel(self) -> None:
        """Stop what the last line started: its playbook runs and follow-ups, wherever they are."""
        assert self.session is not None
        for task in list(self.session.service.tasks):
            task.cancel()
        await asyncio.gather(*list(self.session.service.tasks), return_exceptions=True)
        self.session.sink.stop_live()

    def run(self) -> None:
        import readline  # noqa: F401  (imported for its effect: input() gets line editing and history)

        history = history_file()
        if history is not None:
            load_history(history)
        self.thread.start()
        try:
            self.session = self._call(self._open()).result()
            self.console.print(Text("opsbot console · type help, or /debug taskflow-api · Ctrl-C cancels, "
                                    "Ctrl-D quits", style="bold"))
            self._read()
        finally:
            if history is not None:
                save_history(history)
            with contextlib.suppress(BaseException):
                self._call(self.stack.aclose()).result(timeout=15)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)

    def _read(self) -> None:
        assert self.session is not None
        interrupted = False  # the last key was Ctrl-C: another one quits
        while True:
            try:
                line = input(PROMPT)
            except EOFError:  # Ctrl-D
                self.console.print()
                return
            except KeyboardInterrupt:
                self.console.print()
                if interrupted:
                    return
                interrupted = True
                self.console.print(Text("(Ctrl-C again or Ctrl-D to quit)", style="dim"))
                continue
            interrupted = False
            running = self._call(self.session.handle(line))
            try:
                if not running.result():
                    return
            except KeyboardInterrupt:
                running.cancel()
                with contextlib.suppress(BaseException):
                    self._call(self._cancel()).result(timeout=15)
                self.console.print(Text("cancelled (Ctrl-C again quits)", style="yellow"))
                interrupted = True


def console(settings: Settings, *, demo: bool, stdin: TextIO = sys.stdin, stdout: TextIO | None = None,
            scenario: Scenario | None = None) -> None:
    """`opsbot console [--demo | --scenario FILE]`: blocks until `quit` or the end of input."""
    out = Console(file=stdout or sys.stdout, highlight=False, emoji=False, soft_wrap=True)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "console"
    if stdin is sys.stdin and stdin.isatty() and stdout is None:
        Shell(settings, demo=demo, console=out, user=user, scenario=scenario).run()
        # Everything is closed. A cancelled call may still hold a worker thread in a socket read (a
        # cluster that does not answer) until its timeout, and the interpreter would wait for it at
        # exit: end now, as the one-shot commands do (bot/__main__.py).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    try:
        asyncio.run(run_console(settings, demo=demo, stdin=stdin, console=out, user=user, scenario=scenario))
    except KeyboardInterrupt:
        out.print()
