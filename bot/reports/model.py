"""What a post-incident report is built from. Pure Python: the caller gathers it (incident, timeline, the chosen
root-cause suggestion and its runbook) and `build_report` turns it into a `Report`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEntry
from bot.suggestions.model import Runbook

from .text import CodeBlock

if TYPE_CHECKING:
    from bot.storage.suggestions import SuggestionRecord


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a runbook section: a list item (or a paragraph), its indented sub-items and its code blocks.
    Text is plain Markdown as written in the runbook (backticks kept)."""

    text: str
    subs: tuple[str, ...] = ()
    code: tuple[CodeBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class LongTermFix:
    """`1. Name: description` with sub-lines `- Description: ...`, `- Action: ...`, `- Consideration: ...`.
    An item without `Name:` has the whole item as its name and no description."""

    name: str
    description: str = ""
    action: str = ""
    consideration: str = ""
    details: tuple[str, ...] = ()  # other sub-lines, as written
    code: tuple[CodeBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class RootCauseInput:
    """The chosen root-cause suggestion (as recorded) and, when its runbook is still available, what the runbook
    says about it. Sections are Markdown bodies as written; None when the runbook (or that section) is gone."""

    runbook: str  # runbook title: "Database Connection Issues"
    error: str  # "ConnectionPoolTimeoutError"
    root_cause: str  # "Traffic Spike"
    score: float
    citation: str  # "`# Engineering Runbook: ...` -> `## Error: ...` -> `## Root Causes` -> `1. Traffic Spike: ...`"
    evidence: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()  # "Zombie Connections: no evidence mentioned", ...
    accepted: bool = False  # accepted by a responder (else: posted by the bot, not decided)
    description: str | None = None  # the runbook's RootCause.description
    remediation: str | None = None
    verification: str | None = None
    long_term: str | None = None
    long_term_fixes: tuple[LongTermFix, ...] = ()

    @classmethod
    def from_record(cls, record: SuggestionRecord, runbook: Runbook | None = None) -> RootCauseInput:
        """From a stored suggestion and the runbook it cites (None, or a runbook without that error, when it is
        gone). The remediation recorded with the suggestion is kept when the runbook no longer has one."""
        error = None
        if runbook is not None and runbook.title == record.runbook:
            error = next((e for e in runbook.errors if e.name == record.error), None)
        cause = None if error is None else next((c for c in error.root_causes if c.name == record.root_cause), None)

        def body(kind: str) -> str | None:
            section = None if error is None else error.section(kind)
            return None if section is None else section.body.strip()

        long_term = body("long_term")
        return cls(
            runbook=record.runbook,
            error=record.error,
            root_cause=record.root_cause,
            score=record.score,
            citation=record.citation,
            evidence=tuple(record.evidence),
            alternatives=tuple(record.alternatives),
            accepted=record.state == "accepted",
            description=None if cause is None else cause.description,
            remediation=body("remediation") or (record.remediation.strip() or None),
            verification=body("verification"),
            long_term=long_term,
            long_term_fixes=parse_long_term(long_term or ""),
        )


@dataclass(frozen=True, slots=True)
class SeenBeforeInput:
    """A resolved incident the channel was told had the same root cause, or evidence much like this one's ("Seen
    before")."""

    public_id: str
    title: str
    resolved_at: datetime | None
    root_cause: str | None  # the same root cause, accepted in both; None when told on the evidence
    shared: tuple[str, ...] = ()  # told on the evidence: the distinctive terms both channels said


@dataclass(frozen=True, slots=True)
class FollowupInput:
    """A follow-up action (`/incident followup`), as recorded, with its owner named."""

    number: int
    text: str  # plain text, as typed
    owner: str | None = None  # display name
    due_on: date | None = None
    done: bool = False
    done_at: datetime | None = None
    tracker: str | None = None  # "GitHub", "Jira"
    issue_id: str | None = None
    issue_url: str | None = None


@dataclass(frozen=True)
class ReportInput:
    incident: Incident
    severity_label: str  # "SEV1 · Critical"
    author: str
    generated_at: datetime
    version: str = "Draft 1"  # "Draft 1", "Draft 2", "Final"
    participants: tuple[tuple[str, str], ...] = ()  # (name, role)
    timeline: tuple[TimelineEntry, ...] = ()  # the whole timeline, oldest first, authors named
    root_cause: RootCauseInput | None = None
    channel_name: str | None = None
    user_names: Mapping[str, str] = field(default_factory=dict)  # Slack user ID -> display name, for <@U123>
    # Thread replies by the ts of the message they answer (a reply can be the result of an action).
    thread_replies: Mapping[str, tuple[TimelineEntry, ...]] = field(default_factory=dict)
    seen_before: tuple[SeenBeforeInput, ...] = ()
    followups: tuple[FollowupInput, ...] = ()  # in their order (number)


# ------------------------------------------------------------------------------------ runbook sections

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)")
_ITEM = re.compile(r"^(\s*)(?:\d+[.)]|[-*+])\s+(.*)$")
_LABELLED = re.compile(r"^(description|action|actions|consideration|considerations)\s*:\s*(.*)$", re.I | re.S)


def parse_steps(markdown: str) -> tuple[Step, ...]:
    """A section body as steps: top-level list items (numbered or bulleted) and paragraphs, each with the indented
    sub-items and continuation lines under it and the fenced code blocks inside it."""
    steps: list[tuple[list[str], list[str], list[CodeBlock]]] = []
    lines = markdown.splitlines()
    in_list_item = False
    after_blank = True
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            indent, marker, language = fence.groups()
            body: list[str] = []
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(marker):
                body.append(lines[index])
                index += 1
            index += 1  # the closing fence
            block = CodeBlock("\n".join(_dedent(b, len(indent)) for b in body).strip("\n"), language)
            if not steps:
                steps.append(([], [], []))
            steps[-1][2].append(block)
            after_blank = False
            continue
        index += 1
        if not line.strip():
            after_blank = True
            continue
        item = _ITEM.match(line)
        indent_width = len(line) - len(line.lstrip())
        if item and indent_width < 2:
            steps.append(([item.group(2).strip()], [], []))
            in_list_item = True
        elif item and steps:
            steps[-1][1].append(item.group(2).strip())
        elif indent_width and steps and (in_list_item or not after_blank):
            subs = steps[-1][1]
            if subs:
                subs[-1] = f"{subs[-1]} {line.strip()}"
            else:
                steps[-1][0].append(line.strip())
        elif steps and not after_blank and not in_list_item:
            steps[-1][0].append(line.strip())
        else:
            steps.append(([line.strip()], [], []))
            in_list_item = False
        after_blank = False
    out: list[Step] = []
    for text_lines, subs, blocks in steps:
        out.append(Step(text=" ".join(text_lines), subs=tuple(subs), code=tuple(blocks)))
    return tuple(s for s in out if s.text or s.code)


def _dedent(line: str, width: int) -> str:
    lead = len(line) - len(line.lstrip(" "))
    return line[min(width, lead) :]


def split_name(item: str) -> tuple[str, str]:
    """`Traffic Spike: Sudden increase ...` -> (name, description); the colon must be outside backticks and end
    the item or be followed by a space. No such colon: (item, "")."""
    in_code = False
    for position, char in enumerate(item):
        if char == "`":
            in_code = not in_code
        elif char == ":" and not in_code and (position + 1 == len(item) or item[position + 1] == " "):
            name = item[:position].strip()
            if name:
                return name, item[position + 1 :].strip()
    return item.strip(), ""


def parse_long_term(markdown: str) -> tuple[LongTermFix, ...]:
    fixes: list[LongTermFix] = []
    for step in parse_steps(markdown):
        if not step.text:
            continue
        name, description = split_name(step.text)
        action = consideration = ""
        details: list[str] = []
        for sub in step.subs:
            labelled = _LABELLED.match(sub)
            if labelled is None:
                details.append(sub)
                continue
            label, value = labelled.group(1).lower(), labelled.group(2).strip()
            if label == "description":
                description = f"{description} {value}".strip()
            elif label.startswith("action"):
                action = f"{action} {value}".strip()
            else:
                consideration = f"{consideration} {value}".strip()
        fixes.append(LongTermFix(name, description, action, consideration, tuple(details), step.code))
    return tuple(fixes)
