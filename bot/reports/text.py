"""Text for reports: Slack's escaped text made plain, rich text (spans of text, code and bold), and escaping it
for Markdown, HTML and Slack so that nothing a responder wrote can ping anyone or break the document.

Pure Python. The order is always: Slack text -> `from_slack` (plain text, as the person typed it) -> `rich` (spans,
code blocks) -> one of the renderers (`md_inline`, `md_fence`, `html_inline`, `mrkdwn`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The escaping rule for Slack is shared with the rest of the bot (bot/slack/markup.py); re-exported here.
from bot.slack.markup import ZWSP as ZWSP
from bot.slack.markup import from_slack as from_slack
from bot.slack.markup import neutralise_pings as neutralise_pings
from bot.slack.markup import slack_safe as slack_safe


@dataclass(frozen=True, slots=True)
class Span:
    """A run of text with one style. `code` is shown as code; `bold` as bold (both together: bold code)."""

    text: str
    code: bool = False
    bold: bool = False


Rich = tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced code block: a command, a query, a log excerpt. `language` is the fence's info string ("sql", "")."""

    code: str
    language: str = ""


def text(value: str) -> Span:
    return Span(value)


def code(value: str) -> Span:
    return Span(value, code=True)


def bold(value: str) -> Span:
    return Span(value, bold=True)


def join_rich(parts: Sequence[Rich], last: str = " and ", sep: str = ", ") -> Rich:
    """`a`, `b` and `c`."""
    out: list[Span] = []
    for index, part in enumerate(parts):
        if index:
            out.append(Span(last if index == len(parts) - 1 else sep))
        out.extend(part)
    return tuple(out)


def plain(rich: Iterable[Span]) -> str:
    return "".join(span.text for span in rich)


# ------------------------------------------------------------------------------------------- rich text

