"""State changes shared by Web API methods, response_url posts and simulated people (each emits its events)."""

from __future__ import annotations

from typing import Any

from bot.emulator import events
from bot.emulator.blocks import with_generated_ids
from bot.emulator.context import Host
from bot.emulator.workspace import JSON, Channel, Message

# Message subtypes that still notify a mentioned app with app_mention.
_MENTIONING_SUBTYPES = (None, "file_share", "thread_broadcast")


def store_message(host: Host, channel: Channel, message: Message, *, deliver: bool = True) -> Message:
    """Append a message (threading it under the thread's root) and emit its message / app_mention events.

    deliver=False stores it without emitting anything (a lost or not-yet-delivered event).
    """
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
    if not deliver:
        return message
    host.emit_event(events.message_event(host.workspace, channel, message), channel)
    bot = host.workspace.identity
    mentioned = f"<@{bot.user_id}>" in message.text
    if message.user != bot.user_id and mentioned and message.subtype in _MENTIONING_SUBTYPES:
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


def join_channel(host: Host, channel: Channel, user_id: str, inviter: str | None = None) -> Message:
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
    return store_message(host, channel, notice)


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


def edit_message(
    host: Host, channel: Channel, message: Message, changes: dict[str, Any], editor: str, *, emit: bool = True
) -> JSON:
    """Apply an edit (text / blocks / attachments / metadata); returns the message_changed event (emitted unless
    emit=False)."""
    before = host.workspace.message_api(channel, message)
    if "text" in changes:
        message.text = str(changes["text"])
    if "blocks" in changes:
        message.blocks = with_generated_ids(list(changes["blocks"] or []))
    if "attachments" in changes:
        message.attachments = list(changes["attachments"] or [])
    if "metadata" in changes:
        message.metadata = changes["metadata"] or None
    event_ts = host.workspace.next_ts()
    message.edited = {"user": editor, "ts": event_ts}
    after = host.workspace.message_api(channel, message)
    event = events.message_changed_event(channel, before, after, event_ts)
    if emit:
        host.emit_event(event, channel)
    return event


def delete_message(host: Host, channel: Channel, message: Message, *, emit: bool = True) -> list[JSON]:
    """Delete a message as Slack does; returns the events that makes, in order (emitted unless emit=False).

    A thread parent that still has replies is not removed: it becomes a tombstone (subtype `tombstone`, user
    USLACKBOT, "This message was deleted.", hidden) that history and replies go on listing, and the event is a
    message_changed whose `message` is the tombstone, not a message_deleted. Deleting the last reply under a
    tombstone removes the tombstone as well (a second message_deleted, for the parent)."""
    previous = host.workspace.message_api(channel, message)
    if message.ts in channel.pins:
        channel.pins.remove(message.ts)
    event_ts = host.workspace.next_ts()
    made: list[JSON] = []
    if not message.is_reply and channel.replies(message.ts):
        _bury(message)
        after = host.workspace.message_api(channel, message)
        made.append(events.message_changed_event(channel, previous, after, event_ts))
    else:
        channel.messages.remove(message)
        made.append(events.message_deleted_event(channel, previous, event_ts))
        root = channel.find(message.thread_ts) if message.is_reply and message.thread_ts else None
        if root is not None and root.subtype == "tombstone" and not channel.replies(root.ts):
            buried = host.workspace.message_api(channel, root)
            channel.messages.remove(root)
            made.append(events.message_deleted_event(channel, buried, host.workspace.next_ts()))
    if emit:
        for event in made:
            host.emit_event(event, channel)
    return made


TOMBSTONE_USER = "USLACKBOT"
TOMBSTONE_TEXT = "This message was deleted."


def _bury(message: Message) -> None:
    """What Slack keeps of a deleted thread parent: its place, its thread and nothing of what it said."""
    message.subtype = "tombstone"
    message.user = TOMBSTONE_USER
    message.text = TOMBSTONE_TEXT
    message.blocks = []
    message.attachments = []
    message.files = []
    message.metadata = None
    message.reactions = {}
    message.edited = None
    message.bot_id = None
    message.app_id = None
    message.client_msg_id = None
    message.upload = False
