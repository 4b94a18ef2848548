"""What Slack sends the bot: slash-command forms, event_callback envelopes, interactivity payloads (notes §2)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from bot.emulator.workspace import JSON, Channel, View, Workspace

VERIFICATION_TOKEN = "emulator-verification-token"


def new_trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**7):07d}.{secrets.token_hex(16)}"


def new_event_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "Ev" + "".join(secrets.choice(alphabet) for _ in range(10))


def action_ts() -> str:
    return f"{time.time():.6f}"


def team_ref(ws: Workspace) -> JSON:
    ref: JSON = {"id": ws.team_id, "domain": ws.team_domain}
    if ws.enterprise_id:
        ref |= {"enterprise_id": ws.enterprise_id, "enterprise_name": ws.enterprise_name}
    return ref


def enterprise_ref(ws: Workspace) -> JSON | None:
    """The organisation of an Enterprise Grid workspace as interaction payloads name it (None: not in one)."""
    return {"id": ws.enterprise_id, "name": ws.enterprise_name} if ws.enterprise_id else None


def user_ref(ws: Workspace, user_id: str) -> JSON:
    name = ws.display_name(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": ws.team_id}


def channel_ref(channel: Channel) -> JSON:
    return {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name}


def command_form(
    ws: Workspace,
    *,
    user_id: str,
    channel: Channel,
    command: str,
    text: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, str]:
    form = {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        "team_domain": ws.team_domain,
        "channel_id": channel.id,
        "channel_name": channel_ref(channel)["name"],
        "user_id": user_id,
        "user_name": ws.display_name(user_id),
        "command": command,
        "text": text,
        "api_app_id": ws.identity.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    if ws.enterprise_id:
        form |= {"enterprise_id": ws.enterprise_id, "enterprise_name": ws.enterprise_name or ""}
    return form


def event_envelope(ws: Workspace, event: JSON, event_id: str) -> JSON:
    event = dict(event)
    event.setdefault("event_ts", f"{time.time():.6f}")
    context = {"type": event.get("type"), "team": ws.team_id, "channel": event.get("channel")}
    envelope: JSON = {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        **({"enterprise_id": ws.enterprise_id} if ws.enterprise_id else {}),
        "api_app_id": ws.identity.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": ws.enterprise_id,
                "team_id": ws.team_id,
                "user_id": ws.identity.user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("="),
    }
    return envelope


def _interactive_base(ws: Workspace, kind: str, user_id: str, trigger_id: str) -> JSON:
    return {
        "type": kind,
        "user": user_ref(ws, user_id),
        "api_app_id": ws.identity.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": team_ref(ws),
        "enterprise": enterprise_ref(ws),
        "is_enterprise_install": False,
    }


def block_actions(
    ws: Workspace,
    *,
    user_id: str,
    trigger_id: str,
    action: JSON,
    state_values: JSON,
    channel: Channel | None = None,
    message: JSON | None = None,
    message_ts: str | None = None,
    is_ephemeral: bool = False,
    response_url: str | None = None,
    view: View | None = None,
) -> JSON:
    payload = _interactive_base(ws, "block_actions", user_id, trigger_id)
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.id}
        payload["view"] = ws.view_api(view)
    elif channel is not None:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel.id,
            "is_ephemeral": is_ephemeral,
        }
        payload["channel"] = channel_ref(channel)
        if message is not None:
            payload["message"] = message
    payload["state"] = {"values": state_values}
    if response_url is not None:
        payload["response_url"] = response_url
    payload["actions"] = [action]
    return payload


def view_submission(ws: Workspace, *, user_id: str, trigger_id: str, view: View) -> JSON:
    payload = _interactive_base(ws, "view_submission", user_id, trigger_id)
    payload["view"] = ws.view_api(view)
    payload["response_urls"] = []
    return payload


def view_closed(ws: Workspace, *, user_id: str, view: View) -> JSON:
    payload = _interactive_base(ws, "view_closed", user_id, "")
    del payload["trigger_id"]
    payload["view"] = ws.view_api(view)
    payload["is_cleared"] = False
    return payload


def message_action(
    ws: Workspace,
    *,
    user_id: str,
    trigger_id: str,
    callback_id: str,
    channel: Channel,
    message: JSON,
    response_url: str,
) -> JSON:
    payload = _interactive_base(ws, "message_action", user_id, trigger_id)
    payload.update(
        {
            "action_ts": action_ts(),
            "callback_id": callback_id,
            "channel": channel_ref(channel),
            "message_ts": message["ts"],
            "message": message,
            "response_url": response_url,
        }
    )
    return payload


def global_shortcut(ws: Workspace, *, user_id: str, trigger_id: str, callback_id: str) -> JSON:
    payload = _interactive_base(ws, "shortcut", user_id, trigger_id)
    payload.update({"action_ts": action_ts(), "callback_id": callback_id})
    return payload


# -- actions and input state -------------------------------------------------------------------------------
_TEXT_INPUTS = {"plain_text_input", "email_text_input", "url_text_input", "number_input"}
_SINGLE_OPTION = {"static_select", "external_select", "radio_buttons", "overflow"}
_MULTI_OPTION = {"multi_static_select", "multi_external_select", "checkboxes"}
_SELECTED = {
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}


def _options(element: JSON) -> list[JSON]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def pick_option(element: JSON, choice: str | Mapping[str, Any]) -> JSON:
    """The option object for a choice given as an option value (or as an option dict)."""
    if not isinstance(choice, str):
        return dict(choice)
    if element.get("type") in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": choice}, "value": choice}
    for option in _options(element):
        if option.get("value") == choice:
            return dict(option)
    values = [o.get("value") for o in _options(element)]
    raise ValueError(f"{element.get('action_id')!r} has no option with value {choice!r}; options: {values}")


def element_state(element: JSON, given: Any = None) -> JSON:
    """state.values entry for an element: from `given` (shorthand or full dict) or its initial value."""
    kind = str(element.get("type"))
    if isinstance(given, Mapping):
        return {"type": kind, **given}
    if kind in _TEXT_INPUTS:
        return {"type": kind, "value": given if given is not None else element.get("initial_value")}
    if kind in _SINGLE_OPTION:
        option = pick_option(element, given) if given is not None else element.get("initial_option")
        return {"type": kind, "selected_option": option}
    if kind in _MULTI_OPTION:
        chosen = [pick_option(element, g) for g in given] if given is not None else element.get("initial_options")
        return {"type": kind, "selected_options": chosen or []}
    if kind in _SELECTED:
        key, initial = _SELECTED[kind]
        default: Any = [] if kind.startswith("multi_") else None
        return {"type": kind, key: given if given is not None else element.get(initial, default)}
    if kind == "rich_text_input":
        return {"type": kind, "rich_text_value": given if given is not None else element.get("initial_value")}
    return {"type": kind, "value": given}


def is_empty(state: JSON) -> bool:
    return all(value in (None, "", []) for key, value in state.items() if key != "type")


def build_action(
    block: JSON,
    element: JSON,
    *,
    value: str | None = None,
    selected_option: str | Mapping[str, Any] | None = None,
    selected_user: str | None = None,
) -> tuple[JSON, JSON | None]:
    """(actions[0] of a block_actions payload, the element's new state entry or None for buttons)."""
    kind = str(element.get("type"))
    action: JSON = {"action_id": element.get("action_id"), "block_id": block.get("block_id"), "type": kind}
    state: JSON | None = None
    if kind == "button":
        action["text"] = element.get("text")
        chosen = value if value is not None else element.get("value")
        if chosen is not None:
            action["value"] = chosen
        if "style" in element:
            action["style"] = element["style"]
    else:
        given: Any = selected_option if selected_option is not None else value
        if kind in _SELECTED and kind.endswith("users_select") and selected_user is not None:
            given = selected_user if kind == "users_select" else [selected_user]
        if given is None:
            raise ValueError(f"clicking {kind} {element.get('action_id')!r} needs a value or selected_option")
        state = element_state(element, given)
        action.update({k: v for k, v in state.items() if k != "type"})
        if "placeholder" in element:
            action["placeholder"] = element["placeholder"]
    action["action_ts"] = action_ts()
    return action, state


def submission_state(view: View, values: Mapping[str, Mapping[str, Any]]) -> JSON:
    """state.values for a view_submission: every input block, from `values` or the element's initial value.

    Raises ValueError for unknown block/action ids and for required inputs left empty (Slack's client would
    not let the person submit).
    """
    inputs: dict[str, JSON] = {}
    elements: dict[str, dict[str, JSON]] = {}
    for block in view.blocks:
        block_id = str(block.get("block_id"))
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            inputs[block_id] = block
            elements[block_id] = {str(block["element"].get("action_id")): block["element"]}
        elif block.get("type") == "actions":
            elements[block_id] = {str(e.get("action_id")): e for e in block.get("elements") or []}
    state: JSON = {}
    for block_id, per_action in values.items():
        if block_id not in elements:
            raise ValueError(f"view {view.id} has no input block {block_id!r}; blocks: {sorted(elements)}")
        for action_id, given in per_action.items():
            element = elements[block_id].get(action_id)
            if element is None:
                raise ValueError(f"block {block_id!r} has no element {action_id!r}; has {sorted(elements[block_id])}")
            state.setdefault(block_id, {})[action_id] = element_state(element, given)
    for block_id, block in inputs.items():
        element = block["element"]
        action_id = str(element.get("action_id"))
        entry = state.setdefault(block_id, {}).setdefault(action_id, element_state(element))
        if is_empty(entry) and not block.get("optional", False):
            raise ValueError(f"required input {block_id!r}/{action_id!r} is empty; Slack would not submit the view")
    return state
