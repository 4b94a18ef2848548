"""The report for Slack, as payloads only (no calls): a summary message in Block Kit, and the full Markdown cut into
message-sized sections for when a file upload is not possible."""

from __future__ import annotations

import bisect
import re
from typing import Any

from .build import Report
from .text import Rich, mrkdwn, neutralise_pings

MAX_BLOCKS = 50  # Block Kit: blocks in one message
SECTION_TEXT_LIMIT = 3000  # Block Kit: a section's text
FIELD_TEXT_LIMIT = 2000  # Block Kit: each of a section's fields
MAX_FIELDS = 10  # Block Kit: fields in one section
HEADER_LIMIT = 150  # Block Kit: a header's plain text
CONTEXT_LIMIT = 2000  # Block Kit: each text of a context block (ours: kept under this)
MESSAGE_SECTION_LIMIT = 3000  # what `report_sections_for_slack` keeps each section under


def _fit(value: str, limit: int) -> str:
    """`value` cut to `limit` characters (with an ellipsis), never inside an `&entity;` or an open `code` span."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 3 // 4:
        cut = cut[:space]
    cut = re.sub(r"&[#A-Za-z0-9]*$", "", cut)
    if cut.count("`") % 2:
        cut = cut[: cut.rfind("`")]
    return cut.rstrip() + "…"


def _section(value: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(value, SECTION_TEXT_LIMIT)}}


def _field(label: str, value: str | Rich) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _fit(f"*{label}*\n{mrkdwn(value)}", FIELD_TEXT_LIMIT)}


def summary_blocks(report: Report, page: str | None = None) -> list[dict[str, Any]]:
    """The key facts of the report as one Slack message: title, ID, severity, status and version, start, duration
    and metrics, root cause with its citation (or "not determined"), and the top remediation. Every text is escaped
    (nothing pings) and within Block Kit's limits. `page`: the incident's page in the web view, linked when given."""
    header = neutralise_pings(" ".join(f"Post-incident report: {report.title}".split()))
    metrics = {m.name: m.value for m in report.metrics}
    fields = [
        _field("Incident", report.public_id),
        _field("Severity", report.severity),
        _field("Status", f"{report.status} · report {report.version}"),
        _field("Started", f"{report.started_at:%Y-%m-%d} {report.started}"),
        _field("Duration", report.duration),
    ]
    for name in ("Time to acknowledge", "Time to mitigate", "Time to resolve"):
        if name in metrics:
            fields.append(_field(name, metrics[name]))
    if report.channel:
        fields.append(_field("Channel", f"#{report.channel.lstrip('#')}"))

    cause = report.root_cause
    if cause is None:
        root = "*Root cause:* not determined yet."
    else:
        decided = "accepted by a responder" if cause.accepted else f"suggested, confidence {cause.score:.2f}"
        root = (
            f"*Root cause:* *{mrkdwn(cause.name)}* ({decided}): `{mrkdwn(cause.error)}` in "
            f"{mrkdwn(cause.runbook)}\n*Runbook section:* {mrkdwn(cause.citation)}"
        )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _fit(header, HEADER_LIMIT), "emoji": True}},
        {"type": "section", "fields": fields[:MAX_FIELDS]},
        _section(f"*Impact:* {mrkdwn(report.impact)}"),
        _section(root),
        _section(f"*Top remediation:* {mrkdwn(report.top_remediation)}"),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _fit(
                        f"{mrkdwn(report.version)} · generated {report.generated_at} by {mrkdwn(report.author)}"
                        + (f" · <{page}|Read it in the web view>" if page else ""),
                        CONTEXT_LIMIT,
                    ),
                }
            ],
        },
    ]
    return blocks[:MAX_BLOCKS]


# ---------------------------------------------------------------------------------------------- sections

_FENCE_LINE = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")


def _closing(opener: str) -> str:
    match = _FENCE_LINE.match(opener)
    assert match is not None
    return match.group(1) + match.group(2)


def report_sections_for_slack(markdown: str, limit: int = MESSAGE_SECTION_LIMIT) -> list[str]:
    """The whole Markdown cut into sections of at most `limit` characters, for posting as several messages.

    Cuts fall, by preference, after a blank line (between paragraphs), then at the end of a line outside code
    blocks, then at the end of a line inside a code block (that section closes the block and the next one reopens
    it with the same fence and language), and only for a line longer than `limit`, at a space (or anywhere).
    Nothing is dropped: joined together, the sections give back `markdown` exactly, except for the fence lines
    added where a code block too long for one section had to be cut.
    """
    if limit < 80:
        raise ValueError("limit must be at least 80 characters")
    if not markdown:
        return []
    lines = markdown.splitlines(keepends=True)
    ends: list[int] = []  # offset just after each line
    inside: list[str | None] = []  # the opener of the code block still open after each line
    blank: list[bool] = []
    offset = 0
    opener: str | None = None
    for line in lines:
        offset += len(line)
        bare = line.rstrip("\r\n")
        match = _FENCE_LINE.match(bare)
        if opener is None:
            if match:
                opener = bare
        elif match and not match.group(3).strip():
            open_marker = _closing(opener).lstrip()
            if match.group(2)[0] == open_marker[0] and len(match.group(2)) >= len(open_marker):
                opener = None
        ends.append(offset)
        inside.append(opener)
        blank.append(not bare.strip())

    def reopen(fence: str | None) -> str:
        return "" if fence is None or len(fence) > limit // 4 else fence + "\n"

    sections: list[str] = []
    start = 0
    prefix = ""
    first = 0  # first line ending after `start`
    total = len(markdown)
    while start < total:
        if len(prefix) + total - start <= limit:
            sections.append(prefix + markdown[start:])
            break
        paragraph = line_end = in_code = None
        index = first
        while index < len(ends) and len(prefix) + ends[index] - start <= limit:
            fence = inside[index]
            if fence is None:
                line_end = index
                if blank[index]:
                    paragraph = index
            elif len(prefix) + ends[index] - start + len(_closing(fence)) <= limit and len(fence) <= limit // 4:
                in_code = index
            index += 1
        budget = limit - len(prefix)
        chosen = None
        if paragraph is not None and ends[paragraph] - start >= budget // 2:
            chosen = paragraph
        elif line_end is not None and (ends[line_end] - start >= budget // 4 or in_code is None):
            chosen = line_end
        elif in_code is not None:
            chosen = in_code
        if chosen is not None:
            fence = inside[chosen]
            end = ends[chosen]
            closing = _closing(fence) if fence is not None and reopen(fence) else ""
            sections.append(prefix + markdown[start:end] + closing)
            prefix = reopen(fence) if closing else ""
            start = end
            first = chosen + 1
            continue
        # A line longer than a section: cut it at a space (or anywhere), closing and reopening a code block.
        line_index = bisect.bisect_right(ends, start)
        fence = inside[line_index - 1] if line_index > 0 else None
        closing = "\n" + _closing(fence) if fence is not None and reopen(fence) else ""
        room = budget - len(closing)
        piece = markdown[start : start + room]
        space = max(piece.rfind(" "), piece.rfind("\t"))
        end = start + (space + 1 if space >= room // 2 else room)
        sections.append(prefix + markdown[start:end] + closing)
        prefix = reopen(fence) if closing else ""
        start = end
        first = bisect.bisect_right(ends, start)
    return sections


def markdown_for_slack(section: str) -> str:
    """A section of the Markdown report as message text. The report's prose has `<` escaped already (md_text), but
    code spans and blocks keep what was said as typed, `<https://x|label>` included; in a Slack message that would
    be markup again (Slack reads `<…>` inside code too), so every `<` is escaped, and a table's `<br>` is a space."""
    return section.replace("<br>", " ").replace("<", "&lt;")
