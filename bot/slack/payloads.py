"""Bolt's payload dicts turned into typed requests. (Text stays in Slack's markup; bot/slack/markup.py reads it.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .ids import MODAL_INPUT_ACTION, ModalBlock
from .teams import team_of

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def mentioned_user(text: str) -> str | None:
    """The first user mention in escaped command text (`<@U123|ann>` or `<@U123>`)."""
    match = _USER.search(text)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class CommandRequest:
    team_id: str
    user_id: str
    channel_id: str
    command: str
    text: str  # as Slack sent it (escaped)
    trigger_id: str
    response_url: str


def command_request(body: dict[str, Any]) -> CommandRequest:
    return CommandRequest(
        team_id=team_of(body) or "",
        user_id=str(body.get("user_id", "")),
        channel_id=str(body.get("channel_id", "")),
        command=str(body.get("command", "")),
        text=str(body.get("text", "")),
        trigger_id=str(body.get("trigger_id", "")),
        response_url=str(body.get("response_url", "")),
    )


@dataclass(frozen=True, slots=True)
class ActionRequest:
    team_id: str
    user_id: str
    channel_id: str  # where it was clicked: the only thing that says which incident a card or suggestion acts on
    action_id: str
    action_ts: str  # Slack's id of this click: a replay carries the same one
    value: str | None  # a button's value, a select's chosen option, a users_select's user

    @property
    def request_key(self) -> str | None:
        return f"action:{self.action_ts}:{self.user_id}:{self.action_id}" if self.action_ts else None


def action_request(body: dict[str, Any]) -> ActionRequest:
    action = (body.get("actions") or [{}])[0]
    value = action.get("value") or (action.get("selected_option") or {}).get("value") or action.get("selected_user")
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    return ActionRequest(
        team_id=team_of(body) or "",
        user_id=str((body.get("user") or {}).get("id", "")),
        channel_id=str(channel.get("id") or container.get("channel_id") or ""),
        action_id=str(action.get("action_id", "")),
        action_ts=str(action.get("action_ts") or ""),
        value=None if value is None else str(value),
    )


@dataclass(frozen=True, slots=True)
class OpenModalSubmission:
    team_id: str
    user_id: str
    view_id: str
    origin_channel: str
    title: str
    severity: str
    description: str


def open_modal_submission(body: dict[str, Any]) -> OpenModalSubmission:
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> dict[str, Any]:
        return dict((values.get(block) or {}).get(MODAL_INPUT_ACTION) or {})

    return OpenModalSubmission(
        team_id=team_of(body) or "",
        user_id=str((body.get("user") or {}).get("id", "")),
        view_id=str(view.get("id", "")),
        origin_channel=str(view.get("private_metadata", "")),
        title=str(field(ModalBlock.TITLE).get("value") or ""),
        severity=str((field(ModalBlock.SEVERITY).get("selected_option") or {}).get("value") or ""),
        description=str(field(ModalBlock.DESCRIPTION).get("value") or ""),
    )


@dataclass(frozen=True, slots=True)
class MessageShortcut:
    team_id: str
    user_id: str
    trigger_id: str
    channel_id: str
    message_ts: str
    author_id: str | None
    text: str


def message_shortcut(body: dict[str, Any]) -> MessageShortcut:
    message = body.get("message") or {}
    return MessageShortcut(
        team_id=team_of(body) or "",
        user_id=str((body.get("user") or {}).get("id", "")),
        trigger_id=str(body.get("trigger_id", "")),
        channel_id=str((body.get("channel") or {}).get("id", "")),
        message_ts=str(body.get("message_ts") or message.get("ts") or ""),
        author_id=message.get("user"),
        text=str(message.get("text") or ""),
    )


@dataclass(frozen=True, slots=True)
class TimelineFormSubmission:
    team_id: str
    user_id: str
    view_id: str
    incident_id: int | None
    kind: str
    metadata: str


def timeline_form_submission(body: dict[str, Any]) -> TimelineFormSubmission:
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}

    def chosen(block: str) -> str:
        return str(
            ((values.get(block) or {}).get(MODAL_INPUT_ACTION) or {}).get("selected_option", {}).get("value") or ""
        )

    incident = chosen(ModalBlock.INCIDENT)
    return TimelineFormSubmission(
        team_id=team_of(body) or "",
        user_id=str((body.get("user") or {}).get("id", "")),
        view_id=str(view.get("id", "")),
        incident_id=int(incident) if incident.isdigit() else None,
        kind=chosen(ModalBlock.KIND),
        metadata=str(view.get("private_metadata", "")),
    )


@dataclass(frozen=True, slots=True)
class UpdateFormSubmission:
    """The status update form: its fields as typed (plain text, not Slack's markup)."""

    team_id: str
    user_id: str
    view_id: str
    channel_id: str  # where `/incident update` was run (the form's private_metadata)
    status: str
    impact: str
    next_steps: str


def update_form_submission(body: dict[str, Any]) -> UpdateFormSubmission:
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}

    def typed(block: str) -> str:
        return str(((values.get(block) or {}).get(MODAL_INPUT_ACTION) or {}).get("value") or "")

    return UpdateFormSubmission(
        team_id=team_of(body) or "",
        user_id=str((body.get("user") or {}).get("id", "")),
        view_id=str(view.get("id", "")),
        channel_id=str(view.get("private_metadata", "")),
        status=typed(ModalBlock.UPDATE_STATUS),
        impact=typed(ModalBlock.UPDATE_IMPACT),
        next_steps=typed(ModalBlock.UPDATE_NEXT_STEPS),
    )
