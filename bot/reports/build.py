"""`build_report(input) -> Report`: everything the report templates show, computed only from the input.

Nothing is invented: every sentence is assembled from the incident, the timeline and the chosen root-cause
suggestion (with its runbook). Where the record has no data, the report says so plainly. Deterministic: no clock,
no randomness, no I/O; the same input gives the same report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import kind_label
from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry

from .model import FollowupInput, ReportInput, RootCauseInput, Step, parse_steps, split_name
from .text import (
    CodeBlock,
    Rich,
    Span,
    bold,
    code,
    from_slack,
    is_command,
    is_sql,
    join_rich,
    plain,
    rich,
    split_fences,
    strip_prompt,
    text,
    truncate,
)

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
NOT_DETERMINED = "The root cause has not been determined yet."
TITLE_LIMIT = 80
QUOTE_LIMIT = 300
LOG_STRINGS_SHOWN = 8


# ------------------------------------------------------------------------------------------ the report


@dataclass(frozen=True, slots=True)
class Fact:
    """A bullet: `**Label:** text`, then code blocks under it."""

    label: str
    text: Rich
    code: tuple[CodeBlock, ...] = ()

    @property
    def line(self) -> Rich:
        return ((bold(f"{self.label}:"), text(" ")) if self.label else ()) + self.text


@dataclass(frozen=True, slots=True)
class Item:
    """A numbered item: its title (already styled), code blocks right under it, then its bullets."""

    title: Rich
    facts: tuple[Fact, ...] = ()
    code: tuple[CodeBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class TimelineRow:
    time: str  # "2024-10-24 14:31" (UTC)
    kinds: str  # "Impact, Key event"
    author: str
    text: Rich


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: str  # "12 min", "not yet"
    detail: str = ""  # "opened 14:30 UTC, acknowledged 14:42 UTC"


@dataclass(frozen=True, slots=True)
class Participant:
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class RootCauseView:
    name: str  # "Traffic Spike"
    error: str
    runbook: str
    accepted: bool
    score: float
    statement: Rich  # "The most likely root cause for Incident ... is **Traffic Spike**: ..."
    reasoning: tuple[Fact, ...]  # Sudden Onset, Log Analysis, Correlation with Runbook, Primary Cause, others
    citation: Rich  # the heading path, each part as code
    citation_text: str  # as recorded


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    public_id: str
    severity: str  # "SEV1 · Critical"
    severity_short: str  # "SEV1"
    status: str  # the incident's status: "Resolved"
    version: str  # "Draft 1", "Final"
    author: str
    report_date: str  # "2024-10-24" (of generated_at, UTC)
    generated_at: str  # "2024-10-24 16:02 UTC"
    channel: str | None
    started_at: datetime  # UTC
    started: str  # "14:30 UTC"
    started_long: str  # "October 24, 2024, at approximately 14:30 UTC"
    start_source: str  # "the incident was opened" | "the first impact report"
    impact: Rich  # what users saw, or "User impact was not recorded."
    impact_source: str  # impact report | description | not recorded
    duration: str  # start -> resolved, or "ongoing"
    log_strings: tuple[str, ...]
    summary: tuple[Rich, ...]  # paragraphs
    root_cause: RootCauseView | None
    root_cause_missing: str  # what section 2 says when root_cause is None
    actions: tuple[Item, ...]  # 3.1, recorded
    actions_missing: str
    runbook_remediation: tuple[Item, ...]  # 3.1, suggested by the runbook (not recorded as taken)
    runbook_remediation_intro: Rich
    verifications: tuple[Item, ...]  # 3.2, recorded
    verifications_missing: str
    runbook_verification: tuple[Item, ...]
    runbook_verification_intro: Rich
    long_term_intro: Rich
    long_term: tuple[Item, ...]  # 3.3
    followups: tuple[Item, ...]  # 3.4, the follow-up actions recorded with `/incident followup`
    followups_missing: str
    timeline: tuple[TimelineRow, ...]
    metrics: tuple[Metric, ...]
    participants: tuple[Participant, ...]
    top_remediation: Rich  # one line for the Slack summary
    top_remediation_command: str | None = field(default=None)
    seen_before: tuple[Rich, ...] = field(default=())  # resolved incidents with the same root cause or evidence


# -------------------------------------------------------------------------------------------- helpers


def _utc(at: datetime) -> datetime:
    if at.tzinfo is UTC:
        return at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _hm(at: datetime) -> str:
    return f"{at:%H:%M} UTC"


def _long_date(at: datetime) -> str:
    return f"{MONTHS[at.month - 1]} {at.day}, {at.year}"


def _when(at: datetime, reference: datetime) -> str:
    """ "14:42 UTC", or "October 25, 2024 at 02:10 UTC" on another day than `reference`."""
    return _hm(at) if at.date() == reference.date() else f"{_long_date(at)} at {_hm(at)}"


def format_duration(delta: timedelta) -> str:
    """12 min, 1 h 5 min, 2 d 3 h; under a minute: "under 1 min"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return "under 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _end(plain: str) -> str:
    return "" if plain.rstrip().endswith((".", "!", "?", "…")) else "."


