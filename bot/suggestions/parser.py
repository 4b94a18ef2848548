"""Markdown runbooks -> `Runbook` objects, with the problems found on the way (for `incident-bot runbooks lint`).

The format (runbooks/README.md has the full description):

    ---                                   <- optional YAML front matter: services, keywords
    services: [user-service]
    ---
    # Engineering Runbook: Database Connection Issues
    ## Error: ConnectionPoolTimeoutError  <- any level >= 2; "Error -" and "Error –" work too
    ### Symptoms                          <- nested (deeper than the error) or flat (same level)
    ### Root Causes
    1. Traffic Spike: Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.
    ### Remediation / ### Verification / ### Long-Term Fixes

Pure Python: no Slack, no SQL. The parser never raises on bad input; it reports a `Problem` and goes on.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .model import ParseResult, Problem, RootCause, Runbook, RunbookError, Section

__all__ = ["SECTION_KINDS", "load_runbooks", "parse_runbook", "section_kind"]

SECTION_KINDS: dict[str, tuple[str, ...]] = {
    "symptoms": (
        "symptoms",
        "symptom",
        "signs",
        "indicators",
        "detection",
        "how it shows",
        "how it shows up",
        "alerts",
    ),
    "root_causes": (
        "root causes",
        "root cause",
        "causes",
        "possible causes",
        "likely causes",
        "common causes",
        "probable causes",
        "possible root causes",
        "likely root causes",
        "common root causes",
    ),
    "remediation": (
        "remediation",
        "mitigation",
        "immediate actions",
        "immediate action",
        "immediate remediation",
        "immediate mitigation",
        "resolution",
        "fix",
        "fixes",
        "workaround",
        "workarounds",
        "steps",
    ),
    "verification": (
        "verification",
        "verify",
        "validation",
        "diagnosis",
        "diagnostics",
        "investigation",
        "checks",
        "troubleshooting",
    ),
    "long_term": (
        "long term fixes",
        "long term fix",
        "long term remediation",
        "long term solutions",
        "long term solution",
        "prevention",
        "follow up",
        "follow ups",
        "followup",
        "followups",
        "permanent fix",
        "permanent fixes",
    ),
}
_KIND_OF_NAME = {name: kind for kind, names in SECTION_KINDS.items() for name in names}

_ATX = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$")
_ATX_CLOSING = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_SETEXT_H1 = re.compile(r"^ {0,3}=+[ \t]*$")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_NUMBERED_ITEM = re.compile(r"^( *)(\d{1,9})([.)])([ \t]+|$)(.*)$")
_BULLET_ITEM = re.compile(r"^( *)([-*+])([ \t]+|$)(.*)$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_ERROR_HEADING = re.compile(r"^error(?:\s*:|\s+[-–—](?=\s|$)|\s*[–—])\s*(?P<name>.*)$", re.IGNORECASE)
_TITLE_PREFIX = re.compile(r"^(?:engineering\s+)?runbook\s*(?::|\s[-–—]\s|[–—])\s*", re.IGNORECASE)
_SECTION_NUMBERING = re.compile(
    r"^(?:(?:step|part|section|phase)\s*\d+[a-z]?|\d+(?:\.\d+)*[a-z]?|[a-z])\s*(?:[.):]|\s[-–—])?\s+",
    re.IGNORECASE,
)
_CAUSE_HEADING_NUMBER = re.compile(r"^(?:(?:root\s+)?cause\s*)?#?(\d{1,9})\s*(?:[.):]|\s[-–—])?\s+", re.IGNORECASE)
# `- Said as: "pool is maxed out", "no free connections"`: other wordings of a root cause (under its item) or of an
# error (in its Symptoms), each in double quotes.
_SAID_AS = re.compile(
    r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?(?:said as|also said|other wordings?)(?:\*\*|__)?\s*:(?:\*\*|__)?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_WORDING = re.compile(r"[\"“]([^\"“”\n]+)[\"”]")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_FRONT_MATTER_KEYS = ("services", "keywords")


# --- lines ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    number: int  # 1-based
    text: str
    code: bool = False  # inside a fenced code block, or one of its fences, or inside an HTML comment
    fence_open: bool = False  # the opening fence of a code block
    heading_level: int = 0  # 1..6 for a heading, else 0
    heading_text: str = ""  # the heading's text, without the #s
    underline: bool = False  # the ===== under a setext heading: belongs to the heading, not to any body

    @property
    def blank(self) -> bool:
        return not self.text.strip()

    @property
    def written(self) -> str:
        """The line as written, without indentation and trailing spaces (as quoted in citations)."""
        return self.text.strip()


def _scan(lines: list[_Line], path: str, problems: list[Problem]) -> None:
    """Mark fenced code, HTML comments and headings. A `#` or `1.` inside a code block is content."""
    fence: tuple[str, int, _Line] | None = None  # (character, length, opening line)
    in_comment = False
    for i, line in enumerate(lines):
        text = line.text
        if fence is not None:
            line.code = True
            m = _FENCE.match(text)
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= fence[1] and not m.group(3).strip():
                fence = None
            continue
        if in_comment:
            line.code = True
            in_comment = "-->" not in text
            continue
        m = _FENCE.match(text)
        if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            line.code = line.fence_open = True
            fence = (m.group(2)[0], len(m.group(2)), line)
            continue
        stripped = text.lstrip(" ")
        if len(text) - len(stripped) <= 3 and stripped.startswith("<!--"):
            line.code = True
            in_comment = "-->" not in stripped[4:]
            continue
        m = _ATX.match(text)
        if m:
            line.heading_level = len(m.group(1))
            line.heading_text = _ATX_CLOSING.sub("", m.group(2).strip()).strip()
            continue
        if _SETEXT_H1.match(text) and i > 0:
            previous = lines[i - 1]
            if _is_paragraph_line(previous):
                previous.heading_level = 1
                previous.heading_text = previous.text.strip()
                line.underline = True
    if fence is not None:
        problems.append(Problem(path, fence[2].number, "code fence is never closed; the rest of the file is code"))


def _is_paragraph_line(line: _Line) -> bool:
    text = line.text
    return not (
        line.blank
        or line.code
        or line.heading_level
        or line.underline
        or len(text) - len(text.lstrip(" ")) >= 4
        or _NUMBERED_ITEM.match(text)
        or _BULLET_ITEM.match(text)
        or text.lstrip().startswith(">")
        or _THEMATIC_BREAK.match(text)
    )


def _body(lines: Iterable[_Line]) -> str:
    """Markdown of some lines, without leading/trailing blank lines (and without setext underlines)."""
    texts = [line.text.rstrip() for line in lines if not line.underline]
    while texts and not texts[0].strip():
        texts.pop(0)
    while texts and not texts[-1].strip():
        texts.pop()
    return "\n".join(texts)


# --- names ------------------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Inline markdown -> text: links to their text, no emphasis markers, no backticks."""
    text = _LINK.sub(r"\1", text).replace("`", "")
    text = re.sub(r"\*+", "", text)
    text = re.sub(r"(?:(?<=\s)|^)_+|_+(?=\s|$|[:.,;!?])", "", text)
    return " ".join(text.split())


