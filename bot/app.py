"""The composition root: builds the database, the Slack client and gateway, the services, the Bolt app and
its listeners, and the aiohttp routes. Nothing here runs at import time.

(The design notes say bot/ never imports handlers/; this module is the one exception, because wiring the
listeners to the services is exactly its job. Everything else in bot/ keeps to the rule.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.async_app import AsyncApp

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot.config import Config
from bot.domain.incident import Incident
from bot.lifecycle import InFlight
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.services import (
    CardActions,
    Failures,
    IncidentCommands,
    IncidentOpener,
    IncidentService,
    OpenModal,
    ReportService,
    Services,
    SuggestionButtons,
    SuggestionService,
    TimelineShortcut,
)
from bot.services.opening import RECONCILE_SECONDS
from bot.services.timeline import Background, IncidentChannels, TimelineCapture, TimelineService
from bot.slack.gateway import DEFAULT_TIMEOUT, SlackGateway, create_web_client
from bot.slack.http import MAX_BODY, slack_events_handler
from bot.storage import Database, TimelineWriter
from bot.storage.liveness import new_boot_id, open_liveness
from bot.suggestions.engine import RunbookLibrary

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"


class IncidentBot:
    """One running bot: call `start()` before serving and `close()` at the end."""

    def __init__(
        self, config: Config, *, slack_timeout: float = DEFAULT_TIMEOUT, reconcile_seconds: float = RECONCILE_SECONDS
    ) -> None:
        """`slack_timeout`: seconds to wait for one Web API answer; `reconcile_seconds`: how often incidents left
        half-open are looked for (tests shorten both)."""
        import handlers  # the listeners; see the module docstring

        self.config = config
        self.metrics = Metrics()
        self.db = Database(config.database_url)
        token = config.slack.bot_token.reveal() if config.slack.bot_token else ""
        self.client = create_web_client(token, config.slack.api_url, timeout=slack_timeout)
        self.slack = SlackGateway(self.client, self.metrics)
        self.writer = TimelineWriter(self.db)
        self.background = Background()
        channels = IncidentChannels(self.db)
        incidents = IncidentService(config, self.db, self.slack, self.metrics)
        self.liveness = open_liveness(config.database_url, new_boot_id())
        self.opener = IncidentOpener(
            config, self.db, self.slack, self.metrics, incidents, channels, self.liveness, every=reconcile_seconds
        )
        timeline = TimelineService(config, self.db, self.slack)
        self.library = RunbookLibrary(config.suggestions.runbooks)
        suggestions = SuggestionService(config, self.db, self.slack, self.library, self.background)
        reports = ReportService(config, self.db, self.slack, timeline, suggestions, self.library)

        async def final_report(incident: Incident, actor: str) -> None:
            await reports.generate(incident, actor, final=True)

        incidents.on_resolved = final_report
        self.capture = TimelineCapture(
            config,
            channels,
            self.writer,
            self.slack,
            self.db,
            self.background,
            self.metrics,
            on_words=suggestions.nudge,
        )
        self.services = Services(
            incidents=incidents,
            timeline=timeline,
            capture=self.capture,
            opener=self.opener,
            commands=IncidentCommands(config, incidents, self.opener, timeline, suggestions, reports, self.slack),
            reports=reports,
            card_actions=CardActions(incidents, self.slack),
            open_modal=OpenModal(config, self.opener, self.slack),
            timeline_shortcut=TimelineShortcut(config, incidents, timeline, self.slack),
            suggestions=suggestions,
            suggestion_buttons=SuggestionButtons(incidents, suggestions, self.slack),
            failures=Failures(self.slack),
            in_flight=InFlight(),
        )
        signing_secret = config.slack.signing_secret.reveal() if config.slack.signing_secret else ""
        self._signing_secret = signing_secret
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            # The front door (bot/slack/http.py) verifies every HTTP request before anything else, Bolt's error
            # listener included, and hands Bolt only verified, parsed payloads; Socket Mode needs no signature.
            request_verification_enabled=False,
            raise_error_for_unhandled_request=False,
            logger=logging.getLogger("slack_bolt"),
        )
        handlers.register_all(self.bolt, config, self.services)
        self.ready = False

    async def start(self) -> None:
        """Upgrade the schema (safe with several replicas starting at once), finish what a crash left half-open,
        and mark the bot ready."""
        await self.db.upgrade()
        await self.liveness.start()
        # Index the runbooks now, off the event loop, rather than on the first message of the first incident.
        await asyncio.to_thread(self.library.engine)
        self.opener.start()  # incidents left half-open by a process that is gone: finished (or rolled back) now
        self.ready = True

    async def close(self, grace: float = 10.0) -> None:
        """Stop being ready, let work that Slack already got an answer for finish (up to `grace` s), close."""
        self.ready = False
        await self.opener.close()
        if not await self.services.in_flight.drained(grace):
            log.warning("closing with %d requests still being processed", self.services.in_flight.count)
        self.services.suggestions.close()
        if not await self.background.drained(grace):
            log.warning("closing with background work still running")
        await self.writer.close()
        await self.liveness.close()
        await self.db.dispose()

    def socket_mode_handler(self, app_token: str) -> AsyncSocketModeHandler:
        """Socket Mode, with the same capture path and trust rules as HTTP (connect it after `start()`)."""
        from bot.slack.socket_mode import socket_mode_handler

        return socket_mode_handler(
            self.bolt, app_token, self.capture.wants, self.capture.capture, self.slack.served_team
        )

    def web_runner(self) -> web.AppRunner:
        """The aiohttp runner for `web_app()`, as `serve` runs it. Bodies are not inflated by aiohttp (Slack never
        compresses; a kilobyte of gzip would become a megabyte in memory before the front door could refuse it)."""
        return web.AppRunner(self.web_app(), access_log=None, auto_decompress=False)

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        # Every answer the app prepares is counted, whatever route, status or failure it comes from (a signal
        # costs one call per response; an aiohttp middleware cost the hot path a tenth of its time). Only answers
        # aiohttp gives to malformed HTTP, before any request exists, are not counted.
        app.on_response_prepare.append(self._count)
        if self._signing_secret:  # HTTP mode (Socket Mode needs no request URL)
            app.router.add_post(
                SLACK_EVENTS_PATH,
                slack_events_handler(
                    self.bolt,
                    self._signing_secret,
                    self.capture.wants,
                    self.capture.capture,
                    self.slack.served_team,
                    self.metrics,
                ),
            )
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _count(self, request: web.Request, response: web.StreamResponse) -> None:
        resource = request.match_info.route.resource
        self.metrics.count_request(resource.canonical if resource is not None else "unmatched", response.status)

    async def _healthz(self, _: web.Request) -> web.Response:
        return await self._health()

    async def _health(self) -> web.Response:
        if not self.ready:
            return web.json_response({"ok": False, "status": "starting"}, status=503)
        try:
            await self.db.ping()
        except Exception as e:  # any database failure means not ready; say which kind
            return web.json_response({"ok": False, "status": f"database unavailable: {type(e).__name__}"}, status=503)
        return web.json_response({"ok": True, "status": "ready"})

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