def _closing(sentence: str) -> str:
    """The full stop a sentence still needs: none after "done." or “done.”, one after “done” or (3 more)."""
    stripped = sentence.rstrip().rstrip("”)")
    return "" if stripped.endswith((".", "!", "?", "…")) else "."


def _one_line(plain: str) -> str:
    return " ".join(plain.split())


def _quote(plain: str, limit: int = QUOTE_LIMIT) -> Rich:
    """“text” (collapsed to one line, cut at `limit`), code spans kept."""
    return (text("“"), *rich(truncate(_one_line(plain), limit)), text("”"))


def _capitalised(value: str) -> str:
    return value[:1].upper() + value[1:] if value[:1].islower() else value


def _titled(plain: str, fallback: str) -> Rich:
    """A bold item title from a message's first line: the line that introduces a code block ("Checked
    `pg_stat_activity`:"), or the label before a colon ("Restarting: `sudo ...`" -> "Restarting"); else `fallback`."""
    first = next((line.strip() for line in plain.splitlines() if line.strip()), "")
    name, rest = split_name(first)
    if first.endswith(":") and not rest:
        title = first
    elif rest and len(name) <= TITLE_LIMIT // 2 and "`" not in name:
        title = name
    else:
        title = fallback
    title = truncate(title, TITLE_LIMIT).rstrip(" :;,-–—")
    if not title.replace("`", "").strip():
        title = fallback
    return (*(Span(s.text, code=s.code, bold=True) for s in rich(title)), bold(":"))


def _severity_short(label: str, fallback: str) -> str:
    short = re.split(r"\s+[·|–—-]\s+", label.strip(), maxsplit=1)[0].strip()
    return short or fallback.upper()


@dataclass(slots=True)
class _Entry:
    """A timeline entry with what every part of the report needs, computed once."""

    source: TimelineEntry
    at: datetime
    author: str
    plain: str  # as typed (Slack escaping undone)
    kinds: frozenset[str]

    @property
    def deleted(self) -> bool:
        return self.source.deleted


def _author(entry: TimelineEntry, names: dict[str, str]) -> str:
    if entry.author_name:
        return entry.author_name
    if entry.author_id:
        return names.get(entry.author_id, entry.author_id)
    return "incident-bot" if entry.source == "system" else "unknown"


# ------------------------------------------------------------------------------------- log strings

_EVIDENCE_ANCHOR = re.compile(r'^"(.+?)" \((?:log string|error name)')
_QUOTED = re.compile(r'"([^"\n]{3,200})"|“([^”\n]{3,200})”')
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LOG_LINE = re.compile(
    r"^(\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\[?(ERROR|ERR|WARN|WARNING|FATAL|CRITICAL|PANIC|SEVERE)\b|level=\w+"
    r"|[\w.$]*(Error|Exception)\b:|Traceback \(most recent call last\))"
)


def _log_strings_in(plain: str) -> list[str]:
    found: list[str] = []
    for part in split_fences(plain) if "```" in plain else [plain]:
        if isinstance(part, CodeBlock):
            found.extend(line.strip() for line in part.code.splitlines()[:5] if line.strip())
            continue
        spans = (m.group(1).strip() for m in _CODE_SPAN.finditer(part))
        found.extend(s for s in spans if not is_command(s) and not is_sql(s))  # commands are not log output
        outside = _CODE_SPAN.sub(" ", part)
        for match in _QUOTED.finditer(outside):
            quoted = (match.group(1) or match.group(2)).strip()
            if len(quoted.split()) >= 2:
                found.append(quoted)
        found.extend(line.strip() for line in outside.splitlines() if _LOG_LINE.match(line.strip()))
    return [truncate(s, 200) for s in found]