def section_kind(heading_text: str) -> str:
    """ "Root Causes", "2. Possible causes:", "Step 3: Verify", "**Long-Term Fixes**" -> their kind; else "other"."""
    name = _normalize_section_name(heading_text)
    kind = _KIND_OF_NAME.get(name)
    if kind:
        return kind
    for suffix in (" steps", " step", " checks", " actions"):
        if name.endswith(suffix) and _KIND_OF_NAME.get(name.removesuffix(suffix)):
            return _KIND_OF_NAME[name.removesuffix(suffix)]
    parts = [p.strip() for p in re.split(r"\s*(?:&|/|\+|,|\band\b)\s*", name) if p.strip()]
    if len(parts) > 1 and all(p in _KIND_OF_NAME for p in parts):
        return _KIND_OF_NAME[parts[0]]
    return "other"


def _normalize_section_name(text: str) -> str:
    name = _plain(text)
    name = re.sub(r"^[^\w(]+", "", name)  # emoji and other decorations in front
    name = _SECTION_NUMBERING.sub("", name, count=1)
    name = re.sub(r"\s*\([^)]*\)\s*$", "", name)  # "Root Causes (most likely first)"
    name = name.rstrip(" :.-–—").lower()
    name = re.sub(r"[-–—_]", " ", name)
    return " ".join(name.split())


