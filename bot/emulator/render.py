"""Plain-text rendering of what people see in the emulated Slack (for demos and failing-test messages)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from bot.emulator.workspace import JSON, Channel, Message, Workspace

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]+))?>")


def clock(ts: str) -> str:
    return time.strftime("%H:%M:%S", time.localtime(float(ts)))


def plain(ws: Workspace, text: str) -> str:
    """Slack markup to readable text: <@U1> -> @alice, <#C1> -> #general, <url|label> -> label."""

    def replace(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return "@" + (label or ws.display_name(target))
        if sigil == "#":
            channel = ws.channels.get(target)
            return "#" + (label or (channel.name if channel else target))
        return "@" + (label or target.split("^")[0])

    text = _MENTION.sub(replace, text)
    text = re.sub(r"<(https?://[^>|]+)\|([^>]+)>", r"\2", text)
    return re.sub(r"<(https?://[^>]+)>", r"\1", text)


def _text_of(obj: object) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return ""


def _element(el: JSON) -> str:
    kind = el.get("type")
    if kind == "button":
        return f"[ {_text_of(el.get('text'))} ]"
    if kind == "overflow":
        return "[ ⋯ ]"
    if isinstance(kind, str) and (kind.endswith("select") or kind in ("datepicker", "timepicker")):
        chosen = el.get("initial_option")
        label = _text_of(chosen.get("text")) if isinstance(chosen, dict) else _text_of(el.get("placeholder"))
        return f"[ {label or kind} ▾ ]"
    if kind == "image":
        return f"🖼 {el.get('alt_text', '')}"
    if kind in ("plain_text", "mrkdwn"):
        return str(el.get("text", ""))
    return f"[{kind}]"


def render_blocks(ws: Workspace, blocks: Iterable[JSON]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text_of(block.get("text"))
            lines += [f"══ {title} ══"]
        elif kind == "section":
            if "text" in block:
                lines += plain(ws, _text_of(block["text"])).splitlines() or [""]
            fields = [plain(ws, _text_of(f)) for f in block.get("fields") or []]
            for i in range(0, len(fields), 2):
                lines.append(" | ".join(f.replace("\n", " ") for f in fields[i : i + 2]))
            if isinstance(block.get("accessory"), dict) and block["accessory"].get("type") != "image":
                lines.append(_element(block["accessory"]))
        elif kind in ("actions", "context_actions"):
            lines.append("  ".join(_element(el) for el in block.get("elements") or []))
        elif kind == "context":
            lines.append("· " + " · ".join(plain(ws, _element(el)) for el in block.get("elements") or []))
        elif kind == "divider":
            lines.append("────────")
        elif kind == "image":
            lines.append(f"🖼 {block.get('alt_text', '')}")
        elif kind == "input":
            lines.append(f"{_text_of(block.get('label'))}: {_element(block.get('element') or {})}")
        elif kind == "markdown":
            lines += str(block.get("text", "")).splitlines()
        elif kind == "rich_text":
            continue
        else:
            lines.append(f"[{kind} block]")
    return lines


def _message_lines(ws: Workspace, channel: Channel, message: Message) -> list[str]:
    author = ws.display_name(message.user)
    if message.bot_id:
        author += " (app)"
    pin = "📌 " if message.ts in channel.pins else ""
    body = render_blocks(ws, message.blocks) if message.blocks and _renders(message.blocks) else []
    text = plain(ws, message.text)
    if message.subtype in ("channel_join", "channel_topic", "channel_purpose"):
        text = text.replace(f"@{author} ", "", 1) if text.startswith(f"@{author} ") else text
        return [f"{pin}[{clock(message.ts)}] {author} {text}"]
    if not body:
        body = text.splitlines() or [""]
    edited = " (edited)" if message.edited else ""
    lines = [f"{pin}[{clock(message.ts)}] {author}: {body[0]}{edited}"]
    lines += [f"    {line}" for line in body[1:]]
    for file in message.files:
        lines.append(f"    📎 {file.get('title') or file.get('name')}")
    if message.reactions:
        lines.append("    " + "  ".join(f":{name}: {len(users)}" for name, users in message.reactions.items()))
    return lines


def _renders(blocks: list[JSON]) -> bool:
    return any(b.get("type") != "rich_text" for b in blocks)


def render_channel(ws: Workspace, channel: Channel) -> str:
    if channel.is_im:
        others = sorted(ws.display_name(m) for m in channel.members if m != channel.creator) or [channel.name]
        title = "@" + ", @".join(others)
    else:
        title = ("🔒" if channel.is_private else "#") + channel.name
    lines = [title + (" (archived)" if channel.is_archived else "")]
    if channel.topic:
        lines.append(f"Topic: {plain(ws, channel.topic)}")
    if channel.purpose:
        lines.append(f"Purpose: {plain(ws, channel.purpose)}")
    lines.append("─" * 40)
    for message in channel.messages:
        if message.is_reply and message.subtype != "thread_broadcast":
            continue
        lines += _message_lines(ws, channel, message)
        for reply in channel.replies(message.ts):
            lines += ["    ↳ " + line for line in _message_lines(ws, channel, reply)]
    return "\n".join(lines)


def render_notice(ws: Workspace, label: str, text: str, blocks: list[JSON]) -> list[str]:
    body = render_blocks(ws, blocks) if blocks and _renders(blocks) else plain(ws, text).splitlines() or [""]
    return [f"{label} {body[0]}", *[f"    {line}" for line in body[1:]]]
