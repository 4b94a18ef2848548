"""conversations.* methods."""

from __future__ import annotations

import re
import time

from bot.emulator import effects, events
from bot.emulator.common import (
    READ_SCOPES,
    conversation_type,
    find_channel,
    paginate,
    require_active,
    require_member,
    require_read_scope,
)
from bot.emulator.context import ApiError, Args, Host, MethodSpec, method
from bot.emulator.workspace import INVITE_REFUSALS, JSON, Channel, Message

_NAME_CHARS = re.compile(r"^[a-z0-9_-]+$")
_TS = re.compile(r"^\d+(\.\d+)?$")


def validate_channel_name(name: str) -> None:
    """conversations.create naming rules (platform-notes §5.1)."""
    if not name:
        raise ApiError("invalid_name_required")
    if len(name) > 80:
        raise ApiError("invalid_name_maxlength")
    if not _NAME_CHARS.match(name):
        raise ApiError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise ApiError("invalid_name_punctuation")


@method(
    "conversations.create",
    required=("name",),
    errors=(
        "invalid_name_required",
        "invalid_name_maxlength",
        "invalid_name_specials",
        "invalid_name_punctuation",
        "name_taken",
    ),
    scopes=("channels:manage", "groups:write", "channels:write", "im:write", "mpim:write"),
    missing={"name": "invalid_name_required"},
)
async def conversations_create(host: Host, args: Args) -> JSON:
    ws = host.workspace
    is_private = args.flag("is_private")
    needed = ("groups:write",) if is_private else ("channels:manage", "channels:write")
    if not host.scopes & set(needed):
        raise ApiError("missing_scope", needed=needed[0], provided=",".join(sorted(host.scopes)))
    name = args.text("name")
    validate_channel_name(name)
    if any(c.name == name and not c.is_im for c in ws.channels.values()):
        raise ApiError("name_taken")
    bot = ws.identity.user_id
    channel = Channel(id=ws.new_id("C"), name=name, is_private=is_private, created=int(time.time()), creator=bot)
    ws.channels[channel.id] = channel
    effects.join_channel(host, channel, bot)
    return {"channel": ws.channel_api(channel)}


@method(
    "conversations.invite",
    required=("channel", "users"),
    errors=(
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "no_user",
        "cant_invite_self",
        "user_not_found",
        "already_in_channel",
        *sorted(INVITE_REFUSALS),
    ),
    scopes=("channels:write.invites", "groups:write.invites", "channels:manage", "groups:write"),
    missing={"channel": "channel_not_found", "users": "no_user"},
)
async def conversations_invite(host: Host, args: Args) -> JSON:
    """All or nothing: one person Slack will not add refuses the whole call, with every such person in `errors`."""
    ws = host.workspace
    channel = find_channel(host, args.text("channel"))
    require_active(channel)
    require_member(host, channel)
    user_ids = [u.strip() for u in args.text("users").split(",") if u.strip()]
    if not user_ids:
        raise ApiError("no_user")
    refused: list[JSON] = []
    for user_id in dict.fromkeys(user_ids):
        user = ws.users.get(user_id)
        if user_id == ws.identity.user_id:
            code = "cant_invite_self"
        elif user is None or user.deleted:
            code = "user_not_found"
        elif user_id in ws.policy.uninvitable and user_id not in channel.members:
            code = ws.policy.uninvitable[user_id]
        else:
            continue
        refused.append({"user": user_id, "ok": False, "error": code})
    if refused:
        raise ApiError(str(refused[0]["error"]), errors=refused)
    newcomers = [u for u in dict.fromkeys(user_ids) if u not in channel.members]
    if not newcomers:
        raise ApiError("already_in_channel")
    for user_id in newcomers:
        effects.join_channel(host, channel, user_id, inviter=ws.identity.user_id)
    return {"channel": ws.channel_api(channel)}


@method(
    "conversations.join",
    required=("channel",),
    errors=("channel_not_found", "is_archived", "method_not_supported_for_channel_type"),
    scopes=("channels:join",),
    missing={"channel": "channel_not_found"},
)
async def conversations_join(host: Host, args: Args) -> JSON:
    ws = host.workspace
    channel = find_channel(host, args.text("channel"))
    if channel.is_private:
        raise ApiError("method_not_supported_for_channel_type")
    require_active(channel)
    bot = ws.identity.user_id
    if bot in channel.members:
        return {
            "channel": ws.channel_api(channel),
            "warning": "already_in_channel",
            "response_metadata": {"warnings": ["already_in_channel"]},
        }
    effects.join_channel(host, channel, bot)
    return {"channel": ws.channel_api(channel)}