def _error_name(heading_text: str) -> str | None:
    """The name in an `Error:` heading ("" when there is none), or None when the heading is not an error's."""
    text = re.sub(r"^(?:\*\*|__|\*|_)(?=error)", "", _strip_wrapping_emphasis(heading_text), flags=re.IGNORECASE)
    m = _ERROR_HEADING.match(text)
    if not m:
        return None
    name = m.group("name").strip()
    name = re.sub(r"^(\*\*|__)\s*", "", name)  # "**Error:** Name"
    name = _strip_wrapping_emphasis(name).strip()
    while len(name) >= 2 and name[0] == "`" and name[-1] == "`":
        name = name[1:-1].strip()
    return name


def _strip_wrapping_emphasis(text: str) -> str:
    m = re.match(r"^(\*\*|__|\*|_)(.*)\1$", text.strip())
    return m.group(2).strip() if m else text


def _runbook_title(heading_text: str) -> str:
    title = _strip_wrapping_emphasis(heading_text)
    stripped = _TITLE_PREFIX.sub("", title, count=1).strip()
    return stripped or title


def _first_colon(text: str) -> int:
    """Index of the first `:` outside inline code, or -1."""
    in_code = False
    for i, ch in enumerate(text):
        if ch == "`":
            in_code = not in_code
        elif ch == ":" and not in_code:
            return i
    return -1


def _split_name(text: str) -> tuple[str, str] | None:
    """ "**Traffic Spike:** Sudden ..." -> ("Traffic Spike", "Sudden ..."); None when there is no colon."""
    colon = _first_colon(text)
    if colon < 0:
        return None
    name = _plain(text[:colon])
    rest = text[colon + 1 :]
    rest = re.sub(r"^\s*(?:\*{1,3}|_{1,3})(?=\s|$)", "", rest)  # closing "**" of "**Name:**"
    return name, rest.strip()


# --- front matter -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _FrontMatter:
    services: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    end: int = 0  # index of the first line after it


def _front_matter(lines: list[_Line], path: str, problems: list[Problem]) -> _FrontMatter:
    if not lines or lines[0].text.rstrip() != "---":
        return _FrontMatter()
    close = next((i for i in range(1, len(lines)) if lines[i].text.rstrip() in ("---", "...")), None)
    if close is None:
        problems.append(Problem(path, 1, "front matter is never closed with a `---` line; it is ignored"))
        return _FrontMatter()
    result = _FrontMatter(end=close + 1)
    source = "\n".join(line.text for line in lines[1:close])
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = 2 + mark.line if mark is not None else 1
        reason = getattr(e, "problem", None) or str(e).splitlines()[0]
        problems.append(Problem(path, min(line, close), f"front matter is not valid YAML ({reason}); it is ignored"))
        return result
    if data is None:
        return result
    if not isinstance(data, dict):
        problems.append(Problem(path, 1, "front matter must be a mapping such as `services: [api]`; it is ignored"))
        return result
    for key in _FRONT_MATTER_KEYS:
        if key not in data or data[key] is None:
            continue
        values = _string_list(data[key])
        if values is None:
            line = next((lines[i].number for i in range(1, close) if lines[i].text.startswith(f"{key}:")), 1)
            problems.append(Problem(path, line, f"front matter `{key}` must be a list of strings; it is ignored"))
            continue
        setattr(result, key, values)
    return result


def _string_list(value: object) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return None


# --- errors, sections and root causes ---------------------------------------------------------------------------


@dataclass(slots=True)
class _SectionParts:
    heading: _Line
    kind: str
    lines: list[_Line] = field(default_factory=list)


