"""The Web API: the registry of implemented methods and the request dispatcher for `/api/<method>`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

from bot.emulator import chat, conversations, files, items, views
from bot.emulator.context import JSON_ARGS, ApiError, Args, Host, MethodSpec
from bot.emulator.workspace import JSON, RESTRICTABLE, ApiCall, Fault

log = logging.getLogger(__name__)


def _with_policy_errors(spec: MethodSpec) -> MethodSpec:
    """A method an admin can restrict for apps also answers restricted_action (see Workspace.policy)."""
    if spec.name not in RESTRICTABLE:
        return spec
    return dataclasses.replace(spec, errors=spec.errors | {"restricted_action"})


METHODS: dict[str, MethodSpec] = {
    spec.name: _with_policy_errors(spec)
    for spec in [*conversations.SPECS, *chat.SPECS, *items.SPECS, *files.SPECS, *views.SPECS]
}


@dataclass
class Injection:
    """A scripted answer for the next call(s) of a method (fail_next / rate_limit_next)."""

    error: str
    status: int
    retry_after: int | None
    remaining: int


class Hold:
    """The answer to the next call of a method, held until `release()` (or until the emulator stops).

    `arrived` is set when the call has arrived and, with perform=True, taken effect. With perform=False the call
    takes effect only at `release()`; if the emulator stops first it never does (recorded with fault "dropped").
    """

    def __init__(self, method: str, *, perform: bool) -> None:
        self.method = method
        self.perform = perform
        self.arrived = asyncio.Event()
        self.released_event = asyncio.Event()
        self.call: ApiCall | None = None  # the recorded call, once it has been performed (or dropped)

    @property
    def released(self) -> bool:
        return self.released_event.is_set()

    def release(self) -> None:
        """Let the held answer go (with perform=False: perform the call now, then answer)."""
        self.released_event.set()


@dataclass
class AfterFault:
    """A fault applied after the method ran (fail_after_performing / delay_after_performing / hold)."""

    kind: Fault
    remaining: int
    status: int = 500
    delay: float = 0.0
    hold: Hold | None = None


_Scripted = TypeVar("_Scripted", Injection, AfterFault)


def outage_response(status: int) -> web.Response:
    """What a Slack outage answers: a 5xx with an HTML page, not the Web API's JSON."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Server Error"
    html = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    return web.Response(status=status, text=html, content_type="text/html")


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


