"""The only code that calls the paging providers: PagerDuty's Events API v2 and Opsgenie's Alert API v2.

Both have the same shape, which is all the bot needs: a trigger keyed by a deduplication key chosen by the caller (a
second trigger with the key of an open alert creates no new alert: PagerDuty's `dedup_key`, Opsgenie's `alias`), and
a resolve (close) by that key. Both answer 202 when they accepted the event. What a failure means is decided here:

- refused (HTTP 400 and other 4xx but 429: an invalid event or key): sending it again will not help until the
  configuration is fixed; a refused key (401, 403) is told with the environment variable that holds it;
- not now (429, 5xx, no answer): try again later; a Retry-After (429, 503) says when. The deduplication key makes a
  repeated trigger safe even if the first one was accepted behind a lost answer.

Opsgenie processes a create after answering 202 with a `requestId`: the client then asks how it went
(`GET /v2/alerts/requests/{requestId}`, a few times over about 4 s) and reports a create Opsgenie failed to process as
a failure (its own words: not retried); one still unprocessed by then is taken as accepted (logged).

Nothing is retried here: the caller records the failure and may call again (a retry job, or the person asking).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.config import OPSGENIE, PAGERDUTY, PagingService, PagingSettings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
OPSGENIE_POLLS = (0.2, 0.5, 1.0, 2.0)  # seconds before each look at how Opsgenie processed a create (~4 s in all)
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")  # most severe first
OPSGENIE_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
PAGERDUTY_SUMMARY_MAX = 1024
OPSGENIE_MESSAGE_MAX = 130
OPSGENIE_DESCRIPTION_MAX = 15000
SOURCE = "incident-bot"


@dataclass(frozen=True, slots=True)
class Alert:
    """What a trigger says about the incident."""

    dedup_key: str
    summary: str  # one line: "INC-2026-001: API 500 errors (SEV1 · Critical)"
    rank: int  # the incident's severity: 0 the most severe (its place in app.yaml's list)
    details: dict[str, str] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (href, text)


class PagingFailed(Exception):
    """The provider did not accept the event. `retry` says whether sending it again later may help."""

    def __init__(
        self, provider: str, what: str, *, status: int | None = None, retry: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(what)
        self.provider = provider
        self.status = status
        self.what = what  # plain words, told in the channel
        self.retry = retry
        self.retry_after = retry_after  # seconds, from a 429's Retry-After


class PagingClient:
    """Sends triggers and resolves. Its HTTP session is made on first use (never at import or construction)."""

    def __init__(
        self,
        settings: PagingSettings,
        *,
        timeout: float = TIMEOUT_SECONDS,
        opsgenie_polls: tuple[float, ...] = OPSGENIE_POLLS,
    ) -> None:
        self._settings = settings
        self._timeout = timeout
        self._polls = opsgenie_polls
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def trigger(self, service: PagingService, alert: Alert) -> None:
        with _naming_the_key(service):
            await self._trigger(service, alert)

    async def resolve(self, service: PagingService, dedup_key: str, note: str) -> None:
        with _naming_the_key(service):
            await self._resolve(service, dedup_key, note)

    async def _trigger(self, service: PagingService, alert: Alert) -> None:
        key = _key(service)
        if service.provider == PAGERDUTY:
            body: dict[str, Any] = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": alert.dedup_key,
                "payload": {
                    "summary": _cut(alert.summary, PAGERDUTY_SUMMARY_MAX),
                    "source": SOURCE,
                    "severity": PAGERDUTY_SEVERITIES[min(alert.rank, len(PAGERDUTY_SEVERITIES) - 1)],
                    "component": service.name,
                    "custom_details": alert.details,
                },
                "links": [{"href": href, "text": text} for href, text in alert.links],
                "client": SOURCE,
            }
            await self._pagerduty(body)
            return
        description = "\n".join([*(f"{k}: {v}" for k, v in alert.details.items()), *(h for h, _ in alert.links)])
        request_id = await self._opsgenie(
            key,
            "/v2/alerts",
            {
                "message": _cut(alert.summary, OPSGENIE_MESSAGE_MAX),
                "alias": alert.dedup_key,
                "description": _cut(description, OPSGENIE_DESCRIPTION_MAX),
                "details": alert.details,
                "priority": OPSGENIE_PRIORITIES[min(alert.rank, len(OPSGENIE_PRIORITIES) - 1)],
                "source": SOURCE,
                "entity": service.name,
            },
        )
        if request_id:
            await self._confirm(key, request_id)

    async def _resolve(self, service: PagingService, dedup_key: str, note: str) -> None:
        key = _key(service)
        if service.provider == PAGERDUTY:
            await self._pagerduty({"routing_key": key, "event_action": "resolve", "dedup_key": dedup_key})
            return
        await self._opsgenie(
            key,
            f"/v2/alerts/{quote(dedup_key, safe='')}/close?identifierType=alias",
            {"source": SOURCE, "note": note},
        )

    # -- the two APIs ---------------------------------------------------------------------------------------

    async def _pagerduty(self, body: dict[str, Any]) -> None:
        status, answer, retry_after = await self._post(
            PAGERDUTY, f"{self._settings.pagerduty_url}/v2/enqueue", body, {}
        )
        if status == 202:
            return
        errors = answer.get("errors")
        if not isinstance(errors, list):
            errors = []
        said = "; ".join(str(e) for e in errors) or str(answer.get("message") or "")
        raise _failure(PAGERDUTY, status, said, retry_after)

    async def _opsgenie(self, key: str, path: str, body: dict[str, Any]) -> str | None:
        """The request's id (Opsgenie processes it later) when it was accepted."""
        headers = {"Authorization": f"GenieKey {key}"}
        status, answer, retry_after = await self._post(OPSGENIE, f"{self._settings.opsgenie_url}{path}", body, headers)
        if status == 202:
            request_id = answer.get("requestId")
            return request_id if isinstance(request_id, str) and request_id else None
        raise _failure(OPSGENIE, status, str(answer.get("message") or ""), retry_after)

    async def _confirm(self, key: str, request_id: str) -> None:
        """Ask Opsgenie how the accepted create went (`GET /v2/alerts/requests/{requestId}`; 404 until it is
        processed), for up to `OPSGENIE_POLLS`. Raises PagingFailed when it says it failed (no alert was made: not
        retried, the channel is told Opsgenie's words). Not known by then, or not answered: taken as accepted."""
        url = f"{self._settings.opsgenie_url}/v2/alerts/requests/{quote(request_id, safe='')}"
        headers = {"Authorization": f"GenieKey {key}"}
        for delay in self._polls:
            await asyncio.sleep(delay)
            try:
                status, answer, _ = await self._request("GET", OPSGENIE, url, None, headers)
            except PagingFailed as e:
                log.info("Opsgenie request %s: could not ask how it went (%s)", request_id, e.what)
                return
            data = answer.get("data")
            if status == 404 or not isinstance(data, dict):
                continue  # not processed yet
            if data.get("isSuccess") is False:
                said = str(data.get("status") or "no reason given")
                raise PagingFailed(OPSGENIE, f"accepted the alert, then failed to create it: {said}", retry=False)
            return
        log.info("Opsgenie request %s: not processed after %d checks; taken as accepted", request_id, len(self._polls))

    async def _post(
        self, provider: str, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], float | None]:
        return await self._request("POST", provider, url, body, headers)

    async def _request(
        self, method: str, provider: str, url: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], float | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        try:
            async with self._session.request(method, url, json=body, headers=headers) as response:
                try:
                    answer = await response.json(content_type=None)
                except (ValueError, aiohttp.ClientPayloadError):
                    answer = None
                retry_after = _retry_after(response.headers.get("Retry-After"))
                return response.status, answer if isinstance(answer, dict) else {}, retry_after
        except TimeoutError:
            raise PagingFailed(provider, f"no answer within {self._timeout:g} s", retry=True) from None
        except aiohttp.ClientError as e:
            raise PagingFailed(provider, f"could not reach it ({type(e).__name__})", retry=True) from None