def _sections(scope: list[_Line]) -> list[_SectionParts]:
    """Split an error's lines into its sections. Text before the first section heading belongs to none."""
    sections: list[_SectionParts] = []
    current: _SectionParts | None = None
    for line in scope:
        if line.heading_level:
            kind = section_kind(line.heading_text)
            if kind != "other" or current is None or line.heading_level <= current.heading.heading_level:
                current = _SectionParts(line, kind)
                sections.append(current)
                continue
        if current is not None:
            current.lines.append(line)
    return sections


@dataclass(slots=True)
class _Item:
    line: _Line
    number: int
    first: str  # the text after the list marker
    marker_end: int  # column where the text starts
    more: list[_Line] = field(default_factory=list)


def _list_items(lines: list[_Line]) -> list[_Item]:
    """The top-level items of the first list in these lines (numbered, or bullets), with their continuation lines.

    Items of the list's other kind ("- detail" under "1. Cause: ...") and indented lines belong to the item above;
    a blank line followed by an unindented paragraph ends the item."""
    items: list[_Item] = []
    numbered: bool | None = None
    base = 0
    current: _Item | None = None
    previous_blank = False
    fence_owned = False  # the code block being read belongs to the current item
    for line in lines:
        text = line.text
        indent = len(text) - len(text.lstrip(" "))
        if line.code:
            if line.fence_open:
                fence_owned = current is not None and indent >= 2
                if not fence_owned:
                    current = None
            if fence_owned and current is not None:
                current.more.append(line)
            previous_blank = False
            continue
        if line.blank:
            if current is not None:
                current.more.append(line)
            previous_blank = True
            continue
        num = _NUMBERED_ITEM.match(text)
        bullet = None if num else _BULLET_ITEM.match(text)
        if _THEMATIC_BREAK.match(text):
            num = bullet = None
        item_match = num or bullet
        if item_match and numbered is None and indent <= 3:
            numbered = num is not None
            base = indent
        is_main = item_match is not None and (num is not None) == numbered and indent <= base + 1
        if is_main and item_match is not None:
            ordinal = len(items) + 1
            if num is not None:
                number, first, start = int(num.group(2)), num.group(5), num.start(5)
            else:
                number, first, start = ordinal, item_match.group(4), item_match.start(4)
            current = _Item(line, number, first.strip(), start)
            items.append(current)
        elif current is not None and (not previous_blank or indent >= 2 or item_match is not None):
            current.more.append(line)
        else:
            current = None
        previous_blank = False
    return items


def _wordings(lines: Iterable[_Line], path: str, problems: list[Problem]) -> tuple[str, ...]:
    """The wordings of `Said as:` lines among these lines (code blocks excluded)."""
    found: list[str] = []
    for line in lines:
        m = None if line.code else _SAID_AS.match(line.text)
        if m is None:
            continue
        quoted = [w.strip() for w in _WORDING.findall(m.group("rest")) if w.strip()]
        if not quoted:
            problems.append(
                Problem(
                    path,
                    line.number,
                    'a `Said as:` line lists no wording; put each one in double quotes: `- Said as: "pool is maxed '
                    'out", "no free connections"`',
                )
            )
            continue
        for wording in quoted:
            if len(wording.split()) < 2:
                problems.append(
                    Problem(
                        path,
                        line.number,
                        f'wording "{wording}" is a single word: it counts no more than that word does anywhere else; '
                        "write the phrase people say",
                        "warning",
                    )
                )
        found.extend(quoted)
    return tuple(dict.fromkeys(found))


def _ignored_wordings(lines: Iterable[_Line], where: str, path: str, problems: list[Problem]) -> None:
    """A `Said as:` line where it is not read: say so (it would otherwise be silently ignored)."""
    for line in lines:
        if not line.code and _SAID_AS.match(line.text):
            problems.append(
                Problem(
                    path,
                    line.number,
                    f"`Said as:` {where} is not read; put it under a root cause (a sub-bullet) or in Symptoms",
                    "warning",
                )
            )


def _item_description(first: str, more: list[_Line]) -> str:
    continuation = textwrap.dedent("\n".join(line.text.rstrip() for line in more)).strip("\n")
    parts = [p for p in (first.strip(), continuation.strip()) if p]
    return "\n".join(parts)


