"""State changes shared by Web API methods, response_url posts and simulated people (each emits its events)."""

from __future__ import annotations

from typing import Any

from bot.emulator import events
from bot.emulator.blocks import with_generated_ids
from bot.emulator.context import Host
from bot.emulator.workspace import JSON, Channel, Message


def store_message(host: Host, channel: Channel, message: Message) -> Message:
    """Append a message (threading it under the thread's root) and emit its message / app_mention events."""
    if message.thread_ts:
        parent = channel.find(message.thread_ts)
        if parent is None:
            # Slack posts a reply to an unknown thread_ts as an ordinary channel message.
            message.thread_ts = None
        else:
            root_ts = parent.thread_ts if parent.is_reply and parent.thread_ts else parent.ts
            root = channel.find(root_ts) or parent
            root.thread_ts = root.ts
            message.thread_ts = root.ts
    channel.messages.append(message)
    host.emit_event(events.message_event(host.workspace, channel, message), channel)
    bot = host.workspace.identity
    if message.user != bot.user_id and f"<@{bot.user_id}>" in message.text and not message.subtype:
        host.emit_event(events.app_mention_event(channel, message), channel)
    return message


def bot_message(
    host: Host,
    channel: Channel,
    *,
    text: str,
    blocks: list[JSON] | None = None,
    attachments: list[JSON] | None = None,
    thread_ts: str | None = None,
    metadata: JSON | None = None,
    broadcast: bool = False,
) -> Message:
    """Post a message as the app's bot user (modern bot message: bot_id + user, no subtype)."""
    bot = host.workspace.identity
    message = Message(
        ts=host.workspace.next_ts(),
        channel=channel.id,
        user=bot.user_id,
        text=text,
        blocks=with_generated_ids(blocks or []),
        bot_id=bot.bot_id,
        app_id=bot.app_id,
        team=host.workspace.team_id,
        thread_ts=thread_ts,
        attachments=list(attachments or []),
        metadata=metadata,
        subtype="thread_broadcast" if broadcast and thread_ts else None,
    )
    return store_message(host, channel, message)


def join_channel(host: Host, channel: Channel, user_id: str, inviter: str | None = None) -> None:
    """A member joins: member_joined_channel event plus the channel_join message Slack writes."""
    channel.members.add(user_id)
    ts = host.workspace.next_ts()
    host.emit_event(events.member_joined_event(host.workspace, channel, user_id, inviter, ts), channel)
    notice = Message(
        ts=ts,
        channel=channel.id,
        user=user_id,
        text=f"<@{user_id}> has joined the channel",
        subtype="channel_join",
        inviter=inviter,
        team=host.workspace.team_id,
    )
    store_message(host, channel, notice)


def system_message(host: Host, channel: Channel, user_id: str, subtype: str, text: str) -> Message:
    """A message Slack writes itself (channel_topic, channel_purpose, ...)."""
    message = Message(
        ts=host.workspace.next_ts(),
        channel=channel.id,
        user=user_id,
        text=text,
        subtype=subtype,
        team=host.workspace.team_id,
    )
    return store_message(host, channel, message)


def edit_message(host: Host, channel: Channel, message: Message, changes: dict[str, Any], editor: str) -> None:
    """Apply an edit (text / blocks / attachments) and emit message_changed."""
    before = host.workspace.message_api(channel, message)
    if "text" in changes:
        message.text = str(changes["text"])
    if "blocks" in changes:
        message.blocks = with_generated_ids(list(changes["blocks"] or []))
    if "attachments" in changes:
        message.attachments = list(changes["attachments"] or [])
    event_ts = host.workspace.next_ts()
    message.edited = {"user": editor, "ts": event_ts}
    after = host.workspace.message_api(channel, message)
    host.emit_event(events.message_changed_event(channel, before, after, event_ts), channel)


def delete_message(host: Host, channel: Channel, message: Message) -> None:
    previous = host.workspace.message_api(channel, message)
    channel.messages.remove(message)
    if message.ts in channel.pins:
        channel.pins.remove(message.ts)
    event_ts = host.workspace.next_ts()
    host.emit_event(events.message_deleted_event(channel, previous, event_ts), channel)
