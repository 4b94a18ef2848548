"""chat.* methods."""

from __future__ import annotations

from bot.emulator import effects
from bot.emulator.blocks import with_generated_ids
from bot.emulator.common import find_channel, find_message, message_content, message_metadata, require_postable
from bot.emulator.context import ApiError, Args, Host, MethodSpec, method
from bot.emulator.workspace import JSON, Channel, EphemeralMessage

# chat.postMessage and chat.postEphemeral truncate text beyond 40,000 characters, with a warning (common.py);
# chat.update refuses more than 4,000 characters with msg_too_long (its method docs).
UPDATE_MAX_TEXT = 4_000


def resolve_channel(host: Host, value: str) -> Channel:
    """chat.postMessage's `channel`: a conversation id, a channel name (`#name` / `name`) or a user id (DM)."""
    ws = host.workspace
    if value in ws.channels:
        return find_channel(host, value)
    if value[:1] in ("U", "W") and value in ws.users:
        return ws.im_with(value)
    by_name = ws.channel_by_name(value)
    if by_name is not None:
        return find_channel(host, by_name.id)
    raise ApiError("channel_not_found")


_CONTENT_ERRORS = (
    "no_text",
    "invalid_blocks",
    "invalid_blocks_format",
    "too_many_attachments",
    "markdown_text_conflict",
)
_METADATA_ERRORS = ("invalid_metadata_format", "invalid_metadata_schema")


@method(
    "chat.postMessage",
    required=("channel",),
    # rate_limited (HTTP 200): "Application has posted too many messages" (scripted with fail_next); the per-channel
    # pace of one a second is the 429 `ratelimited` of Workspace.limits.
    errors=(
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_blocks_too_long",
        "rate_limited",
        *_CONTENT_ERRORS,
        *_METADATA_ERRORS,
    ),
    scopes=("chat:write",),
    missing={"channel": "channel_not_found"},
)
async def chat_post_message(host: Host, args: Args) -> JSON:
    channel = resolve_channel(host, args.text("channel"))
    require_postable(host, channel)
    # chat.postMessage documents no invalid_attachments code; malformed attachments are invalid_arguments.
    content = message_content(args, bad_attachments="invalid_arguments")
    metadata = message_metadata(args)
    message = effects.bot_message(
        host,
        channel,
        text=content.display_text,
        blocks=content.blocks,
        attachments=content.attachments,
        thread_ts=args.opt_str("thread_ts"),
        metadata=metadata,
        broadcast=args.flag("reply_broadcast"),
    )
    body = host.workspace.message_api(channel, message)
    return {"channel": channel.id, "ts": message.ts, "message": body, **content.warnings()}


@method(
    "chat.postEphemeral",
    required=("user", "channel"),
    errors=(
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_in_channel",
        "invalid_attachments",
        *_CONTENT_ERRORS,
    ),
    scopes=("chat:write",),
    missing={"channel": "channel_not_found", "user": "user_not_in_channel"},
)
async def chat_post_ephemeral(host: Host, args: Args) -> JSON:
    channel = resolve_channel(host, args.text("channel"))
    require_postable(host, channel)
    user = args.text("user")
    if user not in channel.members:
        raise ApiError("user_not_in_channel")
    content = message_content(args, blocks_too_long="invalid_blocks")
    ts = host.workspace.next_ts()
    host.ephemerals.append(
        EphemeralMessage(
            channel=channel.id,
            user=user,
            text=content.display_text,
            blocks=with_generated_ids(content.blocks or []),
            message_ts=ts,
            thread_ts=args.opt_str("thread_ts"),
        )
    )
    return {"message_ts": ts, **content.warnings()}


@method(
    "chat.update",
    required=("ts", "channel"),
    errors=(
        "channel_not_found",
        "message_not_found",
        "cant_update_message",
        "is_inactive",
        "invalid_attachments",
        "msg_too_long",
        *_CONTENT_ERRORS,
        *_METADATA_ERRORS,
    ),
    scopes=("chat:write",),
    missing={"channel": "channel_not_found", "ts": "message_not_found"},
)
async def chat_update(host: Host, args: Args) -> JSON:
    channel = find_channel(host, args.text("channel"))
    message = find_message(channel, args.text("ts"))
    bot = host.workspace.identity
    if message.bot_id != bot.bot_id:
        raise ApiError("cant_update_message")
    if channel.is_archived:
        raise ApiError("is_inactive")  # Slack: messages in archived channels cannot be edited
    content = message_content(args, max_text=UPDATE_MAX_TEXT, blocks_too_long="invalid_blocks")
    metadata = message_metadata(args, empty_removes=True)
    changes: dict[str, object] = {"text": content.display_text, "blocks": content.blocks or []}
    if content.attachments is not None:
        changes["attachments"] = content.attachments
    if metadata is not None:  # not given: the message keeps its metadata; {} removes it
        changes["metadata"] = metadata or None
    effects.edit_message(host, channel, message, changes, editor=bot.user_id)
    body = host.workspace.message_api(channel, message)
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": body}


@method(
    "chat.delete",
    required=("ts", "channel"),
    errors=("channel_not_found", "message_not_found", "cant_delete_message"),
    scopes=("chat:write",),
    missing={"channel": "channel_not_found", "ts": "message_not_found"},
)
async def chat_delete(host: Host, args: Args) -> JSON:
    channel = find_channel(host, args.text("channel"))
    message = find_message(channel, args.text("ts"))
    if message.bot_id != host.workspace.identity.bot_id:
        raise ApiError("cant_delete_message")
    effects.delete_message(host, channel, message)
    return {"channel": channel.id, "ts": message.ts}


@method(
    "chat.getPermalink",
    required=("channel", "message_ts"),
    errors=("channel_not_found", "message_not_found"),
    missing={"channel": "channel_not_found", "message_ts": "message_not_found"},
)
async def chat_get_permalink(host: Host, args: Args) -> JSON:
    channel = find_channel(host, args.text("channel"))
    message = find_message(channel, args.text("message_ts"))
    link = f"https://{host.workspace.team_domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


SPECS: list[MethodSpec] = [chat_post_message, chat_post_ephemeral, chat_update, chat_delete, chat_get_permalink]