def _root_causes(section: _SectionParts, path: str, problems: list[Problem]) -> list[RootCause]:
    """Numbered (or bulleted) items under Root Causes; else its sub-headings ("### 1. Traffic Spike")."""
    direct: list[_Line] = []
    for line in section.lines:
        if line.heading_level:
            break
        direct.append(line)
    items = _list_items(direct)
    first_item = items[0].line.number if items else None
    _ignored_wordings(
        [line for line in direct if first_item is None or line.number < first_item],
        "before the first root cause",
        path,
        problems,
    )
    causes: list[RootCause] = []
    if items:
        for item in items:
            if _SAID_AS.match(item.first):
                problems.append(
                    Problem(
                        path,
                        item.line.number,
                        "`Said as:` is listed as a root cause of its own; indent it as a sub-bullet under the root "
                        'cause it words (`   - Said as: "..."`)',
                    )
                )
                continue
            split = _split_name(item.first)
            if split is None or not split[0]:
                problems.append(Problem(path, item.line.number, "root cause has no name; write `N. Name: description`"))
                continue
            name, rest = split
            causes.append(
                RootCause(
                    number=item.number,
                    name=name,
                    description=_item_description(rest, item.more),
                    line=item.line.number,
                    item=item.line.written,
                    wordings=_wordings(item.more, path, problems),
                )
            )
        return causes
    return _heading_causes(section.lines[len(direct) :], path, problems)


def _heading_causes(lines: list[_Line], path: str, problems: list[Problem]) -> list[RootCause]:
    headings = [line for line in lines if line.heading_level]
    if not headings:
        return []
    level = min(h.heading_level for h in headings)
    cause_headings = [h for h in headings if h.heading_level == level]
    any_numbered = any(_CAUSE_HEADING_NUMBER.match(_plain(h.heading_text)) for h in cause_headings)
    causes: list[RootCause] = []
    current: tuple[_Line, int, str, str] | None = None  # heading, number, name, first description line
    body: list[_Line] = []

    def finish() -> None:
        if current is None:
            return
        heading, number, name, first = current
        description = "\n".join(p for p in (first, _body(body)) if p)
        wordings = _wordings(body, path, problems)
        causes.append(RootCause(number, name, description, heading.number, heading.written, wordings))

    for line in lines:
        if line.heading_level == level:
            finish()
            current, body = None, []
            text = _plain(line.heading_text)
            m = _CAUSE_HEADING_NUMBER.match(text)
            if any_numbered and not m:
                continue  # "#### Notes" among "#### 1. ...", "#### 2. ..."
            number = int(m.group(1)) if m else len(causes) + 1
            text = text[m.end() :] if m else text
            split = _split_name(text)
            name, first = split if split is not None else (text.strip(), "")
            if not name:
                problems.append(Problem(path, line.number, "root cause has no name; write `N. Name: description`"))
                continue
            current = (line, number, name, first)
        elif current is not None:
            body.append(line)
    finish()
    return causes


