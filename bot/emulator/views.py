"""views.* methods and the modal stack they drive (also used when a view_submission ack says update/push)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from bot.emulator.blocks import validate_view, with_generated_ids
from bot.emulator.context import ApiError, Args, Host, MethodSpec, invalid_arguments, method
from bot.emulator.workspace import JSON, View, Workspace

MAX_VIEW_BYTES = 250_000
MAX_STACK = 3


def new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def check_view(ws: Workspace, spec: Any, *, home: bool = False, replacing: View | None = None) -> JSON:
    """Validate a view payload; returns it as a dict. invalid_arguments / view_too_large / duplicate_external_id."""
    if len(json.dumps(spec)) > MAX_VIEW_BYTES:
        raise ApiError("view_too_large")
    errors = validate_view(spec, home=home)
    if errors:
        raise invalid_arguments(*errors)
    assert isinstance(spec, dict)
    external_id = spec.get("external_id") or ""
    if external_id:
        for other in ws.views.values():
            if other is not replacing and other.external_id == external_id and other.is_open:
                raise ApiError("duplicate_external_id")
    return spec


def _fill(view: View, spec: JSON) -> None:
    view.view = spec
    view.type = str(spec.get("type", "modal"))
    view.blocks = with_generated_ids(list(spec.get("blocks") or []))
    view.callback_id = str(spec.get("callback_id") or "")
    view.private_metadata = str(spec.get("private_metadata") or "")
    view.external_id = str(spec.get("external_id") or "")
    view.hash = new_hash()
    view.state_values = {}
    view.errors = {}


def open_modal(ws: Workspace, user: str, spec: JSON, trigger_id: str | None, *, push: bool = False) -> View:
    stack = ws.modal_stacks.setdefault(user, [])
    if not push:
        close_stack(ws, user)
        stack = ws.modal_stacks.setdefault(user, [])
    view = View(
        id=ws.new_id("V"),
        user=user,
        view={},
        callback_id="",
        private_metadata="",
        hash="",
        trigger_id=trigger_id,
    )
    _fill(view, spec)
    view.root_view_id = stack[0] if stack else view.id
    view.previous_view_id = stack[-1] if stack else None
    stack.append(view.id)
    ws.views[view.id] = view
    return view


def update_view(view: View, spec: JSON) -> None:
    _fill(view, spec)


def close_top(ws: Workspace, user: str) -> None:
    stack = ws.modal_stacks.get(user, [])
    if stack:
        ws.views[stack.pop()].is_open = False


def close_stack(ws: Workspace, user: str) -> None:
    for view_id in ws.modal_stacks.pop(user, []):
        ws.views[view_id].is_open = False


def _trigger(host: Host, args: Args) -> tuple[str, str | None]:
    trigger_id = args.opt_str("trigger_id") or args.opt_str("interactivity_pointer")
    if trigger_id is None:
        raise invalid_arguments("missing required field: trigger_id")
    return host.exchange_trigger(trigger_id)


def _view_arg(args: Args) -> Any:
    try:
        return args.decoded("view")
    except json.JSONDecodeError as exc:
        raise invalid_arguments("invalid `view`: not valid JSON") from exc


_TRIGGER_ERRORS = ("invalid_trigger_id", "exchanged_trigger_id", "expired_trigger_id")


@method("views.open", required=("view",), errors=(*_TRIGGER_ERRORS, "view_too_large", "duplicate_external_id"))
async def views_open(host: Host, args: Args) -> JSON:
    ws = host.workspace
    spec = check_view(ws, _view_arg(args))
    user, _ = _trigger(host, args)
    view = open_modal(ws, user, spec, args.opt_str("trigger_id"))
    return {"view": ws.view_api(view)}


@method(
    "views.push",
    required=("view",),
    errors=(*_TRIGGER_ERRORS, "view_too_large", "duplicate_external_id", "not_found", "push_limit_reached"),
)
async def views_push(host: Host, args: Args) -> JSON:
    ws = host.workspace
    spec = check_view(ws, _view_arg(args))
    user, _ = _trigger(host, args)
    stack = ws.modal_stacks.get(user, [])
    if not stack:
        raise ApiError("not_found")
    if len(stack) >= MAX_STACK:
        raise ApiError("push_limit_reached")
    view = open_modal(ws, user, spec, args.opt_str("trigger_id"), push=True)
    return {"view": ws.view_api(view)}


@method(
    "views.update",
    required=("view",),
    errors=("not_found", "hash_conflict", "view_too_large", "duplicate_external_id"),
)
async def views_update(host: Host, args: Args) -> JSON:
    ws = host.workspace
    view: View | None = None
    if args.has("view_id"):
        view = ws.views.get(args.text("view_id"))
    elif args.has("external_id"):
        wanted = args.text("external_id")
        view = next((v for v in ws.views.values() if v.external_id == wanted and v.is_open), None)
    else:
        raise invalid_arguments("missing required field: view_id or external_id")
    if view is None or not view.is_open:
        raise ApiError("not_found")
    if args.has("hash") and args.text("hash") != view.hash:
        raise ApiError("hash_conflict")
    spec = check_view(ws, _view_arg(args), home=view.type == "home", replacing=view)
    update_view(view, spec)
    return {"view": ws.view_api(view)}


@method(
    "views.publish",
    required=("user_id", "view"),
    errors=("hash_conflict", "view_too_large", "duplicate_external_id"),
)
async def views_publish(host: Host, args: Args) -> JSON:
    ws = host.workspace
    user = args.text("user_id")
    if user not in ws.users:
        raise invalid_arguments("invalid `user_id`")
    home = next((v for v in ws.views.values() if v.user == user and v.type == "home"), None)
    if home is not None and args.has("hash") and args.text("hash") != home.hash:
        raise ApiError("hash_conflict")
    spec = check_view(ws, _view_arg(args), home=True, replacing=home)
    if home is None:
        home = View(
            id=ws.new_id("V"), user=user, view={}, callback_id="", private_metadata="", hash="", trigger_id=None
        )
        home.root_view_id = home.id
        ws.views[home.id] = home
    update_view(home, spec)
    return {"view": ws.view_api(home)}


SPECS: list[MethodSpec] = [views_open, views_push, views_update, views_publish]
