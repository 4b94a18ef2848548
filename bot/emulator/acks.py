"""What the bot's answers change: command acks, response_url posts and view_submission acks."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

from bot.emulator import effects
from bot.emulator.blocks import MESSAGE_MAX_BLOCK_TEXT, MESSAGE_MAX_BLOCKS, block_text_length, validate_blocks
from bot.emulator.common import truncated
from bot.emulator.context import ApiError, Host
from bot.emulator.delivery import Delivery
from bot.emulator.views import check_view, close_stack, close_top, open_modal, update_view
from bot.emulator.workspace import JSON, Channel, View, Workspace

log = logging.getLogger(__name__)

# A response_url "can be used up to 5 times within 30 minutes" (Slack's interactivity docs, "Responding to
# interactions"); past that Slack answers 404 (`used_url`, `expired_url`).
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60


@dataclass(frozen=True)
class PrivateNotice:
    """Something only one person saw: a command's ack or an ephemeral response_url post."""

    user: str
    channel: str | None
    text: str
    blocks: list[JSON]
    source: str


@dataclass
class ResponseTarget:
    """Where a response_url leads: who triggered it, in which channel, from which message."""

    user: str
    channel: str | None
    message_ts: str | None
    is_ephemeral: bool
    issued: float = field(default_factory=time.monotonic)
    uses: int = 0

    def refusal(self, lifetime: float) -> str | None:
        """Why Slack no longer takes a post to this URL (None: it does)."""
        if time.monotonic() - self.issued > lifetime:
            return "expired_url"
        if self.uses >= RESPONSE_URL_USES:
            return "used_url"
        return None


def show_message(
    host: Host, notices: list[PrivateNotice], user_id: str, channel: Channel | None, message: JSON, source: str
) -> None:
    """in_channel -> posted by the bot for everyone; otherwise only the user sees it (text past 40,000 characters
    is cut off, as Slack does with every way of posting)."""
    text = truncated(str(message.get("text") or ""))
    blocks = message.get("blocks") if isinstance(message.get("blocks"), list) else []
    if message.get("response_type") == "in_channel" and channel is not None:
        effects.bot_message(host, channel, text=text, blocks=blocks, thread_ts=message.get("thread_ts"))
        return
    notices.append(PrivateNotice(user_id, channel.id if channel else None, text, list(blocks or []), source))


def apply_command_ack(
    host: Host, notices: list[PrivateNotice], user_id: str, channel: Channel, delivery: Delivery
) -> None:
    """A slash command's ack body is a message: plain text (ephemeral) or JSON with response_type."""
    if not delivery.ok or not delivery.body:
        return
    parsed = delivery.json()
    message: JSON = parsed if isinstance(parsed, dict) else {"text": delivery.body}
    show_message(host, notices, user_id, channel, message, "command_ack")


def response_error(payload: JSON) -> str | None:
    """Why Slack refuses a POST to a response_url (HTTP 400 with this body, as its webhooks do), or None."""
    blocks = payload.get("blocks")
    if blocks is None:
        return None
    if validate_blocks(blocks, max_blocks=MESSAGE_MAX_BLOCKS) or block_text_length(blocks) > MESSAGE_MAX_BLOCK_TEXT:
        return "invalid_blocks"
    return None


def apply_response(host: Host, notices: list[PrivateNotice], target: ResponseTarget, payload: JSON) -> None:
    """A POST to a response_url: delete_original / replace_original the source message, or a new message."""
    channel = host.workspace.channels.get(target.channel or "")
    original = channel.find(target.message_ts) if channel and target.message_ts else None
    bot = host.workspace.identity.user_id
    if payload.get("delete_original"):
        if original is not None and channel is not None:
            effects.delete_message(host, channel, original)
        elif target.is_ephemeral:
            host.ephemerals[:] = [e for e in host.ephemerals if e.message_ts != target.message_ts]
        return
    if payload.get("replace_original"):
        text = truncated(str(payload.get("text") or ""))
        blocks = payload.get("blocks") if isinstance(payload.get("blocks"), list) else []
        if original is not None and channel is not None:
            effects.edit_message(host, channel, original, {"text": text, "blocks": blocks}, editor=bot)
            return
        if target.is_ephemeral:
            host.ephemerals[:] = [
                dataclasses.replace(e, text=text, blocks=list(blocks or [])) if e.message_ts == target.message_ts else e
                for e in host.ephemerals
            ]
            return
    show_message(host, notices, target.user, channel, payload, "response_url")


def apply_submission_ack(ws: Workspace, user_id: str, view: View, delivery: Delivery) -> None:
    """Empty ack closes the view; response_action errors / update / push / clear as Slack does."""
    ack = delivery.json()
    ack = ack if isinstance(ack, dict) else {}
    action = ack.get("response_action")
    try:
        if action == "errors":
            view.errors = dict(ack.get("errors") or {})
        elif action == "update":
            update_view(view, check_view(ws, ack.get("view"), replacing=view))
        elif action == "push":
            open_modal(ws, user_id, check_view(ws, ack.get("view")), None, push=True)
        elif action == "clear":
            close_stack(ws, user_id)
        else:
            close_top(ws, user_id)
    except ApiError as error:
        log.warning("view_submission ack refused by Slack: %s %s", error.code, error.extra)
        view.errors = {"": f"{error.code}: {error.extra}"}
