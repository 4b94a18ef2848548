"""The HTTP front door: Slack's requests in, answers out. The trust boundary is here, in one place.

In this order, for every `POST /slack/events`:

1. Size: a compressed body (Slack never compresses) or one declared larger than `MAX_BODY` is refused before a
   byte of it is read; at most `MAX_READING` bodies are read at once, large or undeclared ones `LARGE_READS` at a
   time (a slot is waited for at most `SLOT_SECONDS`), each within `READ_SECONDS` (Slack itself waits 3 s); what
   is over is answered 503 and closed. So memory is bounded by a few dozen megabytes whatever comes in.
2. Signature: Slack's v0 signature over the exact bytes, with a timestamp within five minutes. Anything that does
   not verify, for whatever reason (missing, malformed, stale, wrong), is answered 401 and nothing else happens:
   nothing is parsed, no listener runs, no error listener runs, nothing is called.
3. Shape: a verified body that is not a JSON object or a form Slack sends (a slash command, `payload=<object>`), or
   whose envelope fields are of the wrong type, is answered 400. Characters no database can store (NUL, lone
   surrogates) are replaced, in values and keys.
4. Workspace: a request from a workspace other than the one the bot's token serves, or naming none, is answered
   2xx and ignored. Which workspace that is comes from the bot's identity (auth.test), fetched at start and never
   waited for here: until it is known, an event or interaction is answered 503 at once (Slack delivers an event
   again) and a slash command is told the bot is starting.
5. Message and reaction events take the fast path: captured, stored, then answered, all within `CAPTURE_SECONDS`
   of the request's arrival (a failed or late capture answers 503 so Slack delivers again; an event that can never
   be stored is answered 200 and recorded as dropped). Everything else goes to Bolt, already verified and parsed.

Every answer, 5xx included, is counted in `/metrics` (bot/app.py counts every response the app prepares).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.acting import acting_for
from bot.metrics import Metrics

from .events import Dropped
from .gates import FOREIGN_TEXT, Admission, Gate

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # far above any payload Slack sends (a message is at most 40,000 characters plus blocks)
LARGE_BODY = 64 * 1024  # bodies above this (or of unknown length) are read a few at a time
LARGE_READS = 8
MAX_READING = 256  # bodies being read at once; aiohttp buffers at most 128 KiB of each before it is read
SLOT_SECONDS = 1.0  # how long a large body may wait for a slot
READ_SECONDS = 2.5  # how long reading a body may take: Slack gives up on its request after 3 s anyway

CAPTURE_SECONDS = 2.5  # from a capturable event's arrival to its answer, stored or not (Slack waits 3 s)
UNAVAILABLE_TEXT = "I cannot reach my database right now, so nothing was done. Try again in a minute."
STARTING_TEXT = (
    "I am still starting up (Slack has not told me who I am yet), so nothing was done. Try again in a minute."
)


class Capture(Protocol):
    def __call__(self, payload: dict[str, Any], *, deadline: float) -> Awaitable[None]:
        """Store the event by `deadline` (a loop time) or raise."""
        ...


Wants = Callable[[dict[str, Any]], bool]


class BadRequest(Exception):
    """A verified body that is not something Slack sends."""


class Verifier:
    """Slack's v0 request signature (https://api.slack.com/authentication/verifying-requests-from-slack), over the
    exact bytes received. Written out rather than slack_sdk's SignatureVerifier, which raises on a timestamp that
    is not a number, on a non-ASCII signature and on a body that is not UTF-8: here every one of those is simply
    not verified."""

    MAX_AGE = 60 * 5

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock

    def verified(self, raw: bytes, timestamp: str | None, signature: str | None) -> bool:
        if not timestamp or not signature or len(timestamp) > 20 or len(signature) > 200:
            return False
        if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
            return False
        if abs(self._clock() - int(timestamp)) > self.MAX_AGE:
            return False
        expected = "v0=" + hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """The payload of a verified request: an Events API JSON object, a slash command form, or an interactivity
    form's `payload` object. Raises BadRequest for anything else."""
    try:
        text = raw.decode("utf-8")  # Slack sends UTF-8 (json.loads would guess UTF-16 or -32 from the bytes)
    except UnicodeDecodeError as e:
        raise BadRequest("the body is not UTF-8") from e
    if content_type == "application/json" or (content_type != "application/x-www-form-urlencoded" and raw[:1] == b"{"):
        return _json_object(text, "the body")
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest("the body is not a UTF-8 form") from e
    if "payload" in fields:
        return _json_object(fields["payload"], "the form's payload")
    if "command" in fields or "ssl_check" in fields:
        return fields
    raise BadRequest("the form is neither a slash command nor an interaction")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as e:  # not JSON, or nested deeper than Python can parse
        raise BadRequest(f"{what} is not JSON") from e
    if not isinstance(payload, dict):
        raise BadRequest(f"{what} is not a JSON object")
    check_envelope(payload)
    return payload