@contextmanager
def _naming_the_key(service: PagingService) -> Iterator[None]:
    """A refused key (401, 403; PagerDuty's 400 "Invalid routing key") is told with the variable that holds it."""
    try:
        yield
    except PagingFailed as e:
        refused_key = e.status in (401, 403) or (e.status == 400 and "routing key" in e.what.replace("_", " "))
        if not refused_key:
            raise
        raise PagingFailed(
            e.provider,
            f"{e.what}; check {service.key_variable} in the bot's environment",
            status=e.status,
            retry=False,
        ) from None


def _key(service: PagingService) -> str:
    if service.key is None:
        raise PagingFailed(service.provider, f"{service.key_variable} is not set in the bot's environment", retry=False)
    return service.key.reveal()


def _failure(provider: str, status: int, said: str, retry_after: float | None) -> PagingFailed:
    said = f": {said}" if said else ""
    if status == 429:
        when = f"; it asks to wait {retry_after:g} s" if retry_after is not None else ""
        return PagingFailed(
            provider, f"rate limited (HTTP 429){when}", status=status, retry=True, retry_after=retry_after
        )
    if status >= 500:
        return PagingFailed(
            provider, f"failed on its side (HTTP {status}){said}", status=status, retry=True, retry_after=retry_after
        )
    if status in (401, 403):
        return PagingFailed(provider, f"refused the key (HTTP {status}){said}", status=status, retry=False)
    return PagingFailed(provider, f"refused the event (HTTP {status}){said}", status=status, retry=False)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number, or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["OPSGENIE", "PAGERDUTY", "Alert", "PagingClient", "PagingFailed"]
