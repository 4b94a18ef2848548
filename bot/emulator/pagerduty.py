"""A local PagerDuty Events API v2 (`POST /v2/enqueue`), as documented: a real aiohttp server on loopback. The demo
pages through it (no network), and tests page through it (tests/fakes/pagerduty.py re-exports it).

What it does as PagerDuty does (developer.pagerduty.com, "Send an Alert Event" and "Events API v2 Overview"):
- 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}` for an accepted event;
- 400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` for a body that is not a
  JSON object, a routing_key that is not 32 characters or not an integration's, an event_action other than trigger,
  acknowledge or resolve, a trigger without payload.summary, payload.source or a payload.severity of critical, error,
  warning or info, a summary over 1024 characters, a dedup_key over 255, a link without href;
- alert de-duplication: a trigger whose dedup_key names an open alert (of the same routing key) creates no new alert
  (it is added to that alert's log); after a resolve, the same dedup_key opens a new alert; acknowledge and resolve
  of no open alert are accepted and dropped;
- on demand (`fail_next`), a 429 (with a Retry-After header when asked), a 500, or a 400 for the next events.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


@dataclass
class PdAlert:
    routing_key: str
    dedup_key: str
    summary: str
    severity: str
    status: str = "triggered"  # triggered | acknowledged | resolved
    log: list[str] = field(default_factory=list)  # the event actions applied to it
    body: dict[str, Any] = field(default_factory=dict)  # the trigger that opened it


@dataclass
class Failure:
    status: int
    retry_after: str | None = None


class FakePagerDuty(LoopbackServer):
    """`start()` serves it on a free loopback port (`url`), `stop()` ends it."""

    def __init__(self, routing_keys: set[str]) -> None:
        super().__init__()
        self.routing_keys = set(routing_keys)  # the integration keys of the services that exist
        self.events: list[dict[str, Any]] = []  # every request body received, in order (refused ones too)
        self.alerts: list[PdAlert] = []  # every alert ever opened, oldest first
        self._failures: list[Failure] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self._enqueue)

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """The next `times` events are answered `status` (429, 500, 400) and not processed."""
        self._failures += [Failure(status, retry_after) for _ in range(times)]

    def open_alerts(self, dedup_key: str | None = None) -> list[PdAlert]:
        return [a for a in self.alerts if a.status != "resolved" and dedup_key in (None, a.dedup_key)]

    def accepted(self, action: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event_action") == action and e.get("_accepted")]

    async def _enqueue(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record: dict[str, Any] = dict(body) if isinstance(body, dict) else {"_raw": raw.decode(errors="replace")}
        self.events.append(record)
        if self._failures:
            failure = self._failures.pop(0)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            if failure.status == 429:
                said = "Requests for this service are arriving too quickly. Please retry later."
                return web.json_response({"status": "throttle exceeded", "message": said}, status=429, headers=headers)
            if failure.status == 400:
                return _invalid(["Event object is invalid"])
            return web.json_response({"status": "error", "message": "Internal Server Error"}, status=failure.status)
        if not isinstance(body, dict):
            return _invalid(["Event object is not a JSON object"])
        errors = _problems(body, self.routing_keys)
        if errors:
            return _invalid(errors)
        record["_accepted"] = True
        action = body["event_action"]
        routing_key = body["routing_key"]
        dedup_key = str(body.get("dedup_key") or uuid.uuid4().hex)
        open_alert = next(
            (a for a in self.open_alerts(dedup_key) if a.routing_key == routing_key),
            None,
        )
        if action == "trigger":
            if open_alert is None:
                payload = body["payload"]
                self.alerts.append(
                    PdAlert(routing_key, dedup_key, payload["summary"], payload["severity"], log=["trigger"], body=body)
                )
            else:
                open_alert.log.append("trigger")
        elif open_alert is not None:  # acknowledge / resolve of no open alert: dropped
            open_alert.log.append(action)
            open_alert.status = "resolved" if action == "resolve" else "acknowledged"
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202
        )


def _problems(body: dict[str, Any], routing_keys: set[str]) -> list[str]:
    errors: list[str] = []
    key = body.get("routing_key")
    if not isinstance(key, str) or not key:
        errors.append("'routing_key' is missing or blank")
    elif len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif key not in routing_keys:
        errors.append("Invalid routing key")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is missing or blank" if not action else "'event_action' is invalid")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or blank")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errors.append("'payload.summary' is missing or blank")
            elif len(summary) > 1024:
                errors.append("'payload.summary' is too long (maximum is 1024 characters)")
            if not isinstance(payload.get("source"), str) or not payload["source"].strip():
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append(
                    "'payload.severity' is missing or blank"
                    if not payload.get("severity")
                    else "'payload.severity' is invalid (must be one of 'critical', 'warning', 'error' or 'info')"
                )
            details = payload.get("custom_details")
            if details is not None and not isinstance(details, dict):
                errors.append("'payload.custom_details' must be an object")
        links = body.get("links", [])
        if not isinstance(links, list) or any(not isinstance(x, dict) or not x.get("href") for x in links):
            errors.append("'links' must be a list of objects, each with an 'href'")
    return errors


def _invalid(errors: list[str]) -> web.Response:
    return web.json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status=400
    )
