"""What Slack makes of what a person types: the message text (Slack markup), its rich_text blocks, and the text of a
slash command (with or without the command's `should_escape`).

Slack's formatting rules (https://api.slack.com/reference/surfaces/formatting): `&`, `<` and `>` reach an app as
`&amp;`, `&lt;` and `&gt;`; a person mentioned with `@name` as `<@U…>`, `@here` / `@channel` / `@everyone` as
`<!here>`…, a channel as `<#C…|name>`, a URL as `<https://…>` (Slack detects URLs on its side; `www.x.org` becomes
`<http://www.x.org|www.x.org>`, an e-mail address `<mailto:a@x.org|a@x.org>`). Inside `code` and ```code blocks```
nothing is turned into a mention or link (the characters are still escaped).

A slash command's text (https://api.slack.com/interactivity/slash-commands, "Escaping"): `&`, `<` and `>` are always
escaped; with `should_escape` on, mentions become `<@U…|name>`, channels `<#C…|name>`, URLs `<https://…>` and
`@here` `<!here>`; with it off they stay as typed (`@bob`, `#ops`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from bot.emulator.workspace import JSON, Workspace

_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
# One scan finds every piece Slack turns into markup, longest first: URLs, e-mail addresses, mentions, channels.
_PIECE = re.compile(
    r"(?P<url>\bhttps?://[^\s<>|]+)"
    r"|(?P<www>\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>|]*)"
    r"|(?P<email>\b[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})"
    r"|(?<![\w@])@(?P<mention>[\w.-]+)"
    r"|(?<![\w&#])#(?P<channel>[a-z0-9_-]+)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""  # punctuation after a URL or name is not part of it
_BROADCASTS = ("here", "channel", "everyone")
_MARKUP = re.compile(r"<([^<>\n]+)>")


def escape(text: str) -> str:
    """The three characters Slack escapes in every text it sends an app."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class _Style:
    labels: bool  # <@U…|name> and <#C…|name> (slash commands), else <@U…> (messages)
    links: bool  # mentions, channels and URLs become markup at all
    skip_code: bool  # nothing inside `code` becomes markup


_MESSAGE = _Style(labels=False, links=True, skip_code=True)
_ESCAPED_COMMAND = _Style(labels=True, links=True, skip_code=False)
_RAW_COMMAND = _Style(labels=False, links=False, skip_code=False)


def message_text(ws: Workspace, typed: str) -> str:
    """A message as typed -> its text as Slack stores and delivers it."""
    return _encode(ws, typed, _MESSAGE)


def command_text(ws: Workspace, typed: str, *, should_escape: bool) -> str:
    """A slash command's text as typed -> the `text` field Slack sends the app."""
    return _encode(ws, typed, _ESCAPED_COMMAND if should_escape else _RAW_COMMAND)


def _encode(ws: Workspace, typed: str, style: _Style) -> str:
    if not style.links:
        return escape(typed)
    if not style.skip_code:
        return _convert(ws, typed, style)
    out: list[str] = []
    at = 0
    for code in _CODE.finditer(typed):
        out.append(_convert(ws, typed[at : code.start()], style))
        out.append(escape(code.group(0)))
        at = code.end()
    out.append(_convert(ws, typed[at:], style))
    return "".join(out)


def _convert(ws: Workspace, text: str, style: _Style) -> str:
    out: list[str] = []
    at = 0
    for match in _PIECE.finditer(text):
        piece = match.group(0)
        markup, used = _markup(ws, match, style)
        if markup is None:
            continue
        out.append(escape(text[at : match.start()]))
        out.append(markup)
        out.append(escape(piece[used:]))
        at = match.end()
    out.append(escape(text[at:]))
    return "".join(out)


def _markup(ws: Workspace, match: re.Match[str], style: _Style) -> tuple[str | None, int]:
    """(the markup for the start of the match, how many characters of it that covers); None: plain text."""
    piece = match.group(0)
    if match.group("url") or match.group("www"):
        url = piece.rstrip(_TRAILING)
        if match.group("www"):
            return f"<http://{escape(url)}|{escape(url)}>", len(url)
        return f"<{escape(url)}>", len(url)
    if match.group("email"):
        return f"<mailto:{piece}|{piece}>", len(piece)
    if match.group("mention") is not None:
        name = match.group("mention")
        while name:
            if name.lower() in _BROADCASTS:
                return f"<!{name.lower()}>", len(name) + 1
            user = next((u for u in ws.users.values() if u.name == name and not u.deleted), None)
            if user is not None:
                label = f"|{user.name}" if style.labels else ""
                return f"<@{user.id}{label}>", len(name) + 1
            name = name[:-1] if name[-1] in "._-" else ""
        return None, 0
    name = match.group("channel")
    channel = ws.channel_by_name(name)
    if channel is None:
        return None, 0
    return f"<#{channel.id}|{channel.name}>", len(name) + 1


def rich_text(markup: str) -> list[JSON]:
    """The rich_text block Slack's client attaches to a message, from its text in Slack markup: text runs (not
    escaped), user / channel / broadcast / usergroup / link elements."""
    elements: list[JSON] = []
    at = 0
    for token in _MARKUP.finditer(markup):
        if token.start() > at:
            elements.append({"type": "text", "text": unescape(markup[at : token.start()])})
        elements.append(_element(token.group(1)))
        at = token.end()
    if at < len(markup):
        elements.append({"type": "text", "text": unescape(markup[at:])})
    return [
        {
            "type": "rich_text",
            "block_id": secrets.token_hex(2),
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


def _element(body: str) -> JSON:
    head, _, label = body.partition("|")
    if head.startswith("@"):
        return {"type": "user", "user_id": head[1:]}
    if head.startswith("#"):
        return {"type": "channel", "channel_id": head[1:]}
    if head.startswith("!subteam^"):
        return {"type": "usergroup", "usergroup_id": head.removeprefix("!subteam^")}
    if head.startswith("!"):
        return {"type": "broadcast", "range": head[1:]}
    link: JSON = {"type": "link", "url": unescape(head)}
    if label and label != head:
        link["text"] = unescape(label)
    return link
