"""Prometheus metrics, one registry per running bot (so tests and several apps in one process stay apart)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bot.loopwatch import LoopWatch

__all__ = ["CONTENT_TYPE_LATEST", "LOOP_LAG_BUCKETS", "LoopLag", "Metrics"]

# Upper bounds (seconds) of the event-loop lag histogram: fine around the 20 ms a stall may take at most.
LOOP_LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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
        self.slack_app_events = Counter(
            "incident_bot_slack_app_events",
            "What Slack said about the app itself, by type: app_rate_limited (Slack is dropping the app's events of "
            "a workspace: over 30,000 an hour), tokens_revoked, app_uninstalled.",
            ["type"],
            registry=self.registry,
        )
        self.pages = Counter(
            "incident_bot_pages",
            "Events sent to the paging providers, by provider (pagerduty, opsgenie), action (trigger, resolve) and "
            "outcome: accepted, the HTTP status of a refusal (400, 429, 500, ...), no_answer, or not_sent (the key's "
            "variable is not set, the service is no longer in app.yaml).",
            ["provider", "action", "outcome"],
            registry=self.registry,
        )

        self.loop_lag = LoopLag()
        self.registry.register(self.loop_lag)
        # Started and stopped with the bot (IncidentBot.start/close): it needs the running loop.
        self.loop_watch = LoopWatch(self.loop_lag.observe)

        self._request_counters: dict[tuple[str, int], Counter] = {}

    def count_request(self, route: str, status: int) -> None:
        # Looking up a labelled child costs more than the increment; the hot path keeps them.
        counter = self._request_counters.get((route, status))
        if counter is None:
            counter = self._request_counters[(route, status)] = self.requests.labels(route=route, status=str(status))
        counter.inc()

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class LoopLag(Collector):
    """The event loop's lag as bot/loopwatch.py measures it, every 5 ms:

    * `incident_bot_event_loop_lag_seconds`, a histogram of how late each run of the watcher was (cumulative, like
      every histogram: rate() it, or diff two scrapes);
    * `incident_bot_event_loop_lag_max_seconds`, the longest stall since the previous scrape of /metrics (or since
      the start), reset by each scrape: what a `max_over_time` of it shows is the worst stall of each interval,
      and a benchmark reads it before and after a phase to get that phase's longest stall. (With several
      scrapers, each sees the longest since any of them last scraped.)

    Recording is a bisect and two additions, with no lock: only the event loop records, and /metrics is rendered
    on the event loop too."""

    def __init__(self, buckets: tuple[float, ...] = LOOP_LAG_BUCKETS) -> None:
        self._bounds = buckets
        self._counts = [0] * (len(buckets) + 1)  # the last one: above every bound (+Inf)
        self._sum = 0.0
        self._max = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds
        if seconds > self._max:
            self._max = seconds

    def describe(self) -> Iterator[Metric]:
        yield from self._families(None, 0.0)

    def collect(self) -> Iterator[Metric]:
        longest, self._max = self._max, 0.0
        buckets, running = [], 0
        for bound, count in zip((*(repr(float(b)) for b in self._bounds), "+Inf"), self._counts, strict=True):
            running += count
            buckets.append((bound, float(running)))
        yield from self._families(buckets, longest)

    def _families(self, buckets: list[tuple[str, float]] | None, longest: float) -> Iterator[Metric]:
        yield HistogramMetricFamily(
            "incident_bot_event_loop_lag_seconds",
            "How late the event loop ran a timer due every 5 ms: its stalls (bot/loopwatch.py).",
            buckets=buckets,
            sum_value=self._sum if buckets is not None else None,
        )
        yield GaugeMetricFamily(
            "incident_bot_event_loop_lag_max_seconds",
            "The event loop's longest stall since the previous scrape of /metrics (reset by each scrape).",
            value=longest,
        )
