"""auth.*, apps.connections.open, users.*, pins.*, reactions.*, bookmarks.add."""

from __future__ import annotations

import re
import time

from bot.emulator import events
from bot.emulator.common import find_channel, find_message, require_active, require_member
from bot.emulator.context import ApiError, Args, Host, MethodSpec, method
from bot.emulator.workspace import JSON, Channel, Message

_EMOJI = re.compile(r"^[a-z0-9_+'-]{1,100}(::skin-tone-[2-6])?$")


@method("auth.test")
async def auth_test(host: Host, args: Args) -> JSON:
    ws = host.workspace
    bot = ws.identity
    return {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_name,
        "user": bot.name,
        "team_id": ws.team_id,
        "user_id": bot.user_id,
        "bot_id": bot.bot_id,
        "app_id": bot.app_id,
        **({"enterprise_id": ws.enterprise_id} if ws.enterprise_id else {}),
        "is_enterprise_install": False,
    }


@method("apps.connections.open", token="app")
async def apps_connections_open(host: Host, args: Args) -> JSON:
    return {"url": host.socket_url()}


@method(
    "users.info",
    required=("user",),
    errors=("user_not_found",),
    scopes=("users:read",),
    missing={"user": "user_not_found"},
)
async def users_info(host: Host, args: Args) -> JSON:
    user = host.workspace.users.get(args.text("user"))
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user.to_api()}


@method("users.lookupByEmail", required=("email",), errors=("users_not_found",), scopes=("users:read.email",))
async def users_lookup_by_email(host: Host, args: Args) -> JSON:
    email = args.text("email").lower()
    for user in host.workspace.users.values():
        if user.email and user.email.lower() == email:
            return {"user": user.to_api()}
    raise ApiError("users_not_found")


def _item(host: Host, args: Args) -> tuple[Channel, Message]:
    if not args.has("channel") or not args.has("timestamp"):
        raise ApiError("no_item_specified")
    channel = find_channel(host, args.text("channel"))
    return channel, find_message(channel, args.text("timestamp"))


@method(
    "pins.add",
    required=("channel",),
    errors=(
        "channel_not_found",
        "no_item_specified",
        "not_in_channel",
        "message_not_found",
        "already_pinned",
        "too_many_pins",
    ),
    scopes=("pins:write",),
    missing={"channel": "channel_not_found"},
)
async def pins_add(host: Host, args: Args) -> JSON:
    channel = find_channel(host, args.text("channel"))
    if not args.has("timestamp"):
        raise ApiError("no_item_specified")
    require_member(host, channel)
    message = find_message(channel, args.text("timestamp"))
    if message.ts in channel.pins:
        raise ApiError("already_pinned")
    if len(channel.pins) >= host.workspace.policy.max_pins:
        raise ApiError("too_many_pins")
    channel.pins.append(message.ts)
    return {}


@method(
    "pins.remove",
    required=("channel",),
    errors=("channel_not_found", "no_item_specified", "message_not_found", "no_pin"),
    scopes=("pins:write",),
    missing={"channel": "channel_not_found"},
)
async def pins_remove(host: Host, args: Args) -> JSON:
    channel, message = _item(host, args)
    if message.ts not in channel.pins:
        raise ApiError("no_pin")
    channel.pins.remove(message.ts)
    return {}


def _emoji_name(args: Args) -> str:
    name = args.text("name").strip(":")
    if not _EMOJI.match(name):
        raise ApiError("invalid_name")
    return name


@method(
    "reactions.add",
    required=("name", "timestamp", "channel"),
    errors=(
        "invalid_name",
        "no_item_specified",
        "channel_not_found",
        "message_not_found",
        "is_archived",
        "already_reacted",
    ),
    scopes=("reactions:write",),
    missing={"name": "invalid_name", "timestamp": "no_item_specified", "channel": "no_item_specified"},
)
async def reactions_add(host: Host, args: Args) -> JSON:
    name = _emoji_name(args)
    channel, message = _item(host, args)
    require_active(channel)
    bot = host.workspace.identity.user_id
    users = message.reactions.setdefault(name, [])
    if bot in users:
        raise ApiError("already_reacted")
    users.append(bot)
    ts = host.workspace.next_ts()
    host.emit_event(events.reaction_event("reaction_added", bot, channel, message, name, ts), channel)
    return {}


@method(
    "reactions.remove",
    required=("name",),
    errors=("invalid_name", "no_item_specified", "channel_not_found", "message_not_found", "no_reaction"),
    scopes=("reactions:write",),
    missing={"name": "invalid_name"},
)
async def reactions_remove(host: Host, args: Args) -> JSON:
    name = _emoji_name(args)
    channel, message = _item(host, args)
    bot = host.workspace.identity.user_id
    users = message.reactions.get(name, [])
    if bot not in users:
        raise ApiError("no_reaction")
    users.remove(bot)
    if not users:
        del message.reactions[name]
    ts = host.workspace.next_ts()
    host.emit_event(events.reaction_event("reaction_removed", bot, channel, message, name, ts), channel)
    return {}


@method(
    "reactions.get",
    errors=("no_item_specified", "channel_not_found", "message_not_found"),
    scopes=("reactions:read",),
)
async def reactions_get(host: Host, args: Args) -> JSON:
    channel, message = _item(host, args)
    return {"type": "message", "channel": channel.id, "message": host.workspace.message_api(channel, message)}


@method(
    "bookmarks.add",
    required=("title", "type"),
    errors=("channel_not_found", "invalid_bookmark_type", "invalid_link", "too_many_bookmarks"),
    scopes=("bookmarks:write",),
)
async def bookmarks_add(host: Host, args: Args) -> JSON:
    if not args.has("channel_id"):
        raise ApiError("channel_not_found")
    channel = find_channel(host, args.text("channel_id"))
    if args.text("type") != "link":
        raise ApiError("invalid_bookmark_type")
    link = args.text("link")
    if not link.startswith(("http://", "https://")):
        raise ApiError("invalid_link")
    if len(channel.bookmarks) >= 100:
        raise ApiError("too_many_bookmarks")
    ws = host.workspace
    bookmark: JSON = {
        "id": ws.new_id("Bk"),
        "channel_id": channel.id,
        "title": args.text("title"),
        "link": link,
        "emoji": args.opt_str("emoji"),
        "icon_url": None,
        "type": "link",
        "entity_id": None,
        "date_created": int(time.time()),
        "date_updated": 0,
        "rank": chr(ord("a") + len(channel.bookmarks) % 26),
        "last_updated_by_user_id": ws.identity.user_id,
        "last_updated_by_team_id": ws.team_id,
        "shortcut_id": None,
        "app_id": ws.identity.app_id,
    }
    channel.bookmarks.append(bookmark)
    return {"bookmark": bookmark}


SPECS: list[MethodSpec] = [
    auth_test,
    apps_connections_open,
    users_info,
    users_lookup_by_email,
    pins_add,
    pins_remove,
    reactions_add,
    reactions_remove,
    reactions_get,
    bookmarks_add,
]
