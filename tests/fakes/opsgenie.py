"""A local Opsgenie Alert API v2, as documented (docs.opsgenie.com, "Alert API" and "Response"): a real aiohttp
server on loopback.

- `POST /v2/alerts` creates an alert (asynchronously at Opsgenie: 202 `{"result": "Request will be processed",
  "took", "requestId"}`); `message` is required (at most 130 characters), `alias` (at most 512) de-duplicates: while
  an alert with that alias is open, another create only counts on it, no new alert.
- `POST /v2/alerts/{identifier}/close?identifierType=alias` closes the open alert of that alias (202 as well, also
  when there is none: Opsgenie reports that in the request's status, later).
- `Authorization: GenieKey <key>` of an API integration, else 401 `{"message": "Could not authenticate"}`; a body
  that is not JSON 400; a semantic error (no message, an unknown priority or identifierType) 422.
- `GET /v2/alerts/requests/{requestId}`: the request's status once processed, 200 `{"data": {"success",
  "action", "processedAt", "integrationId", "isSuccess", "status", "alertId", "alias"}, "took", "requestId"}`;
  404 `{"message": "Request not found. It might not be processed, yet."}` before (or for an unknown id).
- on demand (`fail_next`), a 429 (with Retry-After when asked), a 500 or another status for the next requests;
  (`fail_processing_next`) a create accepted (202) whose processing then fails (`isSuccess` false, no alert);
  (`process_later`) the next status requests answered 404, not processed yet.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


@dataclass
class OgAlert:
    alias: str
    message: str
    priority: str
    status: str = "open"  # open | closed
    count: int = 1
    body: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class FakeOpsgenie(LoopbackServer):
    def __init__(self, api_keys: set[str]) -> None:
        super().__init__()
        self.api_keys = set(api_keys)
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, body) of every request, refused ones too
        self.alerts: list[OgAlert] = []
        self._failures: list[tuple[int, str | None]] = []
        self.statuses: dict[str, dict[str, Any]] = {}  # requestId -> the status of a processed create
        self.polls: list[str] = []  # the requestIds asked about, in order
        self._processing_failures: list[str] = []
        self._unprocessed_polls = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/alerts/requests/{request_id}", self._status)
        app.router.add_post("/v2/alerts", self._create)
        app.router.add_post("/v2/alerts/{identifier}/close", self._close)

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        self._failures += [(status, retry_after) for _ in range(times)]

    def fail_processing_next(self, status: str) -> None:
        """The next create is accepted (202) and then fails at processing: its status says so, no alert is made."""
        self._processing_failures.append(status)

    def process_later(self, polls: int) -> None:
        """The next `polls` status requests are answered 404: not processed yet."""
        self._unprocessed_polls += polls

    def open_alerts(self, alias: str | None = None) -> list[OgAlert]:
        return [a for a in self.alerts if a.status == "open" and alias in (None, a.alias)]

    async def _start(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self.requests.append((request.path_qs, body if isinstance(body, dict) else {}))
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            said = "You are making too many requests!" if status == 429 else "Internal error"
            return None, _answer({"message": said}, status, headers)
        auth = request.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme != "GenieKey" or key not in self.api_keys:
            return None, _answer({"message": "Could not authenticate"}, 401)
        if not isinstance(body, dict):
            return None, _answer({"message": "Could not read the JSON body"}, 400)
        return body, None

    async def _create(self, request: web.Request) -> web.Response:
        body, refused = await self._start(request)
        if refused is not None:
            return refused
        assert body is not None
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return _answer({"message": "Message can not be empty."}, 422)
        if len(message) > 130:
            return _answer({"message": "Message can not be longer than 130 characters."}, 422)
        alias = body.get("alias")
        if alias is not None and (not isinstance(alias, str) or len(alias) > 512):
            return _answer({"message": "Alias can not be longer than 512 characters."}, 422)
        priority = body.get("priority", "P3")
        if priority not in PRIORITIES:
            return _answer({"message": f"Priority should be one of {list(PRIORITIES)}"}, 422)
        alias = alias or uuid.uuid4().hex
        request_id = str(uuid.uuid4())
        status = {
            "action": "Create",
            "processedAt": datetime.now(UTC).isoformat(),
            "integrationId": "c5f6a2a7-31b4-4b2e-9a42-1d4c0f1e5a10",
            "alias": alias,
        }
        if self._processing_failures:
            said = self._processing_failures.pop(0)
            self.statuses[request_id] = {**status, "success": False, "isSuccess": False, "status": said}
            return _answer({"result": "Request will be processed"}, 202, request_id=request_id)
        existing = next(iter(self.open_alerts(alias)), None)
        if existing is not None:
            existing.count += 1
        else:
            existing = OgAlert(alias, message, priority, body=body)
            self.alerts.append(existing)
        self.statuses[request_id] = {
            **status,
            "success": True,
            "isSuccess": True,
            "status": "Created alert",
            "alertId": existing.id,
        }
        return _answer({"result": "Request will be processed"}, 202, request_id=request_id)

    async def _status(self, request: web.Request) -> web.Response:
        request_id = request.match_info["request_id"]
        self.polls.append(request_id)
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "GenieKey" or key not in self.api_keys:
            return _answer({"message": "Could not authenticate"}, 401)
        if self._unprocessed_polls > 0 or request_id not in self.statuses:
            self._unprocessed_polls = max(0, self._unprocessed_polls - 1)
            return _answer({"message": "Request not found. It might not be processed, yet."}, 404)
        return _answer({"data": self.statuses[request_id]}, 200, request_id=request_id)

    async def _close(self, request: web.Request) -> web.Response:
        _body, refused = await self._start(request)
        if refused is not None:
            return refused
        kind = request.query.get("identifierType", "id")
        if kind not in ("id", "alias", "tiny"):
            return _answer({"message": "identifierType should be one of [id, alias, tiny]"}, 422)
        if kind == "alias":
            for alert in self.open_alerts(request.match_info["identifier"]):
                alert.status = "closed"
        return _answer({"result": "Request will be processed"}, 202)


def _answer(
    data: dict[str, Any], status: int, headers: dict[str, str] | None = None, *, request_id: str | None = None
) -> web.Response:
    body = {**data, "took": 0.01, "requestId": request_id or str(uuid.uuid4())}
    return web.json_response(body, status=status, headers=headers)
