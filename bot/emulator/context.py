"""What a Web API method implementation gets: its arguments, and the emulator it runs in."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.emulator.workspace import JSON, Channel, EphemeralMessage, Workspace

# Arguments that may arrive JSON-encoded in a form/query string or as real JSON values.
JSON_ARGS = frozenset({"blocks", "view", "attachments", "files", "metadata"})


class ApiError(Exception):
    """A Slack error answer: HTTP 200 `{"ok": false, "error": code, **extra}`."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def invalid_arguments(*messages: str) -> ApiError:
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


class Args:
    """Merged request arguments (query + form + JSON body) with Slack's lenient typing."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values: dict[str, Any] = dict(values)

    def has(self, name: str) -> bool:
        value = self.values.get(name)
        return value is not None and value != ""

    def text(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)

    def opt_str(self, name: str) -> str | None:
        return self.text(name) if self.has(name) else None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "yes")

    def number(self, name: str, default: int) -> int:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(str(value))
        except ValueError as exc:
            raise invalid_arguments(f"invalid `{name}`") from exc

    def decoded(self, name: str) -> Any:
        """A JSON argument (blocks/view/attachments/files) as a Python value; strings are decoded."""
        value = self.values.get(name)
        if isinstance(value, str):
            return json.loads(value)
        return value


class Host(Protocol):
    """The emulator as seen by method implementations."""

    workspace: Workspace
    ephemerals: list[EphemeralMessage]

    @property
    def url(self) -> str: ...

    @property
    def scopes(self) -> frozenset[str]: ...

    def emit_event(self, event: JSON, channel: Channel | None = None) -> None:
        """Deliver an Events API event in the background, if the app is subscribed and can see it."""

    def exchange_trigger(self, trigger_id: str) -> tuple[str, str | None]:
        """(user id, view id the interaction came from) for a usable trigger; raises ApiError otherwise."""
        ...

    def socket_url(self) -> str:
        """A fresh Socket Mode URL (ws://.../link/?ticket=...)."""
        ...


Handler = Callable[[Host, Args], Awaitable[JSON]]

# Errors the dispatcher itself may answer for any method (all listed as generic in platform-notes §0.10,
# except invalid_json / json_not_object, which Slack's OpenAPI spec lists for every method).
GENERIC_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "not_allowed_token_type",
        "missing_scope",
        "ratelimited",
        "unknown_method",
        "invalid_arguments",
        "invalid_json",
        "json_not_object",
    }
)


@dataclass(frozen=True)
class MethodSpec:
    """One Web API method: its implementation, required args, the error codes it can answer, its bot scopes."""

    name: str
    handler: Handler
    required: tuple[str, ...] = ()
    errors: frozenset[str] = frozenset()
    scopes: tuple[str, ...] = ()
    token: Literal["bot", "app"] = "bot"
    missing: Mapping[str, str] = field(default_factory=dict)

    def missing_error(self, arg: str) -> ApiError:
        code = self.missing.get(arg)
        if code is None:
            return invalid_arguments(f"missing required field: {arg}")
        return ApiError(code)

    @property
    def all_errors(self) -> frozenset[str]:
        return self.errors | GENERIC_ERRORS


def method(
    name: str,
    *,
    required: tuple[str, ...] = (),
    errors: tuple[str, ...] = (),
    scopes: tuple[str, ...] = (),
    token: Literal["bot", "app"] = "bot",
    missing: Mapping[str, str] | None = None,
) -> Callable[[Handler], MethodSpec]:
    """Decorator turning a handler into a MethodSpec."""

    def wrap(handler: Handler) -> MethodSpec:
        return MethodSpec(
            name=name,
            handler=handler,
            required=required,
            errors=frozenset(errors) | frozenset((missing or {}).values()),
            scopes=scopes,
            token=token,
            missing=dict(missing or {}),
        )

    return wrap