def request_token(request: web.Request, args: dict[str, Any]) -> str:
    """The token a Web API call carries: `Authorization: Bearer …`, else its `token` argument ("" if none)."""
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else str(args.get("token") or "")


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
    """Answers `/api/<method>` like Slack: auth, injected failures, scopes, required args, then the method.

    Faults scripted "after performing" (fail_after_performing / delay_after_performing / hold) let the method run
    and then change how, or when, its answer is sent; the call is recorded as soon as it took effect.
    """

    def __init__(self, host: Host, *, bot_token: str, app_token: str) -> None:
        self.host = host
        self.app_token = app_token
        # The bot tokens that work, each with the time it expires (None: never), by `clock` (epoch seconds).
        self.bot_tokens: dict[str, float | None] = {bot_token: None}
        self.refresh_tokens: set[str] = set()  # refresh tokens of expiring bot tokens not used yet (OAuth)
        self.clock: Callable[[], float] = time.time
        self.revoked: set[str] = set()  # tokens Slack revoked (tokens_revoked / app_uninstalled): token_revoked
        self.calls: list[ApiCall] = []
        self.injections: dict[str, list[Injection]] = {}
        self.after_faults: dict[str, list[AfterFault]] = {}
        self.closing = asyncio.Event()
        self._faulted_calls = 0
        self._no_faulted_calls = asyncio.Event()
        self._no_faulted_calls.set()

    def open(self) -> None:
        """(Re)start answering: fresh events, bound to the loop the server now runs in."""
        self.closing = asyncio.Event()
        self._no_faulted_calls = asyncio.Event()
        self._no_faulted_calls.set()

    async def close(self) -> None:
        """Answer every held or delayed call now (held perform=False calls are dropped unperformed) and give
        their handlers a moment to finish, so stopping the server never waits for them."""
        self.closing.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_faulted_calls.wait(), timeout=1.0)

    def grant(self, token: str, expires: float | None = None) -> None:
        """A bot token now works (until `expires`, by `clock`; None: until revoked)."""
        self.bot_tokens[token] = expires
        self.revoked.discard(token)

    def revoke_all(self) -> None:
        """Every bot token and refresh token of the app in this workspace is revoked (uninstall / tokens_revoked)."""
        self.revoked.update(self.bot_tokens)
        self.refresh_tokens.clear()

    def holds(self, token: str) -> bool:
        """The token is (or was) one of this workspace's bot tokens."""
        return token in self.bot_tokens or token in self.revoked

    def token_kind(self, token: str) -> str:
        """The kind of a token that works here ("bot" or "app"); else ApiError, as Slack answers it."""
        if not token:
            raise ApiError("not_authed")
        if token == self.app_token:
            return "app"
        if token not in self.bot_tokens:
            raise ApiError("invalid_auth")
        if token in self.revoked:
            raise ApiError("token_revoked")
        expires = self.bot_tokens[token]
        if expires is not None and self.clock() >= expires:
            raise ApiError("token_expired")
        return "bot"

    def inject(self, method: str, injection: Injection) -> None:
        self.injections.setdefault(method, []).append(injection)

    def inject_after(self, method: str, fault: AfterFault) -> None:
        self.after_faults.setdefault(method, []).append(fault)

    async def _until_closing(self, event: asyncio.Event | None = None, seconds: float | None = None) -> None:
        """Wait for `event` (or `seconds`), cut short when the emulator stops."""
        waiters = [asyncio.ensure_future(self.closing.wait())]
        if event is not None:
            waiters.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def record(self, name: str, args: dict[str, Any], body: JSON) -> None:
        """A call answered outside the dispatcher (Sign in with Slack's methods), recorded like the others."""
        self._record(name, args, body, 200)

    def _record(self, name: str, args: dict[str, Any], body: JSON, status: int, fault: Fault | None = None) -> ApiCall:
        call = ApiCall(
            method=name,
            args=_recorded(args),
            ok=bool(body.get("ok")),
            error=body.get("error"),
            http_status=status,
            response=body,
            fault=fault,
        )
        self.calls.append(call)
        return call

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        args: dict[str, Any] = {}
        status, headers = 200, dict[str, str]()
        try:
            args = await read_args(request)
            spec, headers, early = self._admit(name, request, args)
            if early is not None:
                body, status = early
            else:
                assert spec is not None
                fault = _take(self.after_faults, name)  # only calls that get this far are performed
                if fault is not None:
                    return await self._faulted(spec, args, headers, fault)
                body = await self._perform(spec, args)
        except ApiError as error:
            body = {"ok": False, "error": error.code, **error.extra}
        self._record(name, args, body, status)
        return web.json_response(body, status=status, headers=headers)

    async def _faulted(
        self, spec: MethodSpec, args: dict[str, Any], headers: dict[str, str], fault: AfterFault
    ) -> web.Response:
        """Run a call whose answer a scripted fault changes (the call itself takes effect as usual)."""
        self._faulted_calls += 1
        self._no_faulted_calls.clear()
        try:
            return await self._run_faulted(spec, args, headers, fault)
        finally:
            self._faulted_calls -= 1
            if self._faulted_calls == 0:
                self._no_faulted_calls.set()

    async def _run_faulted(
        self, spec: MethodSpec, args: dict[str, Any], headers: dict[str, str], fault: AfterFault
    ) -> web.Response:
        hold = fault.hold
        if hold is not None and not hold.perform:
            hold.arrived.set()
            await self._until_closing(hold.released_event)
            if not hold.released:
                hold.call = self._record(spec.name, args, {}, 503, "dropped")
                return outage_response(503)
        body = await self._guarded(spec, args)
        if fault.kind == "failed_after_performing":
            self._record(spec.name, args, body, fault.status, fault.kind)
            return outage_response(fault.status)
        call = self._record(spec.name, args, body, 200, fault.kind)
        if hold is not None:
            hold.call = call
            hold.arrived.set()
            await self._until_closing(hold.released_event)
        else:
            await self._until_closing(seconds=fault.delay)
        return web.json_response(body, headers=headers)

    async def _guarded(self, spec: MethodSpec, args: dict[str, Any]) -> JSON:
        """The method's answer, errors included (a faulted call is answered by the fault, not by it)."""
        try:
            return await self._perform(spec, args)
        except ApiError as error:
            return {"ok": False, "error": error.code, **error.extra}

    def _admit(
        self, name: str, request: web.Request, args: dict[str, Any]
    ) -> tuple[MethodSpec | None, dict[str, str], tuple[JSON, int] | None]:
        """Method lookup, token, injected answers: (spec, headers, early answer or None to go on)."""
        spec = METHODS.get(name)
        if spec is None:
            return None, {}, ({"ok": False, "error": "unknown_method", "req_method": name}, 200)
        kind = self.token_kind(request_token(request, args))
        if kind != spec.token:
            raise ApiError("not_allowed_token_type")
        scopes = self._scopes(kind)
        headers = {"X-OAuth-Scopes": ",".join(sorted(scopes)), "X-Accepted-OAuth-Scopes": ",".join(spec.scopes)}
        injection = _take(self.injections, name)
        if injection is not None:
            if injection.retry_after is not None:
                headers["Retry-After"] = str(injection.retry_after)
            return spec, headers, ({"ok": False, "error": injection.error}, injection.status)
        wait = self.host.workspace.limits.take(name, str(args.get("channel") or ""))
        if wait is not None:  # over Slack's rate limit: not performed
            headers["Retry-After"] = str(wait)
            return spec, headers, ({"ok": False, "error": "ratelimited"}, 429)
        return spec, headers, None

    def _scopes(self, kind: str) -> frozenset[str]:
        return self.host.scopes if kind == "bot" else frozenset({"connections:write"})

    async def _perform(self, spec: MethodSpec, args: dict[str, Any]) -> JSON:
        """Scopes, required arguments, then the method itself: its JSON answer (ok or not)."""
        scopes = self._scopes(spec.token)
        if spec.scopes and not scopes & set(spec.scopes):
            raise ApiError("missing_scope", needed=",".join(spec.scopes), provided=",".join(sorted(scopes)))
        call_args = Args(args)
        for required in spec.required:
            if not call_args.has(required):
                raise spec.missing_error(required)
        if spec.name in self.host.workspace.policy.restricted:
            return {"ok": False, "error": "restricted_action"}
        try:
            result = await spec.handler(self.host, call_args)
        except ApiError as error:
            if error.code not in spec.all_errors:
                raise RuntimeError(
                    f"{spec.name} answered undeclared error {error.code!r}; add it to its MethodSpec"
                ) from error
            return {"ok": False, "error": error.code, **error.extra}
        return {"ok": True, **result}


def _take(queues: dict[str, list[_Scripted]], method: str) -> _Scripted | None:
    """The first scripted fault queued for `method`, if any; it leaves the queue once it has run `remaining` times."""
    queue = queues.get(method)
    if not queue:
        return None
    scripted = queue[0]
    scripted.remaining -= 1
    if scripted.remaining <= 0:
        queue.pop(0)
    return scripted