def _unique(values: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.lower().rstrip(".")
        if key and key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


# ---------------------------------------------------------------------------------- actions, checks


@dataclass(slots=True)
class _Parts:
    before: str  # prose before the first code block
    after: str  # prose after the last code block (empty when there is none)
    prose: str  # all prose, command lines taken out
    blocks: list[CodeBlock]  # fenced blocks, command lines, and commands/queries in `backticks`


def _parts(plain: str, queries: bool) -> _Parts:
    pieces = split_fences(plain) if "```" in plain else [plain]
    blocks: list[CodeBlock] = []
    prose: list[str] = []
    before: list[str] = []
    after: list[str] = []
    seen_block = False
    for piece in pieces:
        if isinstance(piece, CodeBlock):
            blocks.append(piece)
            seen_block = True
            after = []
            continue
        kept: list[str] = []
        for line in piece.split("\n"):
            if "`" not in line and is_command(line):
                blocks.append(CodeBlock(strip_prompt(line), "bash"))
                seen_block = True
                after = []
                continue
            kept.append(line)
            (after if seen_block else before).append(line)
        for match in _CODE_SPAN.finditer("\n".join(kept)):
            inline = match.group(1).strip()
            if is_command(inline):
                blocks.append(CodeBlock(strip_prompt(inline), "bash"))
            elif queries and is_sql(inline):
                blocks.append(CodeBlock(inline, "sql"))
        prose.append("\n".join(kept))
    return _Parts(
        before="\n".join(before).strip(),
        after="\n".join(after).strip(),
        prose="\n".join(p for p in prose if p.strip()).strip(),
        blocks=blocks,
    )


def _recorded(entry: _Entry, reference: datetime) -> Rich:
    return (text(f"{_when(entry.at, reference)} by {entry.author}"),)


def _executed(blocks: list[CodeBlock], label: str) -> Fact:
    if len(blocks) == 1 and "\n" not in blocks[0].code and len(blocks[0].code) <= 120:
        return Fact(label, (text("Executed "), code(blocks[0].code), text(".")))
    return Fact(label, (text("Executed:"),), tuple(blocks))


def _result_of(entry: _Entry, reference: datetime, see_also: str) -> Rich:
    parts = _parts(entry.plain, queries=True)
    said = parts.after or parts.before or parts.prose
    head = text(f"{_when(entry.at, reference)}, {entry.author}: ")
    if not said:
        return (head, text(f"a check was recorded ({see_also})."))
    return (head, *rich(_one_line(said)), text(_end(said)))


def _action_items(
    entries: list[_Entry], replies: dict[str, list[_Entry]], reference: datetime
) -> tuple[list[Item], list[tuple[_Entry, _Parts]]]:
    results: dict[int, _Entry] = {}
    actions: list[tuple[_Entry, _Parts]] = []
    waiting: int | None = None  # index of the latest action, until a check or another action follows it
    for entry in entries:
        if entry.deleted:
            continue
        if "action_taken" in entry.kinds:
            actions.append((entry, _parts(entry.plain, queries=False)))
            waiting = len(actions) - 1
        elif "verification" in entry.kinds and waiting is not None:
            results[waiting] = entry
            waiting = None
    items: list[Item] = []
    for index, (entry, parts) in enumerate(actions):
        facts = [Fact("Recorded", (*_recorded(entry, reference), text(": "), *rich(_one_line(parts.prose))))]
        if not parts.prose:
            facts[0] = Fact("Recorded", _recorded(entry, reference))
        if parts.blocks:
            facts.append(_executed(parts.blocks, "Action"))
        result = results.get(index)
        reply = next(iter(replies.get(entry.source.ts or "", [])), None)
        if result is not None:
            facts.append(Fact("Result", _result_of(result, reference, "see 3.2")))
        elif reply is not None:
            facts.append(Fact("Result", _result_of(reply, reference, "thread reply")))
        else:
            facts.append(Fact("Result", (text("No result was recorded (no verification or thread reply followed)."),)))
        fallback = f"Action at {_hm(entry.at)}"
        items.append(Item(_titled(parts.prose or "", fallback), tuple(facts)))
    return items, actions


def _verification_items(entries: list[_Entry], replies: dict[str, list[_Entry]], reference: datetime) -> list[Item]:
    items: list[Item] = []
    for entry in entries:
        if entry.deleted or "verification" not in entry.kinds:
            continue
        parts = _parts(entry.plain, queries=True)
        facts = [Fact("Recorded", _recorded(entry, reference))]
        title_source = parts.before or parts.prose
        if parts.blocks:
            label = "Query executed:" if any(b.language == "sql" for b in parts.blocks) else "Executed:"
            facts.append(Fact("Action", (text(label),), tuple(parts.blocks)))
            result = parts.after
        else:
            result = parts.prose
        reply = next(iter(replies.get(entry.source.ts or "", [])), None)
        if result:
            facts.append(Fact("Result", (*rich(_one_line(result)), text(_end(result)))))
        elif reply is not None:
            facts.append(Fact("Result", _result_of(reply, reference, "thread reply")))
        items.append(Item(_titled(title_source, f"Verification at {_hm(entry.at)}"), tuple(facts)))
    return items


def _step_items(steps: tuple[Step, ...]) -> list[Item]:
    items: list[Item] = []
    for step in steps:
        facts = tuple(Fact("", rich(sub)) for sub in step.subs)
        items.append(Item(rich(step.text), facts, step.code))
    return items


# ---------------------------------------------------------------------------------------- root cause

_ALTERNATIVE = re.compile(r"^(?P<name>[^:(]+?)(?: \((?P<where>[^)]*)\))?: (?P<why>.*)$", re.S)


def _citation(citation_text: str) -> Rich:
    parts = [p.strip() for p in citation_text.split(" -> ")]
    if all(p.startswith("`") and p.endswith("`") and len(p) >= 2 for p in parts):
        return join_rich([(code(p[1:-1]),) for p in parts], last=" -> ", sep=" -> ")
    return rich(citation_text)


def _citation_parts(citation_text: str) -> list[str]:
    return [p.strip().strip("`").strip() for p in citation_text.split(" -> ") if p.strip()]


def _cause_description(cause: RootCauseInput) -> str:
    if cause.description:
        lines: list[str] = []
        for line in cause.description.splitlines():
            if re.match(r"^\s*([-*+]|\d+[.)])\s", line):
                break
            lines.append(line.strip())
        return " ".join(lines).strip()
    parts = _citation_parts(cause.citation)
    if parts:
        name, description = split_name(re.sub(r"^\d+[.)]\s*", "", parts[-1]))
        if name == cause.root_cause:
            return description
    return ""


def _root_cause_view(
    incident: Incident,
    cause: RootCauseInput,
    start: datetime,
    onset: Rich,
    log_strings: tuple[str, ...],
) -> RootCauseView:
    description = _cause_description(cause)
    statement: list[Span] = [
        text(f"The most likely root cause for Incident {incident.public_id} is "),
        bold(cause.root_cause),
    ]
    if description:
        statement += [text(": "), *rich(description), text(_end(description))]
    else:
        statement.append(text("."))
    if cause.accepted:
        statement.append(text(" It was accepted by a responder."))
    else:
        statement.append(
            text(
                f" It was suggested by the bot with a confidence of {cause.score:.2f} and has not been accepted by a "
                "responder yet."
            )
        )

    reasoning = [Fact("Sudden Onset", onset)]
    if log_strings:
        shown = [(code(s),) for s in log_strings[:LOG_STRINGS_SHOWN]]
        more = len(log_strings) - LOG_STRINGS_SHOWN
        tail: Rich = (text(f" and {more} more"),) if more > 0 else ()
        reasoning.append(
            Fact(
                "Log Analysis",
                (
                    text("Messages marked as findings and the suggestion's evidence quote these log strings: "),
                    *join_rich(shown),
                    *tail,
                    text("."),
                ),
            )
        )
    else:
        reasoning.append(
            Fact("Log Analysis", (text("No log strings were quoted in findings or in the suggestion's evidence."),))
        )
    heading = next(iter(_citation_parts(cause.citation)), "")
    runbook_ref: Rich = (
        (code(heading.lstrip("#").strip()),) if heading.startswith("#") else (text(f"runbook “{cause.runbook}”"),)
    )
    reasoning.append(
        Fact(
            "Correlation with Runbook",
            (
                text("These symptoms match the documented behaviour of "),
                code(cause.error),
                text(", as outlined in the "),
                *runbook_ref,
                text(f" ({len(cause.evidence)} piece{'s' if len(cause.evidence) != 1 else ''} of evidence cited)."),
            ),
        )
    )
    listed: Rich = (
        (text("“"), text(cause.root_cause), text(": "), *rich(description), text("”"))
        if description
        else (text(f"“{cause.root_cause}”"),)
    )
    decided = (
        "It was accepted by a responder."
        if cause.accepted
        else f"It is the bot's best match (confidence {cause.score:.2f}); no responder has accepted it yet."
    )
    reasoning.append(
        Fact(
            "Primary Cause Identified",
            (text("The runbook lists "), *listed, text(f" as a root cause of this error. {decided}")),
        )
    )
    others: list[Rich] = []
    for alternative in cause.alternatives:
        match = _ALTERNATIVE.match(alternative.strip())
        if match is None:
            others.append(rich(alternative.strip()))
            continue
        where = f" ({match.group('where')})" if match.group("where") else ""
        others.append((bold(match.group("name").strip()), text(where), text(": "), *rich(match.group("why").strip())))
    if others:
        reasoning.append(Fact("Other Root Causes", (*join_rich(others, last="; ", sep="; "), text("."))))
    else:
        reasoning.append(Fact("Other Root Causes", (text("The suggestion recorded no other root causes to compare."),)))
    return RootCauseView(
        name=cause.root_cause,
        error=cause.error,
        runbook=cause.runbook,
        accepted=cause.accepted,
        score=cause.score,
        statement=tuple(statement),
        reasoning=tuple(reasoning),
        citation=_citation(cause.citation),
        citation_text=cause.citation,
    )


# --------------------------------------------------------------------------------------------- metrics


def _metrics(incident: Incident, start: datetime, severity: str, channel: str | None) -> list[Metric]:
    opened = _utc(incident.opened_at)
    order = list(Status)
    metrics = [Metric("Severity", severity)]
    if channel:
        metrics.append(Metric("Channel", f"#{channel.lstrip('#')}"))
    detail = (
        f"incident opened at {_hm(opened)}"
        if start == opened
        else (f"first impact report at {_hm(start)}; incident opened at {_when(opened, start)}")
    )
    metrics.append(Metric("Started", f"{_long_date(start)}, {_hm(start)}", detail))
    for name, status, at in (
        ("Time to acknowledge", Status.ACKNOWLEDGED, incident.acknowledged_at),
        ("Time to mitigate", Status.MITIGATED, incident.mitigated_at),
        ("Time to resolve", Status.RESOLVED, incident.resolved_at),
    ):
        if at is not None:
            moment = _utc(at)
            value = format_duration(moment - opened)
            verb = {Status.ACKNOWLEDGED: "acknowledged", Status.MITIGATED: "mitigated"}.get(status, "resolved")
            metrics.append(Metric(name, value, f"opened {_hm(opened)}, {verb} {_when(moment, opened)}"))
        elif order.index(incident.status) >= order.index(status):
            metrics.append(Metric(name, "not recorded", f"the incident skipped {status.value}"))
        else:
            metrics.append(Metric(name, "not yet"))
    if incident.resolved_at is not None:
        metrics.append(
            Metric("Duration", format_duration(_utc(incident.resolved_at) - start), "from start to resolution")
        )
    return metrics


# ------------------------------------------------------------------------------------------ the build


def build_report(data: ReportInput) -> Report:
    incident = data.incident
    names = dict(data.user_names)
    converted: dict[str, str] = {}

    def plain_of(entry: TimelineEntry) -> str:
        found = converted.get(entry.text)
        if found is None:
            found = converted[entry.text] = from_slack(entry.text, names)
        return found

    def prepared(entry: TimelineEntry) -> _Entry:
        return _Entry(entry, _utc(entry.at), _author(entry, names), plain_of(entry), frozenset(entry.kinds))

    entries = [prepared(e) for e in sorted(data.timeline, key=lambda e: _utc(e.at))]
    replies = {
        ts: [prepared(r) for r in sorted(rs, key=lambda r: _utc(r.at)) if not r.deleted and r.text.strip()]
        for ts, rs in data.thread_replies.items()
    }
    live = [e for e in entries if not e.deleted]
    opened = _utc(incident.opened_at)
    impacts = [e for e in live if "impact" in e.kinds]
    start = min([opened, *(e.at for e in impacts[:1])])
    first_impact = impacts[0] if impacts else None
    severity_short = _severity_short(data.severity_label, incident.severity)
    title = _one_line(incident.title)
    description = incident.description.strip()

    # what users saw
    if first_impact is not None:
        impact: Rich = (
            text(f"Impact reported at {_when(first_impact.at, start)} by {first_impact.author}: "),
            *_quote(first_impact.plain),
        )
        more = len(impacts) - 1
        if more:
            impact += (text(f" ({more} more impact report{'s' if more > 1 else ''} in the timeline)"),)
        impact_source = "impact report"
    elif description:
        impact = (text("The incident's description reads: "), *_quote(description))
        impact_source = "description"
    else:
        impact = (text("User impact was not recorded."),)
        impact_source = "not recorded"

    if first_impact is not None and first_impact.at <= opened:
        onset: Rich = (
            text(f"At {_hm(start)}, {first_impact.author} reported the impact: "),
            *_quote(first_impact.plain),
            text(f"; the incident was opened at {_when(opened, start)}."),
        )
        start_source = "the first impact report"
    else:
        onset = (text(f"At {_hm(opened)}, the incident was opened: “{title}”."),)
        if first_impact is not None:
            onset += (
                text(f" The first impact report followed at {_when(first_impact.at, opened)}: "),
                *_quote(first_impact.plain),
                text(_closing(first_impact.plain)),
            )
        start_source = "the incident was opened"

    # log strings: the suggestion's evidence and messages marked as findings
    found: list[str] = []
    for entry in live:
        if "finding" in entry.kinds:
            found.extend(_log_strings_in(entry.plain))
    if data.root_cause is not None:
        for line in data.root_cause.evidence:
            match = _EVIDENCE_ANCHOR.match(line)
            if match:
                found.append(match.group(1))
    log_strings = _unique(found)

    actions, raw_actions = _action_items(entries, replies, start)
    verifications = _verification_items(entries, replies, start)

    cause = data.root_cause
    view = None if cause is None else _root_cause_view(incident, cause, start, onset, log_strings)

    # runbook suggestions (never presented as taken)
    runbook_remediation: list[Item] = []
    runbook_verification: list[Item] = []
    remediation_intro: Rich = ()
    verification_intro: Rich = ()
    long_term: list[Item] = []
    if cause is None:
        long_term_intro: Rich = (
            text("No runbook-based long-term fixes can be suggested without a root cause. "),
            text(NOT_DETERMINED),
        )
    else:
        if cause.remediation:
            runbook_remediation = _step_items(parse_steps(cause.remediation))
            remediation_intro = (
                text("The runbook's remediation steps for "),
                code(cause.error),
                text(" (suggested; only the actions above were recorded as taken):"),
            )
        if cause.verification:
            runbook_verification = _step_items(parse_steps(cause.verification))
            verification_intro = (
                text("The runbook's verification steps for "),
                code(cause.error),
                text(" (suggested; only the checks above were recorded):"),
            )
        for fix in cause.long_term_fixes:
            facts: list[Fact] = []
            if fix.description:
                facts.append(Fact("Description", rich(_capitalised(fix.description))))
            if fix.action:
                facts.append(Fact("Action", rich(_capitalised(fix.action))))
            if fix.consideration:
                facts.append(Fact("Consideration", rich(_capitalised(fix.consideration))))
            facts.extend(Fact("", rich(detail)) for detail in fix.details)
            if facts or fix.code:
                title_spans = (*(Span(s.text, code=s.code, bold=True) for s in rich(fix.name)), bold(":"))
                long_term.append(Item(title_spans, tuple(facts), fix.code))
            else:
                long_term.append(Item(rich(fix.name)))
        if long_term:
            long_term_intro = (
                text(f"To prevent recurrence of incidents caused by {cause.root_cause} ("),
                code(cause.error),
                text(f"), the runbook “{cause.runbook}” suggests the following long-term solutions:"),
            )
        elif cause.long_term is None and cause.description is None and cause.verification is None:
            long_term_intro = (
                text(f"The runbook “{cause.runbook}” is no longer available, so its long-term fixes cannot be listed."),
            )
        else:
            long_term_intro = (
                text(f"The runbook “{cause.runbook}” gives no long-term fixes for "),
                code(cause.error),
                text("."),
            )

    # timeline: marked events, notes, system events
    rows: list[TimelineRow] = []
    for entry in entries:
        source = entry.source
        if not source.kinds and source.source == "message":
            continue
        kinds = ", ".join(kind_label(k) for k in source.kinds) or kind_label(source.source)
        if entry.deleted:
            body: Rich = (text("(message deleted)"),)
        else:
            body = rich(entry.plain)
            if source.edited:
                body += (text(" (edited)"),)
            if source.files:
                body += (text(" [files: " + ", ".join(f.name for f in source.files) + "]"),)
        rows.append(TimelineRow(f"{entry.at:%Y-%m-%d %H:%M}", kinds, entry.author, body))

    # top remediation, for the summary and Slack
    top_command: str | None = None
    if raw_actions:
        first_entry, first_parts = raw_actions[0]
        top: Rich = (
            text(f"{_when(first_entry.at, start)}, {first_entry.author}: "),
            *rich(truncate(_one_line(first_parts.prose), QUOTE_LIMIT)),
        )
        if not first_parts.prose and first_parts.blocks:
            top += (code(_one_line(first_parts.blocks[0].code)),)
        if first_parts.blocks:
            top_command = first_parts.blocks[0].code
    elif runbook_remediation:
        top = (text("None recorded; the runbook suggests: "), *runbook_remediation[0].title)
    else:
        top = (text("No remediation action was recorded."),)

    status_label = incident.status.label
    generated = _utc(data.generated_at)
    duration = (
        format_duration(_utc(incident.resolved_at) - start)
        if incident.resolved_at is not None
        else f"ongoing ({status_label.lower()})"
    )

    summary = _summary(
        incident=incident,
        title=title,
        severity_short=severity_short,
        start=start,
        impact=impact,
        log_strings=log_strings,
        cause=cause,
        raw_actions=raw_actions,
        long_term=[fix.name for fix in cause.long_term_fixes] if cause is not None else [],
    )

    return Report(
        title=title,
        public_id=incident.public_id,
        severity=data.severity_label,
        severity_short=severity_short,
        status=status_label,
        version=data.version,
        author=data.author,
        report_date=f"{generated:%Y-%m-%d}",
        generated_at=f"{generated:%Y-%m-%d %H:%M} UTC",
        channel=data.channel_name or incident.channel_name,
        started_at=start,
        started=_hm(start),
        started_long=f"{_long_date(start)}, at approximately {_hm(start)}",
        start_source=start_source,
        impact=impact,
        impact_source=impact_source,
        duration=duration,
        log_strings=log_strings,
        summary=summary,
        root_cause=view,
        root_cause_missing=NOT_DETERMINED,
        actions=tuple(actions),
        actions_missing="No remediation action was recorded in the timeline (no message was marked as action taken).",
        runbook_remediation=tuple(runbook_remediation),
        runbook_remediation_intro=remediation_intro,
        verifications=tuple(verifications),
        verifications_missing="No verification was recorded in the timeline (no message was marked as a verification).",
        runbook_verification=tuple(runbook_verification),
        runbook_verification_intro=verification_intro,
        long_term_intro=long_term_intro,
        long_term=tuple(long_term),
        followups=tuple(_followup_item(f) for f in sorted(data.followups, key=lambda f: f.number)),
        followups_missing="No follow-up actions were recorded.",
        timeline=tuple(rows),
        metrics=tuple(_metrics(incident, start, data.severity_label, data.channel_name or incident.channel_name)),
        participants=tuple(Participant(name, role) for name, role in data.participants),
        seen_before=tuple(
            (
                text(
                    f"{seen.public_id} ({seen.title})"
                    + (f", resolved {_utc(seen.resolved_at):%Y-%m-%d}" if seen.resolved_at else "")
                    + (
                        f": the same root cause, {seen.root_cause}, was accepted there."
                        if seen.root_cause is not None
                        else f": its channel said much the same ({', '.join(seen.shared[:6])})."
                    )
                ),
            )
            for seen in data.seen_before
        ),
        top_remediation=top,
        top_remediation_command=top_command,
    )


def _followup_item(followup: FollowupInput) -> Item:
    facts = [
        Fact("Owner", (text(followup.owner or "not assigned"),)),
        Fact("Due", (text(followup.due_on.isoformat() if followup.due_on else "no date set"),)),
    ]
    if followup.done:
        when = f" on {_long_date(_utc(followup.done_at))}" if followup.done_at is not None else ""
        facts.append(Fact("State", (text(f"Done{when}"),)))
    else:
        facts.append(Fact("State", (text("Open"),)))
    if followup.issue_url:
        facts.append(
            Fact(
                "Tracked in",
                (text(f"{followup.tracker or 'the tracker'} {followup.issue_id}: "), code(followup.issue_url)),
            )
        )
    return Item((text(_one_line(followup.text)),), tuple(facts))


def _summary(
    *,
    incident: Incident,
    title: str,
    severity_short: str,
    start: datetime,
    impact: Rich,
    log_strings: tuple[str, ...],
    cause: RootCauseInput | None,
    raw_actions: list[tuple[_Entry, _Parts]],
    long_term: list[str],
) -> tuple[Rich, ...]:
    first: list[Span] = [
        text(
            f"On {_long_date(start)}, at approximately {_hm(start)}, a {severity_short} incident was triggered due to "
            f"“{title}” ({incident.public_id})."
        ),
        text(" "),
        *impact,
    ]
    first.append(text(_closing(plain(impact))))

    second: list[Span] = []
    if log_strings:
        shown = [(code(s),) for s in log_strings[:3]]
        second += [text("Messages marked as findings quoted "), *join_rich(shown)]
        if len(log_strings) > 3:
            more = len(log_strings) - 3
            second.append(text(f" (and {more} more log string{'s' if more > 1 else ''})"))
        second.append(text(". "))
    if cause is None:
        second.append(text(NOT_DETERMINED))
    else:
        how = (
            "accepted by a responder"
            if cause.accepted
            else f"suggested by the bot with a confidence of {cause.score:.2f}, not yet accepted"
        )
        second += [
            text("The root cause was identified as "),
            bold(cause.root_cause),
            text(f" ({how}), one of the documented causes of "),
            code(cause.error),
            text(f" in the runbook “{cause.runbook}”."),
        ]
    second.append(text(" "))
    if raw_actions:
        entry, parts = raw_actions[0]
        summary_of: list[Span] = [*rich(truncate(_one_line(parts.prose), 160))] if parts.prose else []
        commands = [b.code for b in parts.blocks if "\n" not in b.code][:2]
        if commands and not any(c in parts.prose for c in commands):
            command_spans = list(join_rich([(code(c),) for c in commands]))
            summary_of = [*summary_of, text(" ("), *command_spans, text(")")] if summary_of else command_spans
        if not summary_of:
            summary_of = [text("an action without text")]
        second += [text(f"Immediate remediation recorded at {_hm(entry.at)} by {entry.author}: "), *summary_of]
        others = len(raw_actions) - 1
        if others:
            second.append(text(f" (and {others} more action{'s' if others > 1 else ''})."))
        else:
            second.append(text(_closing(plain(summary_of))))
    else:
        second.append(text("No remediation action was recorded in the timeline."))
    if long_term:
        shown_fixes = [rich(truncate(name, TITLE_LIMIT)) for name in long_term[:3]]
        second += [text(" Long-term solutions suggested by the runbook include "), *join_rich(shown_fixes)]
        if len(long_term) > 3:
            second.append(text(f" and {len(long_term) - 3} more"))
        second.append(text(_closing(plain(second))))
    elif cause is not None:
        second.append(text(" The runbook suggests no long-term solutions for this error."))

    status = incident.status
    if incident.resolved_at is not None:
        resolved = _utc(incident.resolved_at)
        closing = (
            f"The incident was resolved at {_when(resolved, start)}, {format_duration(resolved - start)} after it "
            "started."
        )
    elif status is Status.RESOLVED:
        closing = "The incident is resolved; the time of resolution was not recorded."
    elif incident.mitigated_at is not None:
        closing = f"The incident was mitigated at {_when(_utc(incident.mitigated_at), start)} and is not resolved yet."
    else:
        closing = f"The incident is still {status.label.lower()}."
    second.append(text(" " + closing))
    return (tuple(first), tuple(second))
