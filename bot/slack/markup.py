"""The one escaping rule for user text the bot sends to Slack. Pure functions, no I/O.

People's words reach the bot in Slack's own markup (`&amp;`, `<@U1>`, `<!channel>`, `<https://x|label>`). Before
the bot sends any of them anywhere (message text, blocks, topic, modal, response_url, report, file), they go:

    Slack markup --from_slack()--> plain text, as the person typed it --slack_safe()--> mrkdwn that shows it as typed

so that nothing a person typed can become live markup in the bot's voice: no broadcast (`<!channel>`, `<!here>`,
`<!everyone>`, `<!subteam^…>`, a plain `@here`), no link that hides its address behind a label (a labelled link
is shown as `label (address)`), and `&`, `<`, `>` escaped as Slack's formatting rules require. Text the bot
stores is kept as it came (Slack markup for messages, plain text for titles and descriptions); the rule applies
on the way out. Fields of type plain_text (headers, option labels) are not parsed by Slack: `plain_safe()`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

ZWSP = "\u200b"  # zero-width space: "@\u200bhere" reads as @here and pings no one

_TOKEN = re.compile(r"<([^<>\n]+)>")
_LINK = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")
_BROADCAST_WORDS = ("here", "channel", "everyone")
_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_ANGLE_PING = re.compile(r"<([!@#])")
_HALF_ENTITY = re.compile(r"&[a-z]*$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")


def mentioned_users(slack_text: str) -> set[str]:
    """The user IDs mentioned in Slack's markup (`<@U1>`, `<@U1|ann>`): whose names `from_slack` needs."""
    return set(_MENTION.findall(slack_text)) if "<@" in slack_text else set()


def from_slack(slack_text: str, user_names: Mapping[str, str] | None = None) -> str:
    """Slack's escaped text as plain text: `<@U1>` -> `@Ann` (named from `user_names`, else its label, else the ID),
    `<#C1|ops>` -> `#ops`, `<!channel>` -> `@channel`, `<https://x|label>` -> `label (https://x)`, `&amp;` -> `&`.

    The result is plain text that may still say `@channel`: `slack_safe` (and every report renderer) neutralises
    that."""
    names = user_names or {}

    def token(match: re.Match[str]) -> str:
        body = match.group(1)
        head, _, label = body.partition("|")
        if head.startswith("@"):
            user = head[1:]
            return "@" + (names.get(user) or label.lstrip("@") or user)
        if head.startswith("#"):
            return "#" + (label.lstrip("#") or head[1:])
        if head.startswith("!"):
            command = head[1:].split("^", 1)[0]
            if command in _BROADCAST_WORDS:
                return "@" + command
            if command == "subteam":
                return "@" + (label.lstrip("@") or "group")
            return label or command  # <!date^...|fallback>
        if not _LINK.match(head):
            return match.group(0)  # not Slack markup (Slack escapes a typed "<"): kept as written
        if head.startswith("mailto:"):
            address = head.removeprefix("mailto:")
            return address if label in ("", address) else f"{label} ({address})"
        if label in ("", head, re.sub(r"^[a-z][a-z0-9+.-]*://", "", head)):
            return head
        return f"{label} ({head})"

    converted = _TOKEN.sub(token, slack_text)
    return converted.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def neutralise_pings(value: str) -> str:
    """`@here`/`@channel`/`@everyone` -> `@\u200bhere`...; `<!`, `<@`, `<#` -> `<\u200b!`... (for code and plain_text
    fields, where the angle bracket is not escaped)."""
    if "@" in value:
        value = _BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), value)
    if "<" in value:
        value = _ANGLE_PING.sub(lambda m: "<" + ZWSP + m.group(1), value)
    return value


def to_markup(value: str) -> str:
    """Plain text in Slack's markup (the inverse of `from_slack` for text without markup): `&`, `<`, `>` escaped.
    For text the bot stores next to people's messages, such as its own timeline lines."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_safe(value: str) -> str:
    """Plain text made safe to send to Slack as mrkdwn: `&`, `<`, `>` escaped as Slack requires (so no `<!channel>`,
    `<@U1>` or `<https://x|label>` can form), and `@here`/`@channel`/`@everyone` written out plainly cannot ping."""
    escaped = to_markup(value)
    if "@" in escaped:
        escaped = _BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), escaped)
    return escaped


def user_text(slack_text: str, user_names: Mapping[str, str] | None = None) -> str:
    """What a person wrote (in Slack's markup), as safe mrkdwn that shows it as they typed it."""
    return slack_safe(from_slack(slack_text, user_names))


def plain_safe(value: str) -> str:
    """Plain text for a field Slack does not format (a plain_text header or option, a channel topic): `@here` and
    any `<…>` are broken with a zero-width space, so that they can form no ping or link even where the text is
    copied, quoted or (for a topic) linkified by a client."""
    value = neutralise_pings(value)
    return value.replace("<", "<" + ZWSP).replace("<" + ZWSP + ZWSP, "<" + ZWSP) if "<" in value else value


def safe_cut(value: str, limit: int) -> str:
    """`slack_safe(value)` cut to at most `limit` characters, without leaving half an entity (`&am`) at the end."""
    escaped = slack_safe(value)
    if len(escaped) <= limit:
        return escaped
    return _HALF_ENTITY.sub("", escaped[: limit - 1]).rstrip() + "…"
