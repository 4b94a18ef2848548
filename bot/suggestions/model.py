"""Runbooks as the engine sees them. Pure Python: no Slack, no SQL.

A runbook is a markdown file (the format is documented in runbooks/README.md):

    # Engineering Runbook: Database Connection Issues        <- title (prefix "Engineering Runbook:"/"Runbook:" dropped)
    ## Error: ConnectionPoolTimeoutError                       <- one or more errors
    ### Symptoms / ## Symptoms                                 <- nested deeper, or flat at the same level
    ### Root Causes
    1. Traffic Spike: Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.
    ### Remediation / ### Verification / ### Long-Term Fixes
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Section:
    """One part of an error section (Symptoms, Remediation, ...) as written: its heading and its markdown body."""

    kind: str  # symptoms | root_causes | remediation | verification | long_term | other
    heading: str  # the heading line as written, e.g. "## Root Causes"
    body: str  # markdown below the heading, up to the next heading of this error
    line: int  # 1-based line of the heading


@dataclass(frozen=True, slots=True)
class RootCause:
    number: int  # as written ("1." -> 1)
    name: str  # the text before the first colon: "Traffic Spike"
    description: str  # the text after it, with any indented continuation lines / sub-bullets
    line: int
    item: str  # the item line as written: "1. Traffic Spike: Sudden increase in ..."
    wordings: tuple[str, ...] = ()  # other ways people say it, from `- Said as: "...", "..."` under the item


@dataclass(frozen=True, slots=True)
class RunbookError:
    name: str  # the text after "Error:": "ConnectionPoolTimeoutError"
    heading: str  # "## Error: ConnectionPoolTimeoutError"
    line: int
    root_causes: tuple[RootCause, ...]
    sections: tuple[Section, ...]  # every section of this error except Root Causes' items (which are above)
    root_causes_heading: str | None = None  # "## Root Causes" as written, for the citation path
    wordings: tuple[str, ...] = ()  # other ways people say the error, from `- Said as: ...` in its Symptoms

    def section(self, kind: str) -> Section | None:
        return next((s for s in self.sections if s.kind == kind), None)


@dataclass(frozen=True, slots=True)
class Runbook:
    path: str  # as given to the parser (relative to the runbooks folder where possible)
    title: str  # the H1 without its "Engineering Runbook:" / "Runbook:" prefix
    heading: str  # the H1 line as written: "# Engineering Runbook: Database Connection Issues"
    errors: tuple[RunbookError, ...]
    services: tuple[str, ...] = ()  # from front matter
    keywords: tuple[str, ...] = ()  # from front matter
    intro: str = ""  # text between the H1 and the first error


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in a runbook file, for `incident-bot runbooks lint` and the engine's log."""

    path: str
    line: int
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParseResult:
    runbook: Runbook | None  # None when the file is unusable (no H1, no error section...)
    problems: tuple[Problem, ...] = field(default=())


def citation(runbook: Runbook, error: RunbookError, cause: RootCause) -> str:
    """The heading path, as in the example report:
    `# Engineering Runbook: Database Connection Issues` -> `## Error: ConnectionPoolTimeoutError` ->
    `## Root Causes` -> `1. Traffic Spike: Sudden increase in concurrent users exceeding MAX_CONNECTIONS.`"""
    parts = [runbook.heading, error.heading]
    if error.root_causes_heading:
        parts.append(error.root_causes_heading)
    parts.append(_whole_item(cause))
    # Each part is shown as code, so backticks inside it (`MAX_CONNECTIONS`) would end the code early: drop them.
    return " -> ".join(f"`{p.replace('`', '')}`" for p in parts)


def _whole_item(cause: RootCause) -> str:
    """The item as written, with the lines it wraps onto (but not its sub-bullets): a citation must not stop
    mid-sentence where the runbook's line happened to wrap."""
    lines = cause.description.splitlines()
    wrapped: list[str] = []
    for line in lines[1:]:
        if not line.strip() or line.lstrip().startswith(("-", "*", "+")) or line.lstrip()[:2].rstrip(".").isdigit():
            break
        wrapped.append(line.strip())
    return " ".join([cause.item.strip(), *wrapped])
