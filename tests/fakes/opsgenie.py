"""A local Opsgenie Alert API v2, as documented (docs.opsgenie.com, "Alert API" and "Response"): a real aiohttp
server on loopback.

- `POST /v2/alerts` creates an alert (asynchronously at Opsgenie: 202 `{"result": "Request will be processed",
  "took", "requestId"}`); `message` is required (at most 130 characters), `alias` (at most 512) de-duplicates: while
  an alert with that alias is open, another create only counts on it, no new alert.
- `POST /v2/alerts/{identifier}/close?identifierType=alias` closes the open alert of that alias (202 as well, also
  when there is none: Opsgenie reports that in the request's status, later).
- `Authorization: GenieKey <key>` of an API integration, else 401 `{"message": "Could not authenticate"}`; a body
  that is not JSON 400; a semantic error (no message, an unknown priority or identifierType) 422.
- on demand (`fail_next`), a 429 (with Retry-After when asked), a 500 or another status for the next requests.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
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


class FakeOpsgenie(LoopbackServer):
    def __init__(self, api_keys: set[str]) -> None:
        super().__init__()
        self.api_keys = set(api_keys)
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, body) of every request, refused ones too
        self.alerts: list[OgAlert] = []
        self._failures: list[tuple[int, str | None]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/alerts", self._create)
        app.router.add_post("/v2/alerts/{identifier}/close", self._close)

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        self._failures += [(status, retry_after) for _ in range(times)]

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
        existing = next(iter(self.open_alerts(alias)), None)
        if existing is not None:
            existing.count += 1
        else:
            self.alerts.append(OgAlert(alias, message, priority, body=body))
        return _answer({"result": "Request will be processed"}, 202)

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


def _answer(data: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({**data, "took": 0.01, "requestId": str(uuid.uuid4())}, status=status, headers=headers)