_OBJECTS = ("event", "view", "container", "channel", "user", "team", "message", "state", "enterprise")
_STRINGS = ("type", "callback_id", "trigger_id", "response_url", "token", "api_app_id", "team_id", "private_metadata")
_ACTION_STRINGS = ("action_id", "block_id", "type", "value", "action_ts", "selected_user")


def _strings(holder: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if holder.get(key) is not None and not isinstance(holder[key], str):
            raise BadRequest(f"{key} is not a string")


def check_envelope(payload: dict[str, Any]) -> None:
    """The envelope fields the bot and Bolt read have the types Slack gives them; BadRequest if not."""
    for holder in (payload, payload.get("view") or {}):
        for key in _OBJECTS:
            if key in holder and holder[key] is not None and not isinstance(holder[key], dict):
                raise BadRequest(f"{key} is not an object")
        _strings(holder, _STRINGS)
    event = payload.get("event")
    if payload.get("type") == "event_callback" and not (isinstance(event, dict) and isinstance(event.get("type"), str)):
        raise BadRequest("an event_callback without an event type")
    actions = payload.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, dict) for a in actions)):
        raise BadRequest("actions is not a list of objects")
    for action in actions or ():
        _strings(action, _ACTION_STRINGS)
    values = ((payload.get("view") or {}).get("state") or {}).get("values")
    if values is not None and not (isinstance(values, dict) and all(isinstance(v, dict) for v in values.values())):
        raise BadRequest("view.state.values is not an object of objects")


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(payload: Any) -> Any:
    """Replace what no database can store (NUL; lone surrogates, which JSON can carry) with U+FFFD, in place, in
    values and in keys."""
    if isinstance(payload, dict):
        for key in list(payload):
            value = clean(payload[key])
            if isinstance(key, str) and _UNSTORABLE.search(key):
                del payload[key]
                key = _UNSTORABLE.sub("\ufffd", key)
            payload[key] = value
        return payload
    if isinstance(payload, list):
        return [clean(v) for v in payload]
    if isinstance(payload, str) and _UNSTORABLE.search(payload):
        return _UNSTORABLE.sub("\ufffd", payload)
    return payload


def might_need_cleaning(raw: bytes, content_type: str) -> bool:
    """Cheap test for the hot path: JSON can only carry NUL and surrogates as \\u escapes. (Forms, which are slash
    commands and interactions, are rare: they are always cleaned.)"""
    if content_type == "application/x-www-form-urlencoded" or raw[:1] != b"{":
        return True
    if b"\\u0000" in raw:
        return True
    return (b"\\ud" in raw or b"\\uD" in raw) and re.search(rb"\\u[dD][89a-fA-F]", raw) is not None


