"""Short messages: a next-step button's result, a usage answer, a note, incident status and lists."""

from __future__ import annotations

from datetime import datetime

from bot.models import ActionResult, ChecklistItem, FileSnippet, Incident, Message
from bot.redact import redact
from bot.render.message import MAX_BLOCKS, MAX_FALLBACK, MAX_SECTION, BlockId
from bot.render.text import clean, clip, code, plain, section, slug, user
from bot.text import plural


def action_result_message(result: ActionResult, *, requested_by: str) -> Message:
    emoji = ":mag:" if result.ok else ":warning:"
    head = f"{emoji} *{clean(result.title, 200)}* · asked by {user(requested_by)}"
    blocks = [section(head, BlockId.ACTION_RESULT)]
    files: list[FileSnippet] = []
    body = result.text or "(no output)"
    lines = body.splitlines()
    if len(body) <= 2500 and len(lines) <= 40:
        blocks.append(section(code(body, 2900)))
    else:
        # The end of a log is what matters on a phone; the whole of it goes up as a file.
        tail = "\n".join(lines[-30:])
        tail = tail[-2400:]
        blocks.append(section(code(tail, 2600) + f"\n_last lines of {len(lines)}; all of it attached below_"))
        files.append(FileSnippet(filename=f"{slug(result.title)}.txt", content=redact(body),
                                 title=plain(result.title, 200)))
    return Message(text=clean(f"{result.title} (asked by {requested_by})", MAX_FALLBACK),
                   blocks=blocks, files=files)


def snapshot_message(incident: Incident, body: str, *, taken_at: datetime, requested_by: str) -> Message:
    """The incident's snapshot as a file in its thread, and how to replay it."""
    filename = f"incident-{incident.id}-{slug(incident.service)}.yaml"
    head = (f":package: Snapshot of incident #{incident.id} ({clean(incident.service, 100)}), taken "
            f"{taken_at:%Y-%m-%d %H:%M} UTC · asked by {user(requested_by)}")
    how = f"Replay it without the cluster: {code(f'opsbot debug {incident.service} --scenario {filename}', 300)}"
    return Message(text=clean(f"Snapshot of incident #{incident.id} ({incident.service})", MAX_FALLBACK),
                   blocks=[section(head, BlockId.ACTION_RESULT), section(how)],
                   files=[FileSnippet(filename=filename, content=redact(body),
                                      title=plain(f"Snapshot of incident #{incident.id}", 200))])


def usage_message(text: str) -> Message:
    body = clean(text.strip() or "(no details)", MAX_SECTION)
    return Message(text=clip(body, MAX_FALLBACK), blocks=[section(body, BlockId.USAGE)])


def note(mrkdwn: str) -> Message:
    """A one-section message of text already escaped (pieces through `clean` / `user`)."""
    text = clip(mrkdwn, MAX_SECTION)
    return Message(text=text, blocks=[section(text)])


def incident_status_message(incident: Incident, items: list[ChecklistItem]) -> Message:
    """`/incident status`: the incident in one line, then its checklist."""
    done = sum(item.done for item in items)
    lines = [
        f"*#{incident.id} {clean(incident.service)}* in `{clean(incident.namespace)}`:"
        f" {incident.status}, opened by {user(incident.opened_by)}"
        f" at {incident.opened_at:%Y-%m-%d %H:%M} UTC · checklist {done}/{len(items)}"
    ]
    if incident.status == "closed":
        lines.append(f"closed by {user(incident.closed_by)}: {clean(incident.summary or '-', 500)}")
    lines += [f"{'☑' if i.done else '☐'} {clean(i.text, 100)}" for i in items]
    return note("\n".join(lines))


def incident_list_message(incidents: list[Incident]) -> Message:
    """`/incident list`: the open incidents of a channel, newest last (at most 30)."""
    if not incidents:
        return note("No open incidents in this channel.")
    lines = [f"*{plural(len(incidents), 'open incident')}*"]
    lines += [
        f"#{i.id} {clean(i.service)} in `{clean(i.namespace)}`, opened by"
        f" {user(i.opened_by)} at {i.opened_at:%Y-%m-%d %H:%M} UTC"
        for i in incidents[:30]
    ]
    return note("\n".join(lines))


def reopened_message(by: str) -> Message:
    """What the thread says when its incident is opened again."""
    return note(f":arrows_counterclockwise: Reopened by {user(by)}")


def closed_message(by: str, summary: str | None) -> Message:
    """What the thread says when its incident is closed, with the whole summary typed."""
    text = f":white_check_mark: Closed by {user(by)}"
    return long_note(text + ": ", summary) if summary else note(text)


_PIECE = MAX_SECTION - 100  # of escaped text per section block


def _pieces(escaped: str) -> list[str]:
    """Escaped mrkdwn in pieces that fit a section, cut at a line break or a space when there is one
    in the last fifth, never inside an entity (`&amp;`)."""
    out: list[str] = []
    while len(escaped) > _PIECE:
        cut = max(escaped.rfind("\n", 0, _PIECE), escaped.rfind(" ", 0, _PIECE))
        if cut < _PIECE * 4 // 5:
            cut = _PIECE
            amp = escaped.rfind("&", cut - 5, cut)
            if amp != -1 and ";" not in escaped[amp:cut]:
                cut = amp
        out.append(escaped[:cut])
        escaped = escaped[cut:].lstrip(" ")
    return [*out, escaped]


def long_note(head: str, text: str) -> Message:
    """`head` (escaped mrkdwn) then all of a person's `text`, in as many sections as it takes: what
    someone typed is never cut (the parser bounds its length so that it fits one message)."""
    pieces = _pieces(clean(text))
    return Message(text=clip(head + pieces[0], MAX_FALLBACK),
                   blocks=[section(head + pieces[0]), *(section(piece) for piece in pieces[1:MAX_BLOCKS])])


def note_message(by: str, text: str) -> Message:
    """`/incident note TEXT`, as the thread shows it."""
    return long_note(f":memo: Note from {user(by)}: ", text)


def postmortem_message(incident: Incident, draft: FileSnippet) -> Message:
    """The postmortem draft, attached to a one-line message (the file holds the Markdown)."""
    text = (f":page_facing_up: Postmortem draft of incident #{incident.id} ({clean(incident.service, 63)}):"
            " summary, impact window, timeline, findings with evidence, the checklist, the fix, follow-ups."
            f" Also: `opsbot incident export {incident.id}`.")
    return Message(text=clip(text, MAX_FALLBACK), blocks=[section(text)], files=[draft])
