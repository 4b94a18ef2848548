"""Checks shared by Web API method implementations (channel visibility, membership, message content)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from bot.emulator.blocks import MESSAGE_MAX_BLOCK_TEXT, MESSAGE_MAX_BLOCKS, block_text_length, validate_blocks
from bot.emulator.context import ApiError, Args, Host
from bot.emulator.workspace import JSON, Channel, Message


def find_channel(host: Host, channel_id: str) -> Channel:
    """The channel, as the bot can see it: private channels it is not in do not exist for it."""
    channel = host.workspace.channels.get(channel_id)
    if channel is None:
        raise ApiError("channel_not_found")
    if channel.is_private and host.workspace.identity.user_id not in channel.members:
        raise ApiError("channel_not_found")
    return channel


# The bot scope that lets a token read each kind of conversation (conversations.info / members, users.conversations).
READ_SCOPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "im": "im:read",
    "mpim": "mpim:read",
}


def conversation_type(channel: Channel) -> str:
    """The `types` value (users.conversations / conversations.list) a conversation falls under."""
    if channel.is_im:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


def require_read_scope(host: Host, kind: str) -> None:
    """missing_scope unless the token holds the read scope for this kind of conversation."""
    needed = READ_SCOPES[kind]
    if needed not in host.scopes:
        raise ApiError("missing_scope", needed=needed, provided=",".join(sorted(host.scopes)))


def require_member(host: Host, channel: Channel) -> None:
    if host.workspace.identity.user_id not in channel.members:
        raise ApiError("not_in_channel")


def require_active(channel: Channel) -> None:
    if channel.is_archived:
        raise ApiError("is_archived")


def require_postable(host: Host, channel: Channel) -> None:
    """chat.postMessage rule: be a member, or hold chat:write.public for a public channel."""
    require_active(channel)
    if host.workspace.identity.user_id in channel.members:
        return
    if not channel.is_private and "chat:write.public" in host.scopes:
        return
    raise ApiError("not_in_channel")


def find_message(channel: Channel, ts: str) -> Message:
    message = channel.find(ts)
    if message is None:
        raise ApiError("message_not_found")
    return message


# Slack truncates the `text` of a message posted in any way (chat.postMessage, chat.postEphemeral, response_url)
# to 40,000 characters, posts it anyway and says so with a warning (Slack changelog "Truncating really long
# messages", 2018; notes §5.2). chat.update refuses more than 4,000 instead (msg_too_long, its method docs).
TEXT_TRUNCATED_AT = 40_000
TRUNCATED_WARNING = "message_truncated"
TRUNCATED_MESSAGE = (
    "[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters."
)


def truncated(text: str) -> str:
    """The text as Slack keeps it: at most 40,000 characters."""
    return text[:TEXT_TRUNCATED_AT]


@dataclass(frozen=True)
class Content:
    """The content arguments of chat.postMessage / postEphemeral / update, validated."""

    text: str | None
    blocks: list[JSON] | None
    attachments: list[JSON] | None
    markdown_text: str | None
    was_truncated: bool = False

    @property
    def display_text(self) -> str:
        return self.text if self.text is not None else self.markdown_text or ""

    def warnings(self) -> JSON:
        """What Slack adds to a successful answer when it truncated the text (nothing otherwise)."""
        if not self.was_truncated:
            return {}
        return {
            "warning": TRUNCATED_WARNING,
            "response_metadata": {"messages": [TRUNCATED_MESSAGE], "warnings": [TRUNCATED_WARNING]},
        }


def _decode_list(args: Args, name: str, bad_format: str) -> list[JSON] | None:
    if not args.has(name):
        return None
    try:
        value: Any = args.decoded(name)
    except json.JSONDecodeError as exc:
        raise ApiError(bad_format) from exc
    if not isinstance(value, list):
        raise ApiError(bad_format)
    return value


def message_content(
    args: Args,
    *,
    max_text: int | None = None,
    require: bool = True,
    bad_attachments: str = "invalid_attachments",
    blocks_too_long: str = "msg_blocks_too_long",
) -> Content:
    """Validate text / blocks / attachments / markdown_text like Slack (no_text, invalid_blocks, ...).

    Text over `max_text` is refused with msg_too_long (chat.update); without `max_text` it is truncated to 40,000
    characters (`Content.warnings()` says so). Blocks carrying more than MESSAGE_MAX_BLOCK_TEXT characters of text
    are refused with `blocks_too_long` (chat.postMessage documents msg_blocks_too_long; the methods that document no
    such code answer invalid_blocks)."""
    text = args.opt_str("text")
    markdown_text = args.opt_str("markdown_text")
    blocks = _decode_list(args, "blocks", "invalid_blocks_format")
    attachments = _decode_list(args, "attachments", bad_attachments)
    if markdown_text is not None and (text is not None or blocks is not None):
        raise ApiError("markdown_text_conflict")
    if require and text is None and markdown_text is None and not blocks and not attachments:
        raise ApiError("no_text")
    was_truncated = False
    if text is not None and max_text is not None and len(text) > max_text:
        raise ApiError("msg_too_long")
    if text is not None and len(text) > TEXT_TRUNCATED_AT:
        text, was_truncated = truncated(text), True
    if blocks is not None:
        errors = validate_blocks(blocks, max_blocks=MESSAGE_MAX_BLOCKS)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        length = block_text_length(blocks)
        if length > MESSAGE_MAX_BLOCK_TEXT:
            why = f"blocks carry {length} characters of text, more than {MESSAGE_MAX_BLOCK_TEXT} [json-pointer:/blocks]"
            raise ApiError(blocks_too_long, errors=[why], response_metadata={"messages": [f"[ERROR] {why}"]})
    if attachments is not None and len(attachments) > 100:
        raise ApiError("too_many_attachments")
    return Content(
        text=text, blocks=blocks, attachments=attachments, markdown_text=markdown_text, was_truncated=was_truncated
    )


def message_metadata(args: Args, *, empty_removes: bool = False) -> JSON | None:
    """The `metadata` argument of chat.postMessage / chat.update, validated like Slack; None when not given.

    A JSON object or a JSON string of one with a string `event_type` and an object `event_payload`:
    not JSON / not an object -> invalid_metadata_format; a missing or ill-typed field -> invalid_metadata_schema.
    With empty_removes (chat.update: "To remove previous metadata, include an empty object"), `{}` gives `{}`.
    """
    if not args.has("metadata"):
        return None
    value: Any = args.values["metadata"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiError("invalid_metadata_format") from exc
    if not isinstance(value, dict):
        raise ApiError("invalid_metadata_format")
    if not value and empty_removes:
        return {}
    event_type, event_payload = value.get("event_type"), value.get("event_payload")
    if not isinstance(event_type, str) or not event_type or not isinstance(event_payload, dict):
        raise ApiError("invalid_metadata_schema")
    return {"event_type": event_type, "event_payload": event_payload}


def paginate(
    items: list[Any],
    args: Args,
    *,
    default_limit: int = 100,
    bad_limit: str | None = None,
    refuse_over: int | None = None,
) -> tuple[list[Any], str]:
    """Cursor pagination: (page, next_cursor). Cursors are opaque base64 offsets; a bad one is invalid_cursor.

    `limit` <= 0 means the default and it is capped at 1000. For methods that document `invalid_limit`, pass
    bad_limit="invalid_limit": a non-integer or negative limit (or one above `refuse_over`) is refused with it.
    """
    if bad_limit is None:
        limit = args.number("limit", default_limit)
    else:
        try:
            limit = int(args.text("limit") or default_limit)
        except ValueError as exc:
            raise ApiError(bad_limit) from exc
        if limit < 0 or (refuse_over is not None and limit > refuse_over):
            raise ApiError(bad_limit)
    if limit <= 0:
        limit = default_limit
    limit = min(limit, 1000)
    start = 0
    if args.has("cursor"):
        try:
            kind, _, offset = base64.b64decode(args.text("cursor"), validate=True).decode().partition(":")
            start = int(offset)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError("invalid_cursor") from exc
        if kind != "next" or start < 0:
            raise ApiError("invalid_cursor")
    page = items[start : start + limit]
    more = start + limit < len(items)
    next_cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
    return page, next_cursor