@method(
    "conversations.info",
    required=("channel",),
    errors=("channel_not_found",),
    scopes=("channels:read", "groups:read", "im:read", "mpim:read"),
    missing={"channel": "channel_not_found"},
)
async def conversations_info(host: Host, args: Args) -> JSON:
    channel = find_channel(host, args.text("channel"))
    return {"channel": host.workspace.channel_api(channel, num_members=args.flag("include_num_members"))}


def _set_text(host: Host, args: Args, field: str) -> JSON:
    channel = find_channel(host, args.text("channel"))
    require_active(channel)
    require_member(host, channel)
    value = args.text(field)
    if len(value) > 250:
        raise ApiError("too_long")
    bot = host.workspace.identity.user_id
    now = int(time.time())
    if field == "topic":
        channel.topic, channel.topic_set_by, channel.topic_set_at = value, bot, now
    else:
        channel.purpose, channel.purpose_set_by, channel.purpose_set_at = value, bot, now
    effects.system_message(host, channel, bot, f"channel_{field}", f"set the channel {field}: {value}")
    return {"channel": host.workspace.channel_api(channel)}


_SET_ERRORS = ("channel_not_found", "is_archived", "not_in_channel", "too_long")
_SET_SCOPES = ("channels:write.topic", "groups:write.topic", "channels:manage", "groups:write")


@method(
    "conversations.setTopic",
    required=("channel", "topic"),
    errors=_SET_ERRORS,
    scopes=_SET_SCOPES,
    missing={"channel": "channel_not_found"},
)
async def conversations_set_topic(host: Host, args: Args) -> JSON:
    return _set_text(host, args, "topic")


@method(
    "conversations.setPurpose",
    required=("channel", "purpose"),
    errors=_SET_ERRORS,
    scopes=_SET_SCOPES,
    missing={"channel": "channel_not_found"},
)
async def conversations_set_purpose(host: Host, args: Args) -> JSON:
    return _set_text(host, args, "purpose")


def _ts_arg(args: Args, name: str, error: str) -> float | None:
    if not args.has(name):
        return None
    value = args.text(name)
    if not _TS.match(value):
        raise ApiError(error)
    return float(value)


def _window(messages: list[Message], args: Args) -> list[Message]:
    oldest = _ts_arg(args, "oldest", "invalid_ts_oldest")
    latest = _ts_arg(args, "latest", "invalid_ts_latest")
    inclusive = args.flag("inclusive")

    def inside(message: Message) -> bool:
        ts = float(message.ts)
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            return False
        return not (latest is not None and (ts > latest or (ts == latest and not inclusive)))

    return [m for m in messages if inside(m)]


def _listed(host: Host, channel: Channel, messages: list[Message], args: Args) -> list[JSON]:
    """Messages as conversations.history / replies list them: `metadata` only with include_all_metadata."""
    include_metadata = args.flag("include_all_metadata")
    listed = []
    for message in messages:
        data = host.workspace.message_api(channel, message)
        if not include_metadata:
            data.pop("metadata", None)
        listed.append(data)
    return listed


@method(
    "conversations.history",
    required=("channel",),
    errors=("channel_not_found", "not_in_channel", "invalid_cursor", "invalid_ts_latest", "invalid_ts_oldest"),
    scopes=("channels:history", "groups:history", "im:history", "mpim:history"),
    missing={"channel": "channel_not_found"},
)
async def conversations_history(host: Host, args: Args) -> JSON:
    channel = find_channel(host, args.text("channel"))
    require_member(host, channel)
    newest_first = list(reversed(_window(channel.top_level(), args)))
    page, next_cursor = paginate(newest_first, args)
    return {
        "messages": _listed(host, channel, page, args),
        "has_more": bool(next_cursor),
        "pin_count": len(channel.pins),
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": next_cursor},
    }


