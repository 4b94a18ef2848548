"""Prometheus metrics, one registry per running bot (so tests and several apps in one process stay apart)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "incident_bot_http_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.slack_calls = Counter(
            "incident_bot_slack_api_calls",
            "Slack Web API calls made, by method.",
            ["method"],
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "incident_bot_slack_api_errors",
            "Slack Web API calls that failed, by method and Slack error code.",
            ["method", "error"],
            registry=self.registry,
        )
        self.incidents_opened = Counter(
            "incident_bot_incidents_opened",
            "Incidents opened (channel created and card posted).",
            registry=self.registry,
        )

        self.refused = Counter(
            "incident_bot_requests_refused",
            "Requests to /slack/events refused or ignored before any work: unsigned or badly signed, too large, "
            "too slow, malformed, or from a workspace the bot does not serve.",
            ["reason"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "incident_bot_events_dropped",
            "Signed events that could never be stored (a malformed ts or channel, the wrong shape), answered 2xx so "
            "that Slack does not retry them forever, and recorded with the reason.",
            ["reason"],
            registry=self.registry,
        )

        self._request_counters: dict[tuple[str, int], Counter] = {}

    def count_request(self, route: str, status: int) -> None:
        # Looking up a labelled child costs more than the increment; the hot path keeps them.
        counter = self._request_counters.get((route, status))
        if counter is None:
            counter = self._request_counters[(route, status)] = self.requests.labels(route=route, status=str(status))
        counter.inc()

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