class SlackEndpoint:
    """`POST /slack/events`."""

    def __init__(
        self,
        bolt: AsyncApp,
        signing_secret: str,
        wants: Wants,
        capture: Capture,
        gate: Gate,
        metrics: Metrics,
    ) -> None:
        self._metrics = metrics
        self._bolt = bolt
        self._verifier = Verifier(signing_secret)
        self._wants = wants
        self._capture = capture
        self._gate = gate
        self._large_reads = asyncio.Semaphore(LARGE_READS)
        self._reading = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        deadline = asyncio.get_running_loop().time() + CAPTURE_SECONDS
        try:
            return await self._answer(request, deadline)
        except Exception:  # a bug of ours: Slack gets a 500 (and retries an event), the operators a traceback
            log.exception("unexpected error answering a Slack request")
            return web.json_response({"error": "internal error"}, status=500)

    def _refuse(self, status: int, reason: str) -> web.Response:
        self._metrics.refused.labels(reason=reason).inc()
        return web.json_response({"error": reason}, status=status)

    async def _refuse_and_close(self, request: web.Request, status: int, reason: str) -> web.StreamResponse:
        """Refuse a request whose body is not (all) read: answer, then close the connection rather than let aiohttp
        read and discard the rest of the body (it would linger up to 10 s per connection). A client still sending
        may see the connection reset instead of the answer."""
        response = self._refuse(status, reason)
        response.force_close()
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            pass  # the client is gone already (it cut its body off): nobody to answer
        if request.transport is not None:
            request.transport.close()
        return response

    async def _read(self, request: web.Request) -> bytes | web.StreamResponse:
        if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            # aiohttp would inflate it before we see a byte: a kilobyte could become a megabyte of memory.
            return await self._refuse_and_close(request, 415, "compressed_body")
        length = request.content_length
        if length is not None and length > MAX_BODY:
            return await self._refuse_and_close(request, 413, "body_too_large")
        if self._reading >= MAX_READING:
            return await self._refuse_and_close(request, 503, "too_many_bodies")
        self._reading += 1
        try:
            if length is not None and length <= LARGE_BODY:
                return await self._read_body(request)
            try:
                async with asyncio.timeout(SLOT_SECONDS):
                    await self._large_reads.acquire()
            except TimeoutError as error:
                error.__traceback__ = None
                return await self._refuse_and_close(request, 503, "too_many_large_bodies")
            try:
                return await self._read_body(request)
            finally:
                self._large_reads.release()
        finally:
            self._reading -= 1

    async def _read_body(self, request: web.Request) -> bytes | web.StreamResponse:
        """The body, read chunk by chunk up to MAX_BODY within READ_SECONDS. A failed read keeps nothing alive: the
        error's traceback (which would hold the chunks read so far, and is kept on aiohttp's stream reader) is
        cleared, so a flood of cut-off bodies does not pile up megabytes for the garbage collector."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(READ_SECONDS):
                while chunk := await request.content.readany():
                    size += len(chunk)
                    if size > MAX_BODY:
                        chunks.clear()
                        return await self._refuse_and_close(request, 413, "body_too_large")
                    chunks.append(chunk)
        except TimeoutError as error:
            chunks.clear()
            error.__traceback__ = None
            return await self._refuse_and_close(request, 408, "body_too_slow")
        except (ConnectionError, asyncio.IncompleteReadError) as error:  # the client went away mid-body
            chunks.clear()
            error.__traceback__ = None
            return await self._refuse_and_close(request, 400, "body_cut_off")
        return b"".join(chunks)

    async def _answer(self, request: web.Request, deadline: float) -> web.StreamResponse:
        raw = await self._read(request)
        if not isinstance(raw, bytes):
            return raw
        headers = request.headers
        if not self._verifier.verified(raw, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")):
            return self._refuse(401, "invalid_signature")
        try:
            payload = parse_body(raw, request.content_type)
        except BadRequest as e:
            log.info("refused a signed request: %s", e)
            return self._refuse(400, "malformed_body")
        if might_need_cleaning(raw, request.content_type):
            clean(payload)
        try:  # (OAuth mode: the workspace's installation, read from the database when not remembered)
            async with asyncio.timeout(max(0.0, deadline - asyncio.get_running_loop().time())):
                admission = await self._gate.admit(payload)
        except Exception as error:  # the database is down or hangs: nothing done, Slack asked to come again
            reason = "no answer in time" if isinstance(error, TimeoutError) else type(error).__name__
            log.warning("could not tell which workspace a request is for (%s); nothing was done", reason)
            return self._unavailable(payload)
        if not admission.serve:
            return self._refused(payload, admission)
        with acting_for(admission.acting):  # the workspace served: its token, its data (bot/acting.py)
            return await self._serve(request, raw, payload, deadline)

    async def _serve(
        self, request: web.Request, raw: bytes, payload: dict[str, Any], deadline: float
    ) -> web.StreamResponse:
        if self._wants(payload):
            return await self._store(payload, deadline)
        bolt_request = AsyncBoltRequest(body="", query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
        # Verified and parsed above: Bolt gets the payload as is (its own check is off; see bot/app.py).
        bolt_request.raw_body = raw.decode("utf-8", "replace")
        bolt_request.body = payload
        bolt_request.context = build_async_context(AsyncBoltContext({}), payload)
        try:
            answer = await self._bolt.async_dispatch(bolt_request)
        except Exception:  # Bolt could not make sense of a payload it was given: junk, not an outage
            log.exception("Bolt could not dispatch a signed %s request", payload.get("type") or "form")
            return self._refuse(400, "undispatchable")
        return await to_aiohttp_response(answer)

    def _refused(self, payload: dict[str, Any], admission: Admission) -> web.Response:
        if admission.refusal == "starting":
            return self._not_yet(payload)
        if admission.refusal == "done":
            return web.Response(status=200)
        self._metrics.refused.labels(reason="foreign_workspace").inc()
        if "command" in payload:
            return web.json_response({"response_type": "ephemeral", "text": admission.text or FOREIGN_TEXT})
        return web.Response(status=200)

    def _unavailable(self, payload: dict[str, Any]) -> web.Response:
        """The request could not be admitted for want of the database: a slash command is told so (Slack does not
        repeat commands); anything else is answered 503 (Slack delivers an event again)."""
        self._metrics.refused.labels(reason="admission_failed").inc()
        if "command" in payload:
            return web.json_response({"response_type": "ephemeral", "text": UNAVAILABLE_TEXT})
        return web.json_response({"error": "storage unavailable, retry"}, status=503)

    def _not_yet(self, payload: dict[str, Any]) -> web.Response:
        """The bot does not know yet which workspace it serves (Slack has not answered auth.test since the start):
        nothing is done, and nobody waits for it. A slash command is told so (Slack does not repeat commands);
        anything else is answered 503 at once (Slack delivers an event again; a click or form shows its error)."""
        self._metrics.refused.labels(reason="identity_unknown").inc()
        if "command" in payload:
            return web.json_response({"response_type": "ephemeral", "text": STARTING_TEXT})
        return web.json_response({"error": "starting, retry"}, status=503)

    async def _store(self, payload: dict[str, Any], deadline: float) -> web.Response:
        try:
            await self._capture(payload, deadline=deadline)  # stored, failed or given up on by the deadline
        except Dropped:
            return web.Response(status=200)  # recorded as dropped by the capture; never worth a retry
        except Exception as error:  # not stored: Slack must deliver it again
            reason = "no answer in time" if isinstance(error, TimeoutError) else type(error).__name__
            log.warning("event %s not stored (%s); answering 503 so Slack retries", payload.get("event_id"), reason)
            return web.json_response({"error": "storage unavailable, retry"}, status=503)
        return web.Response(status=200)


def slack_events_handler(
    bolt: AsyncApp, signing_secret: str, wants: Wants, capture: Capture, gate: Gate, metrics: Metrics
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    return SlackEndpoint(bolt, signing_secret, wants, capture, gate, metrics).handle