def _parse_error(heading: _Line, name: str, scope: list[_Line], path: str, problems: list[Problem]) -> RunbookError:
    parts = _sections(scope)
    first_section = parts[0].heading.number if parts else None
    _ignored_wordings(
        [line for line in scope if first_section is None or line.number < first_section],
        f"in error `{name}` before its first section",
        path,
        problems,
    )
    sections: list[Section] = []
    causes: list[RootCause] = []
    causes_heading: _Line | None = None
    wordings: list[str] = []
    for index, part in enumerate(parts):
        body = _body(part.lines)
        sections.append(Section(part.kind, part.heading.written, body, part.heading.number))
        if part.kind == "symptoms":
            wordings.extend(_wordings(part.lines, path, problems))
        elif part.kind != "root_causes":
            for line in part.lines:
                if not line.code and _SAID_AS.match(line.text):
                    problems.append(
                        Problem(
                            path,
                            line.number,
                            f"`Said as:` is read under a root cause or in Symptoms, not in `{part.heading.written}`",
                            "warning",
                        )
                    )
        following = parts[index + 1].heading if index + 1 < len(parts) else None
        empty = not body.strip()
        if empty:
            _report_empty(part, following, path, problems)
        if part.kind != "root_causes":
            continue
        if causes_heading is not None:
            problems.append(
                Problem(
                    path,
                    part.heading.number,
                    f"second Root Causes section in error `{name}` (first at line {causes_heading.number}); "
                    "its causes are added to the first's",
                    "warning",
                )
            )
        else:
            causes_heading = part.heading
        if empty:
            continue
        found = _root_causes(part, path, problems)
        if not found and not _has_item(part.lines):
            problems.append(
                Problem(
                    path,
                    part.heading.number,
                    f"Root Causes of error `{name}` lists no root cause; write `1. Name: description`",
                )
            )
        causes.extend(found)
    if causes_heading is None:
        problems.append(Problem(path, heading.number, f"error `{name}` has no root causes (no `Root Causes` section)"))
    names: dict[str, int] = {}
    for cause in causes:
        key = cause.name.casefold()
        if key in names:
            problems.append(
                Problem(
                    path,
                    cause.line,
                    f"root cause `{cause.name}` appears twice in error `{name}` (also at line {names[key]})",
                    "warning",
                )
            )
        names.setdefault(key, cause.line)
    said: dict[str, RootCause] = {}
    for cause in causes:
        for wording in cause.wordings:
            other = said.setdefault(wording.casefold(), cause)
            if other is not cause:
                problems.append(
                    Problem(
                        path,
                        cause.line,
                        f'wording "{wording}" is given for `{cause.name}` and for `{other.name}` of error `{name}`: '
                        "it cannot tell them apart",
                        "warning",
                    )
                )
    if not any(s.kind == "symptoms" for s in sections):
        problems.append(
            Problem(path, heading.number, f"error `{name}` has no Symptoms section; matching relies on it", "warning")
        )
    return RunbookError(
        name=name,
        heading=heading.written,
        line=heading.number,
        root_causes=tuple(causes),
        sections=tuple(sections),
        root_causes_heading=causes_heading.written if causes_heading is not None else None,
        wordings=tuple(dict.fromkeys(wordings)),
    )


def _has_item(lines: list[_Line]) -> bool:
    return any(not line.code and (_NUMBERED_ITEM.match(line.text) or _BULLET_ITEM.match(line.text)) for line in lines)


def _report_empty(part: _SectionParts, following: _Line | None, path: str, problems: list[Problem]) -> None:
    heading = part.heading
    if part.kind == "root_causes":
        problems.append(Problem(path, heading.number, f"empty section `{heading.written}`: list the root causes"))
    elif part.kind != "other" or following is None or following.heading_level <= heading.heading_level:
        problems.append(Problem(path, heading.number, f"empty section `{heading.written}`", "warning"))


# --- runbooks ---------------------------------------------------------------------------------------------------