_FENCE_IN_TEXT = re.compile(r"```(.*?)```", re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LANGUAGES = frozenset(
    "sql bash sh shell console zsh json yaml yml python py text log ini toml go js javascript ts diff".split()  # noqa: SIM905
)
_SQL = re.compile(r"^\s*(SELECT|WITH|EXPLAIN|SHOW|UPDATE|DELETE\s+FROM|INSERT\s+INTO|ALTER|VACUUM|ANALYZE)\b", re.I)
COMMAND_WORDS = frozenset(
    """sudo kubectl systemctl service docker podman helm psql mysql redis-cli mongo mongosh curl wget aws gcloud az
    terraform ansible ansible-playbook ssh scp git make supervisorctl pg_ctl pg_ctlcluster nginx journalctl kill
    pkill killall rm mv cp tail grep ps df du free iptables ip dig nslookup openssl certbot npm pip python python3
    bash sh crontab chmod chown mount umount reboot export echo kafka-consumer-groups kafka-topics rabbitmqctl
    varnishadm consul vault nomad k9s flux argocd istioctl linkerd etcdctl crictl""".split()  # noqa: SIM905
)
_PROMPT = re.compile(r"^\s*[$#]\s+")


def split_fences(value: str) -> list[str | CodeBlock]:
    """Plain text cut into prose and the ```fenced``` blocks in it (Slack's style: the fence may share the line
    with the code). A first line that is only a language name ("sql") becomes the block's language."""
    parts: list[str | CodeBlock] = []
    position = 0
    for match in _FENCE_IN_TEXT.finditer(value):
        if match.start() > position:
            parts.append(value[position : match.start()])
        body = match.group(1)
        language = ""
        first, newline, rest = body.partition("\n")
        if newline and first.strip().lower() in _LANGUAGES and rest.strip():
            language, body = first.strip().lower(), rest
        body = body.strip("\n")
        if body.strip():
            parts.append(CodeBlock(body, language or guess_language(body)))
        position = match.end()
    if position < len(value):
        parts.append(value[position:])
    return parts


def guess_language(source: str) -> str:
    if _SQL.match(source):
        return "sql"
    if is_command(source.strip().splitlines()[0] if source.strip() else ""):
        return "bash"
    return ""


def is_sql(source: str) -> bool:
    return bool(_SQL.match(source))


def is_command(line: str) -> bool:
    """`sudo systemctl restart api-service`, `$ kubectl get pods`: a shell command (by its first word)."""
    stripped = line.strip()
    if _PROMPT.match(stripped) and len(stripped) > 2:
        return True
    first = stripped.split(maxsplit=1)[0] if stripped else ""
    return first in COMMAND_WORDS and (len(stripped.split()) > 1 or first in {"reboot", "k9s"})


def strip_prompt(line: str) -> str:
    return _PROMPT.sub("", line, count=1).strip()


def rich(value: str) -> Rich:
    """Plain text as spans: `backticked` parts (and ```fenced``` blocks, newlines kept) are code, the rest text."""
    spans: list[Span] = []
    for part in split_fences(value) if "```" in value else [value]:
        if isinstance(part, CodeBlock):
            spans.append(Span(part.code, code=True))
            continue
        position = 0
        for match in _CODE_SPAN.finditer(part):
            if match.start() > position:
                spans.append(Span(part[position : match.start()]))
            spans.append(Span(match.group(1), code=True))
            position = match.end()
        if position < len(part):
            spans.append(Span(part[position:]))
    return tuple(spans)


def truncate(value: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary, with an ellipsis when cut."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


# ------------------------------------------------------------------------------------------ Markdown

_MD_SPECIAL = re.compile(r"[\\`*\[\]~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_PLAIN = re.compile(r"[^\\`*\[\]~_<&|\r\n@]*")  # nothing to escape, no ping
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_NEWLINES = re.compile(r"[ \t]*\r?\n[ \t\r\n]*")


def md_text(value: str, cell: bool = False) -> str:
    """Plain text as Markdown text that renders as written: emphasis, code, link and HTML characters escaped, lines
    joined (a `<br>` in a table cell), `|` escaped in table cells, and nothing that pings."""
    if _MD_PLAIN.fullmatch(value):
        return value
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), value)
    escaped = _ENTITY.sub("&amp;", escaped).replace("<", "&lt;")
    if cell:
        escaped = escaped.replace("|", "\\|")
    if "\n" in escaped:
        escaped = _NEWLINES.sub("<br>" if cell else " ", escaped)
    return neutralise_pings(escaped)


def md_code_span(value: str, cell: bool = False) -> str:
    content = neutralise_pings(" ".join(value.split()) if ("\n" in value or "\r" in value) else value)
    if cell:
        content = content.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    if content.startswith("`") or content.endswith("`"):
        content = f" {content} "
    return f"{fence}{content}{fence}"


def _runs(spans: Iterable[Span]) -> list[tuple[bool, list[Span]]]:
    """Consecutive spans grouped by boldness, so `**Check `x`:**` is one bold run, not three."""
    runs: list[tuple[bool, list[Span]]] = []
    for span in spans:
        if runs and runs[-1][0] == span.bold:
            runs[-1][1].append(span)
        else:
            runs.append((span.bold, [span]))
    return runs


def _wrap(rendered: str, marker: str) -> str:
    """`marker` around the text, outside its leading and trailing spaces (`** x **` is not bold)."""
    if not rendered.strip():
        return rendered
    lead = rendered[: len(rendered) - len(rendered.lstrip())]
    trail = rendered[len(rendered.rstrip()) :]
    return f"{lead}{marker}{rendered.strip()}{marker}{trail}"


def md_inline(value: str | Iterable[Span], cell: bool = False) -> str:
    if isinstance(value, str):
        return md_text(value, cell)
    out: list[str] = []
    for is_bold, spans in _runs(value):
        rendered = "".join(md_code_span(s.text, cell) if s.code else md_text(s.text, cell) for s in spans)
        out.append(_wrap(rendered, "**") if is_bold else rendered)
    return "".join(out)


def md_fence(block: CodeBlock, indent: int = 0) -> str:
    """A fenced code block, every line indented by `indent` spaces (to sit inside a list item)."""
    source = neutralise_pings(block.code)
    longest = max((len(run) for run in re.findall(r"`{3,}", source)), default=0)
    fence = "`" * max(3, longest + 1)
    pad = " " * indent
    language = re.sub(r"[^A-Za-z0-9_+-]", "", block.language)
    lines = [f"{pad}{fence}{language}"]
    lines.extend(f"{pad}{line}" if line.strip() else "" for line in source.splitlines())
    lines.append(f"{pad}{fence}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- HTML


def _html_text(value: str) -> str:
    return html.escape(neutralise_pings(value), quote=True)


def html_inline(value: str | Iterable[Span]) -> str:
    """Escaped HTML (`<code>`, `<strong>` for the styles); pings neutralised as in Markdown."""
    if isinstance(value, str):
        return _html_text(value).replace("\n", "<br>\n")
    out: list[str] = []
    for is_bold, spans in _runs(value):
        parts: list[str] = []
        for span in spans:
            content = _html_text(span.text)
            parts.append(f"<code>{content}</code>" if span.code else content.replace("\n", "<br>\n"))
        rendered = "".join(parts)
        out.append(f"<strong>{rendered}</strong>" if is_bold else rendered)
    return "".join(out)


# ---------------------------------------------------------------------------------------------- Slack


def mrkdwn(value: str | Iterable[Span]) -> str:
    """Slack mrkdwn: `code`, *bold*, the rest escaped with `slack_safe`."""
    if isinstance(value, str):
        return slack_safe(value)
    out: list[str] = []
    for is_bold, spans in _runs(value):
        parts: list[str] = []
        for span in spans:
            if span.code:
                parts.append("`" + slack_safe(" ".join(span.text.replace("`", "'").split())) + "`")
            else:
                parts.append(slack_safe(span.text))
        rendered = "".join(parts)
        out.append(_wrap(rendered, "*") if is_bold else rendered)
    return "".join(out)
