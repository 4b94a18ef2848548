"""The Web API: the registry of implemented methods and the request dispatcher for `/api/<method>`."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.emulator import chat, conversations, files, items, views
from bot.emulator.context import JSON_ARGS, ApiError, Args, Host, MethodSpec
from bot.emulator.workspace import JSON, ApiCall

log = logging.getLogger(__name__)

METHODS: dict[str, MethodSpec] = {
    spec.name: spec for spec in [*conversations.SPECS, *chat.SPECS, *items.SPECS, *files.SPECS, *views.SPECS]
}


@dataclass
class Injection:
    """A scripted answer for the next call(s) of a method (fail_next / rate_limit_next)."""

    error: str
    status: int
    retry_after: int | None
    remaining: int


async def read_args(request: web.Request) -> dict[str, Any]:
    """Merge URL query, form body and JSON body (platform-notes §0.2). Raises ApiError for broken JSON."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args
    raw = await request.read()
    if not raw.strip():
        return args
    if request.content_type == "application/json":
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError("invalid_json") from exc
        if not isinstance(body, dict):
            raise ApiError("json_not_object")
        args.update({k: v for k, v in body.items() if v is not None})
    else:
        args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return args


def _recorded(args: dict[str, Any]) -> JSON:
    shown: JSON = {}
    for key, value in args.items():
        if key == "token":
            continue
        if key in JSON_ARGS and isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        shown[key] = value
    return shown


class Dispatcher:
    """Answers `/api/<method>` like Slack: auth, injected failures, scopes, required args, then the method."""

    def __init__(self, host: Host, *, bot_token: str, app_token: str) -> None:
        self.host = host
        self.bot_token = bot_token
        self.app_token = app_token
        self.calls: list[ApiCall] = []
        self.injections: dict[str, list[Injection]] = {}

    def inject(self, method: str, injection: Injection) -> None:
        self.injections.setdefault(method, []).append(injection)

    def _take_injection(self, method: str) -> Injection | None:
        queue = self.injections.get(method)
        if not queue:
            return None
        injection = queue[0]
        injection.remaining -= 1
        if injection.remaining <= 0:
            queue.pop(0)
        return injection

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        args: dict[str, Any] = {}
        status, headers = 200, dict[str, str]()
        try:
            args = await read_args(request)
            body, status, headers = await self._answer(name, request, args)
        except ApiError as error:
            body = {"ok": False, "error": error.code, **error.extra}
        self.calls.append(
            ApiCall(
                method=name,
                args=_recorded(args),
                ok=bool(body.get("ok")),
                error=body.get("error"),
                http_status=status,
                response=body,
            )
        )
        return web.json_response(body, status=status, headers=headers)

    async def _answer(self, name: str, request: web.Request, args: dict[str, Any]) -> tuple[JSON, int, dict[str, str]]:
        spec = METHODS.get(name)
        if spec is None:
            return {"ok": False, "error": "unknown_method", "req_method": name}, 200, {}
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else str(args.get("token") or "")
        if not token:
            raise ApiError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise ApiError("invalid_auth")
        kind = "bot" if token == self.bot_token else "app"
        if kind != spec.token:
            raise ApiError("not_allowed_token_type")
        scopes = self.host.scopes if kind == "bot" else frozenset({"connections:write"})
        headers = {"X-OAuth-Scopes": ",".join(sorted(scopes)), "X-Accepted-OAuth-Scopes": ",".join(spec.scopes)}
        injection = self._take_injection(name)
        if injection is not None:
            if injection.retry_after is not None:
                headers["Retry-After"] = str(injection.retry_after)
            return {"ok": False, "error": injection.error}, injection.status, headers
        if spec.scopes and not scopes & set(spec.scopes):
            raise ApiError("missing_scope", needed=",".join(spec.scopes), provided=",".join(sorted(scopes)))
        call_args = Args(args)
        for required in spec.required:
            if not call_args.has(required):
                raise spec.missing_error(required)
        try:
            result = await spec.handler(self.host, call_args)
        except ApiError as error:
            if error.code not in spec.all_errors:
                raise RuntimeError(
                    f"{name} answered undeclared error {error.code!r}; add it to its MethodSpec"
                ) from error
            return {"ok": False, "error": error.code, **error.extra}, 200, headers
        return {"ok": True, **result}, 200, headers