def parse_runbook(text: str, path: str) -> ParseResult:
    """Parse one runbook. `runbook` is None when the file is unusable (no H1 title, or no usable `Error:` section);
    `problems` lists everything wrong with it, each with its 1-based line."""
    problems: list[Problem] = []
    text = text.removeprefix("\ufeff")
    lines = [_Line(n, t.removesuffix("\r")) for n, t in enumerate(text.split("\n"), start=1)]
    front = _front_matter(lines, path, problems)
    body = lines[front.end :]
    _scan(body, path, problems)
    headings = [line for line in body if line.heading_level]

    title = next((h for h in headings if h.heading_level == 1), None)
    if title is None:
        problems.append(Problem(path, 1, "missing H1 title; start with `# Runbook: <title>`"))
    else:
        if headings[0] is not title:
            problems.append(
                Problem(path, title.number, "the H1 title should be the first heading of the file", "warning")
            )
        for extra in (h for h in headings if h.heading_level == 1 and h is not title):
            problems.append(
                Problem(path, extra.number, "second H1 heading; the runbook's title is the first one", "warning")
            )

    error_headings = [
        (h, name) for h in headings if h.heading_level >= 2 and (name := _error_name(h.heading_text)) is not None
    ]
    errors: list[RunbookError] = []
    seen: dict[str, int] = {}
    inside: set[int] = set()  # line numbers of headings within some error's scope
    for heading, name in error_headings:
        start = body.index(heading) + 1
        end = start
        while end < len(body):
            line = body[end]
            if line.heading_level and (
                line.heading_level < heading.heading_level or _error_name(line.heading_text) is not None
            ):
                break
            end += 1
        scope = body[start:end]
        inside.update(line.number for line in scope if line.heading_level)
        if not name:
            problems.append(Problem(path, heading.number, "error heading has no name; write `## Error: <name>`"))
            continue
        key = name.casefold()
        if key in seen:
            problems.append(Problem(path, heading.number, f"duplicate error `{name}` (also at line {seen[key]})"))
        else:
            seen[key] = heading.number
        errors.append(_parse_error(heading, name, scope, path, problems))

    error_lines = {h.number for h, _ in error_headings}
    for h in headings:
        if h.heading_level >= 2 and h.number not in inside and h.number not in error_lines:
            kind = section_kind(h.heading_text)
            if kind != "other":
                problems.append(
                    Problem(
                        path,
                        h.number,
                        f"`{h.written}` is not under an `Error:` heading, so it belongs to no error",
                        "warning",
                    )
                )

    if not error_headings:
        where = title.number if title is not None else 1
        hint = next((h for h in headings if h.heading_level >= 2 and h.heading_text.lower().startswith("error")), None)
        message = "no `Error:` section; add a heading such as `## Error: ConnectionPoolTimeoutError`"
        if hint is not None:
            message += f" (line {hint.number}, `{hint.written}`, needs the colon)"
        problems.append(Problem(path, where, message))

    if title is not None and errors:
        start, end = body.index(title) + 1, body.index(error_headings[0][0])
        _ignored_wordings(body[start:end], "in the runbook's intro", path, problems)
    problems.sort(key=lambda p: p.line)
    if title is None or not errors:
        return ParseResult(None, tuple(problems))
    first_error = body.index(error_headings[0][0])
    intro = _body(body[body.index(title) + 1 : first_error])
    runbook = Runbook(
        path=path,
        title=_runbook_title(title.heading_text),
        heading=title.written,
        errors=tuple(errors),
        services=front.services,
        keywords=front.keywords,
        intro=intro,
    )
    return ParseResult(runbook, tuple(problems))


def load_runbooks(directory: Path) -> tuple[list[Runbook], list[Problem]]:
    """Every `*.md` under `directory` (recursively) except README.md files, sorted by path.

    `Runbook.path` and `Problem.path` are relative to `directory` (posix). Unusable files give problems and no
    runbook. An error name used by two runbooks gives a warning at the later one. Raises FileNotFoundError when
    `directory` is not a folder."""
    if not directory.is_dir():
        raise FileNotFoundError(f"no runbooks folder at {directory}")
    files = sorted(
        (p.relative_to(directory).as_posix(), p)
        for p in directory.rglob("*.md")
        if p.is_file() and p.name.lower() != "readme.md"
    )
    runbooks: list[Runbook] = []
    problems: list[Problem] = []
    first_seen: dict[str, tuple[str, int]] = {}
    for relative, file in files:
        try:
            data = file.read_bytes()
        except OSError as e:
            problems.append(Problem(relative, 1, f"cannot be read: {e.strerror or e}"))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            problems.append(Problem(relative, line, f"not UTF-8 text (byte {e.start}); save the file as UTF-8"))
            continue
        result = parse_runbook(text, relative)
        problems.extend(result.problems)
        if result.runbook is None:
            continue
        runbooks.append(result.runbook)
        for error in result.runbook.errors:
            key = error.name.casefold()
            if key in first_seen and first_seen[key][0] != relative:
                other, line = first_seen[key]
                problems.append(
                    Problem(relative, error.line, f"error `{error.name}` is also in {other}:{line}", "warning")
                )
            first_seen.setdefault(key, (relative, error.line))
    return runbooks, problems