@method(
    "conversations.replies",
    required=("channel", "ts"),
    errors=("channel_not_found", "thread_not_found", "invalid_cursor", "invalid_ts_latest", "invalid_ts_oldest"),
    scopes=("channels:history", "groups:history", "im:history", "mpim:history"),
    missing={"channel": "channel_not_found", "ts": "thread_not_found"},
)
async def conversations_replies(host: Host, args: Args) -> JSON:
    """A thread as Slack pages it: `ts` may be the parent's or any reply's. The parent always comes first, whatever
    `oldest` / `latest` say, and counts towards `limit`; then the replies inside the window, oldest first. The
    next pages (`cursor`) hold the rest of those replies. So `limit=1` gives the parent alone (with `has_more`
    when the window holds replies): a reply is found only by reading past the parent."""
    channel = find_channel(host, args.text("channel"))
    message = channel.find(args.text("ts"))
    if message is None:
        raise ApiError("thread_not_found")
    root = channel.find(message.thread_ts) if message.is_reply and message.thread_ts else message
    if root is None:
        raise ApiError("thread_not_found")
    thread = [root, *_window(channel.replies(root.ts), args)]
    page, next_cursor = paginate(thread, args, default_limit=1000)
    return {
        "messages": _listed(host, channel, page, args),
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }


@method(
    "conversations.archive",
    required=("channel",),
    errors=("channel_not_found", "already_archived", "not_in_channel"),
    scopes=("channels:manage", "groups:write", "channels:write"),
    missing={"channel": "channel_not_found"},
)
async def conversations_archive(host: Host, args: Args) -> JSON:
    channel = find_channel(host, args.text("channel"))
    if channel.is_archived:
        raise ApiError("already_archived")
    require_member(host, channel)
    # As when a person archives it (SlackEmulator.archive_channel): Slack's notice in the channel, then
    # channel_archive (group_archive for a private channel) to subscribed apps, the archiving app included.
    me = host.workspace.identity.user_id
    effects.system_message(host, channel, me, "channel_archive", f"<@{me}> archived the channel")
    channel.is_archived = True
    host.emit_event(
        events.channel_archive_event(channel, me, host.workspace.next_ts()), channel if channel.is_private else None
    )
    return {}


@method(
    "conversations.members",
    required=("channel",),
    errors=("channel_not_found", "invalid_cursor", "invalid_limit"),
    scopes=("channels:read", "groups:read", "im:read", "mpim:read"),
    missing={"channel": "channel_not_found"},
)
async def conversations_members(host: Host, args: Args) -> JSON:
    """Members of a conversation the bot can see (private ones only if it is a member), deactivated accounts
    excluded (they left every channel)."""
    channel = find_channel(host, args.text("channel"))
    require_read_scope(host, conversation_type(channel))
    page, next_cursor = paginate(sorted(channel.members), args, bad_limit="invalid_limit")
    return {"members": page, "response_metadata": {"next_cursor": next_cursor}}


def _listed_conversation(host: Host, channel: Channel) -> JSON:
    """A conversation as users.conversations lists it: conversations.info's object without `is_member` and
    `num_members` (OpenAPI: "Returned conversation objects do not include num_members or is_member")."""
    data = host.workspace.channel_api(channel)
    data.pop("is_member", None)
    return data


@method(
    "users.conversations",
    errors=("invalid_types", "invalid_cursor", "invalid_limit"),
    scopes=("channels:read", "groups:read", "im:read", "mpim:read"),
)
async def users_conversations(host: Host, args: Args) -> JSON:
    """The conversations the bot (or `user`) is a member of, oldest first, filtered by `types`.

    With `user`, non-public conversations are only those the bot shares with that user (Slack: "Non-public
    channels are restricted to those where the calling user shares membership"). An unknown `user` is in no
    conversation (the OpenAPI spec documents no user error for this method).
    """
    ws = host.workspace
    types = [t.strip() for t in args.text("types", "public_channel").split(",") if t.strip()] or ["public_channel"]
    if any(t not in READ_SCOPES for t in types):
        raise ApiError("invalid_types")
    for kind in dict.fromkeys(types):
        require_read_scope(host, kind)
    bot = ws.identity.user_id
    user = args.text("user") or bot
    exclude_archived = args.flag("exclude_archived")
    listed = [
        channel
        for channel in ws.channels.values()
        if user in channel.members
        and conversation_type(channel) in types
        and not (exclude_archived and channel.is_archived)
        and (not channel.is_private or bot in channel.members)
    ]
    page, next_cursor = paginate(listed, args, bad_limit="invalid_limit", refuse_over=1000)
    return {
        "channels": [_listed_conversation(host, c) for c in page],
        "response_metadata": {"next_cursor": next_cursor},
    }


SPECS: list[MethodSpec] = [
    conversations_create,
    conversations_invite,
    conversations_join,
    conversations_info,
    conversations_set_topic,
    conversations_set_purpose,
    conversations_history,
    conversations_replies,
    conversations_archive,
    conversations_members,
    users_conversations,
]
