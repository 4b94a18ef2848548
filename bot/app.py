"""The composition root: builds the database, the Slack client and gateway, the services, the Bolt app and
its listeners, and the aiohttp routes. Nothing here runs at import time.

(The design notes say bot/ never imports handlers/; this module is the one exception, because wiring the
listeners to the services is exactly its job. Everything else in bot/ keeps to the rule.)
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot.acting import acting
from bot.clock import Clock, SystemClock
from bot.config import Config, ConfigError, require_web_credentials
from bot.domain.incident import Incident
from bot.lifecycle import InFlight
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.paging import PagingClient
from bot.services import (
    CardActions,
    Failures,
    FollowupService,
    IncidentCommands,
    IncidentOpener,
    IncidentService,
    OpenModal,
    ReportService,
    Services,
    StatusUpdates,
    SuggestionButtons,
    SuggestionService,
    TimelineShortcut,
    UpdateModal,
)
from bot.services.archiving import Archiver
from bot.services.fingerprints import Fingerprints
from bot.services.forgetting import Forgetting
from bot.services.opening import RECONCILE_SECONDS
from bot.services.paging import Pager
from bot.services.reminders import UpdateReminders
from bot.services.retries import Retries
from bot.services.scheduler import Scheduler
from bot.services.seen_before import SeenBefore
from bot.services.timeline import Background, IncidentChannels, TimelineCapture, TimelineService
from bot.slack.gates import Gate, InstalledWorkspaces, OneWorkspace
from bot.slack.gateway import (
    DEFAULT_TIMEOUT,
    IDENTITY_REFUSALS,
    IdentityUnknown,
    SlackError,
    SlackGateway,
    create_web_client,
)
from bot.slack.http import MAX_BODY, slack_events_handler
from bot.slack.installations import Installations
from bot.slack.manifest import bot_scopes
from bot.storage import Database, TimelineWriter
from bot.storage.liveness import new_boot_id, open_liveness
from bot.storage.waiting import wait_for_database
from bot.trackers import tracker_for
from bot.web import WebView

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"  # OAuth mode: where an admin starts installing the app
REDIRECT_PATH = "/slack/oauth_redirect"  # OAuth mode: where Slack sends the admin back

IDENTITY_ATTEMPT_SECONDS = 10.0  # one auth.test at start (or the Web API timeout, if shorter)
IDENTITY_PAUSES = (1.0, 60.0)  # between auth.test attempts that failed: from 1 s, doubling up to 60 s (jittered)
MAX_RETRY_AFTER = 600.0  # a Retry-After beyond this is taken as this


def bolt_authorize(slack: SlackGateway, token: str) -> Callable[..., Awaitable[AuthorizeResult]]:
    """Bolt's authorization, from the identity fetched at start: no request waits for auth.test. (The front door
    answers every request itself while the identity is unknown, so Bolt never sees one then.)"""

    async def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        me = slack.me
        if me is None:
            raise IdentityUnknown()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=me.team_id or team_id,
            bot_user_id=me.user_id,
            bot_id=me.bot_id,
            bot_token=token,
            user_id=user_id,
        )

    return authorize


class InstalledAuthorize(AsyncAuthorize):
    """OAuth mode: Bolt's authorization from the installation the front door found for the request (bot/acting.py),
    so that Bolt never reads the store or calls auth.test itself. (A class, not a function: Bolt takes only such an
    authorization beside an OAuth flow.)"""

    def __init__(self, installations: Installations) -> None:  # (AsyncAuthorize's own __init__ does nothing)
        self._installations = installations

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        now = acting()
        found = None if now is None else await self._installations.find(now)
        if found is None:
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_user_id=found.identity.user_id,
            bot_id=found.identity.bot_id,
            bot_token=found.token,
            user_id=user_id,
        )


def authorization_url(api_url: str) -> str:
    """Slack's install page, on the host of SLACK_API_URL (https://slack.com/oauth/v2/authorize for Slack itself)."""
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}/oauth/v2/authorize"


class IncidentBot:
    """One running bot: call `start()` before serving and `close()` at the end."""

    def __init__(
        self,
        config: Config,
        *,
        slack_timeout: float = DEFAULT_TIMEOUT,
        reconcile_seconds: float = RECONCILE_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        """`slack_timeout`: seconds to wait for one Web API answer; `reconcile_seconds`: how often incidents left
        half-open are looked for (tests shorten both); `clock`: the time jobs come due by (tests pass a
        ManualClock)."""
        import handlers  # the listeners; see the module docstring

        self.config = config
        self.metrics = Metrics()
        self.db = Database(config.database_url)
        token = config.slack.bot_token.reveal() if config.slack.bot_token else ""
        self.client = create_web_client(token, config.slack.api_url, timeout=slack_timeout)
        # OAuth mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, no SLACK_BOT_TOKEN): many workspaces, each request and
        # job with its own workspace's token (bot/slack/installations.py).
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.installations: Installations | None = None
        if config.slack.oauth_mode:
            assert config.slack.client_id is not None
            assert config.slack.client_secret is not None
            self.installations = Installations(
                self.db.engine,
                config.slack.client_id.reveal(),
                config.slack.client_secret.reveal(),
                create_web_client("", config.slack.api_url, timeout=slack_timeout),
                refresh_minutes=config.oauth.refresh_minutes,
                now=self.clock.now,
            )
        self.slack = SlackGateway(self.client, self.metrics, self.installations)
        self.writer = TimelineWriter(self.db)
        self.background = Background()
        self.channels = channels = IncidentChannels(self.db)
        incidents = IncidentService(config, self.db, self.slack, self.metrics, self.clock.now)
        self.paging_client = PagingClient(config.paging)
        self.pager = Pager(
            config, self.db, self.slack, self.background, self.paging_client, self.metrics, self.clock.now
        )
        incidents.pager = self.pager if config.paging.enabled else None
        self.liveness = open_liveness(config.database_url, new_boot_id())
        # Work at a time (bot/services/scheduler.py). Services register the job kinds they run.
        self.scheduler = Scheduler(self.db, self.liveness, clock=self.clock)
        self.opener = IncidentOpener(
            config,
            self.db,
            self.slack,
            self.metrics,
            incidents,
            channels,
            self.liveness,
            clock=self.clock.now,
            every=reconcile_seconds,
        )
        timeline = TimelineService(config, self.db, self.slack)
        self.seen_before = SeenBefore(self.db, self.slack, self.clock.now)
        suggestions = SuggestionService(config, self.db, self.slack, self.background, seen_before=self.seen_before)
        updates = StatusUpdates(config, self.db, self.slack, self.clock.now)
        updates.register(self.scheduler)  # an update recorded and not posted is posted by a job
        self.reminders = UpdateReminders(config, self.db, self.slack, incidents, self.clock)
        self.reminders.register(self.scheduler)
        self.followups = followups = FollowupService(
            config, self.db, self.slack, timeline.names, tracker_for(config.followups), clock=self.clock.now
        )
        # Failed exports and pages are tried again by the scheduler (bot/services/retries.py).
        Retries(followups, self.pager).register(self.scheduler)
        reports = ReportService(config, self.db, self.slack, timeline, suggestions, followups=followups)

        async def final_report(incident: Incident, actor: str) -> None:
            await reports.generate(incident, actor, final=True)

        incidents.on_resolved = final_report
        # Channels archived some days after resolution (app.yaml `archive`); the job kind is always known, so that
        # jobs scheduled before `archive` was turned off finish (doing nothing).
        self.archiver = Archiver(config, self.db, self.slack, followups.open_ones, self.clock.now)
        self.archiver.register(self.scheduler)
        incidents.archiver = self.archiver if config.archive.enabled else None
        # Resolved incidents' evidence fingerprinted, so that a later incident that says much the same is told so.
        fingerprints = Fingerprints(self.db, lambda: suggestions.engine, self.clock.now)
        fingerprints.register(self.scheduler)
        incidents.fingerprints = fingerprints if config.suggestions.enabled else None
        incidents.resolution_note = followups.open_listing  # the follow-ups still open, in the "resolved" line
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
            commands=IncidentCommands(
                config,
                incidents,
                self.opener,
                timeline,
                suggestions,
                reports,
                self.slack,
                updates,
                followups,
                pager=self.pager,
            ),
            reports=reports,
            updates=updates,
            update_modal=UpdateModal(incidents, updates, self.slack),
            followups=followups,
            card_actions=CardActions(incidents, self.slack),
            open_modal=OpenModal(config, self.opener, self.slack),
            timeline_shortcut=TimelineShortcut(config, incidents, timeline, self.slack),
            suggestions=suggestions,
            suggestion_buttons=SuggestionButtons(incidents, suggestions, self.slack),
            failures=Failures(self.slack),
            in_flight=InFlight(),
        )
        # Installing the app (OAuth mode): Bolt's OAuth flow, served at /slack/install and /slack/oauth_redirect.
        self.oauth_flow: AsyncOAuthFlow | None = None
        if self.installations is not None:
            assert config.slack.client_id is not None
            assert config.slack.client_secret is not None
            self.oauth_flow = AsyncOAuthFlow(
                client=create_web_client("", config.slack.api_url, timeout=slack_timeout),
                logger=logging.getLogger("slack_bolt.oauth"),
                settings=AsyncOAuthSettings(
                    client_id=config.slack.client_id.reveal(),
                    client_secret=config.slack.client_secret.reveal(),
                    scopes=bot_scopes(config),
                    user_scopes=[],
                    redirect_uri=config.oauth.redirect_url,
                    install_path=INSTALL_PATH,
                    redirect_uri_path=REDIRECT_PATH,
                    authorization_url=authorization_url(config.slack.api_url),
                    installation_store=self.installations.store,
                    state_store=self.installations.state_store,
                    state_cookie_name="incident-bot-oauth-state",
                ),
            )
        signing_secret = config.slack.signing_secret.reveal() if config.slack.signing_secret else ""
        self._signing_secret = signing_secret
        # (Bolt's annotation names functions only; it takes an AsyncAuthorize instance as well.)
        authorize: Any = (
            bolt_authorize(self.slack, token) if self.installations is None else InstalledAuthorize(self.installations)
        )
        self.bolt = AsyncApp(
            # Bolt would call auth.test itself on its first request (its single-workspace authorization) and make
            # that request wait for Slack: it is given the identity fetched at start instead (`bolt_authorize`), and
            # a client without a token of its own (each request's client gets the token from `bolt_authorize`).
            client=AsyncWebClient(
                token=None,
                base_url=self.client.base_url,
                timeout=self.client.timeout,
                retry_handlers=self.client.retry_handlers,
            ),
            authorize=authorize,
            # OAuth mode: Bolt is given our flow (without one, SLACK_CLIENT_ID/SECRET in the environment make it
            # build a default flow of its own, with file stores under the home directory).
            oauth_flow=self.oauth_flow,
            signing_secret=signing_secret,
            # The front door (bot/slack/http.py) verifies every HTTP request before anything else, Bolt's error
            # listener included, and hands Bolt only verified, parsed payloads; Socket Mode needs no signature.
            request_verification_enabled=False,
            raise_error_for_unhandled_request=False,
            logger=logging.getLogger("slack_bolt"),
        )
        handlers.register_all(self.bolt, config, self.services)
        self.gate: Gate = OneWorkspace(self.slack.served_team_now)
        if self.installations is not None:
            self.forgetting = Forgetting(self.db, config.oauth.retention_days, self.clock.now)
            self.forgetting.register(self.scheduler)
            self.gate = InstalledWorkspaces(self.installations, self.forgetting.schedule)
            self.scheduler.serves = self.installations.serves
        # The web view (app.yaml `web`): its pages are served by `web_app` beside /slack/events.
        self.web_view: WebView | None = None
        if config.web.enabled:
            require_web_credentials(config)
            installations = self.installations
            readable = None
            if installations is not None:
                retention = config.oauth.retention_days

                async def readable_here(team_id: str) -> bool:
                    return await installations.readable(team_id, retention)

                readable = readable_here
            self.web_view = WebView(config, self.db, self.slack, readable=readable)
        self.ready = False
        self._identity_task: asyncio.Task[None] | None = None
        self._identity_problem = "not asked yet"  # why the identity is not known (shown by /healthz)
        self._starting = "starting"  # what /healthz says until the bot is ready
        self._identity_attempt = min(IDENTITY_ATTEMPT_SECONDS, slack_timeout)

    async def start(self, database_wait: float = 0.0) -> None:
        """Wait for the database (up to `database_wait` s while it does not accept connections yet: see
        bot/storage/waiting.py; /healthz says so meanwhile), upgrade the schema (safe with several replicas starting
        at once), learn who the bot is from Slack, listen for incident channels other replicas open, finish what a
        crash left half-open, and mark the bot started.

        Who the bot is (auth.test: its user, its bot id, the workspace it serves) is asked here, once, never on a
        request's way: every request from Slack needs it (which workspace to serve, which messages are the bot's
        own), and Slack waits 3 s for an answer. `start()` waits for Slack's first answer only (at most
        IDENTITY_ATTEMPT_SECONDS, or the Web API timeout if shorter), so that what an operator expects holds:

        - Slack refuses the token (invalid_auth, revoked, ...): `start()` raises ConfigError and `serve` stops at
          once, saying so; no retry would change that.
        - Slack is down, slow or rate limiting: the bot comes up anyway and keeps asking in the background (after
          Retry-After when Slack gives one, otherwise after 1 s, 2 s, 4 s, ... up to a minute). Meanwhile it is
          not ready: `/healthz` answers 503 with the reason, message and reaction events and interactions are
          answered 503 at once (Slack delivers events again) and slash commands are told the bot is starting.
          It becomes ready by itself as soon as Slack answers; nothing waits for auth.test on a request.
        """
        first_answer = asyncio.Event()
        if self.installations is None:
            self._identity_task = asyncio.create_task(self._learn_identity(first_answer), name="identity")
        else:  # OAuth mode: each workspace's bot is known from its installation
            first_answer.set()
        self.metrics.loop_watch.start()  # the event loop's stalls, on /metrics (bot/loopwatch.py)
        await wait_for_database(self.db, database_wait, on_wait=self._waiting_for_database)
        self._starting = "starting"
        await self.db.upgrade()
        await self.liveness.start()
        await self.channels.start()
        # The root-cause engine's process starts now and indexes the runbooks while the bot gets ready, rather than
        # on the first message of the first incident.
        await self.services.suggestions.start()
        await first_answer.wait()
        if self._identity_task is not None and self._identity_task.done() and not self._identity_task.cancelled():
            refused = self._identity_task.exception()
            if refused is not None:
                raise refused
        self.opener.start()  # incidents left half-open by a process that is gone: finished (or rolled back) now
        self.scheduler.start()  # jobs due (or left running by a process that is gone) run from now on
        # What was built to start (modules, the app, its routes: hundreds of thousands of objects) lives as long as
        # the process: out of the collector's sight, so that its full collections, which the hot path's short-lived
        # objects set off, do not walk all of it each time (they stalled the event loop ~50 ms under ingest).
        gc.collect()
        gc.freeze()
        self.ready = True

    async def _learn_identity(self, first_answer: asyncio.Event) -> None:
        """auth.test until Slack answers it (see `start`). Raises ConfigError if Slack refuses the token."""
        pause = IDENTITY_PAUSES[0]
        while True:
            try:
                me = await self.slack.ask_identity(self._identity_attempt)
            except SlackError as e:
                if e.code in IDENTITY_REFUSALS:
                    self._identity_problem = f"Slack refused the bot token (auth.test: {e.code})"
                    log.error("%s; the bot cannot serve until SLACK_BOT_TOKEN is fixed", self._identity_problem)
                    raise ConfigError(f"SLACK_BOT_TOKEN: Slack refused the bot token (auth.test: {e.code})") from None
                wait = pause * random.uniform(0.8, 1.2)
                if e.retry_after is not None:
                    wait = min(e.retry_after, MAX_RETRY_AFTER)
                pause = min(pause * 2, IDENTITY_PAUSES[1])
                self._identity_problem = f"waiting for Slack to answer auth.test (last: {e.code})"
                log.warning(
                    "Slack did not say who the bot is (auth.test: %s); asking again in %.0f s. Until then the bot is "
                    "not ready and answers Slack's events 503",
                    e.code,
                    wait,
                )
            except Exception:
                wait = pause
                pause = min(pause * 2, IDENTITY_PAUSES[1])
                self._identity_problem = "waiting for Slack to answer auth.test (unexpected error)"
                log.exception("asking Slack who the bot is failed; asking again in %.0f s", wait)
            else:
                log.info("the bot is %s (bot %s) in workspace %s", me.user_id, me.bot_id, me.team_id)
                return
            finally:
                first_answer.set()
            await asyncio.sleep(wait)

    def _waiting_for_database(self, reason: str) -> None:
        self._starting = f"waiting for the database ({reason})"

    async def close(self, grace: float = 10.0) -> None:
        """Stop being ready, let work that Slack already got an answer for finish (up to `grace` s), close."""
        self.ready = False
        if self._identity_task is not None:
            self._identity_task.cancel()
            await asyncio.gather(self._identity_task, return_exceptions=True)
        await self.opener.close()
        await self.scheduler.close(grace)  # running jobs may finish; those that do not are put back
        if not await self.services.in_flight.drained(grace):
            log.warning("closing with %d requests still being processed", self.services.in_flight.count)
        self.services.suggestions.close()
        if not await self.background.drained(grace):
            log.warning("closing with background work still running")
        self.services.suggestions.release()
        await self.paging_client.close()
        await self.writer.close()
        await self.channels.close()
        await self.liveness.close()
        await self.db.dispose()
        self.metrics.loop_watch.stop()

    def socket_mode_handler(self, app_token: str) -> AsyncSocketModeHandler:
        """Socket Mode, with the same capture path and trust rules as HTTP (connect it after `start()`)."""
        from bot.slack.socket_mode import socket_mode_handler

        return socket_mode_handler(
            self.bolt, app_token, self.capture.wants, self.capture.capture, self.slack.served_team_now
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
                    self.gate,
                    self.metrics,
                ),
            )
        if self.oauth_flow is not None:
            app.router.add_get(INSTALL_PATH, self._install)
            app.router.add_get(REDIRECT_PATH, self._oauth_redirect)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if self.web_view is not None:
            self.web_view.mount(app)
        return app

    async def _install(self, request: web.Request) -> web.StreamResponse:
        assert self.oauth_flow is not None
        return await to_aiohttp_response(await self.oauth_flow.handle_installation(_bolt_request(request)))

    async def _oauth_redirect(self, request: web.Request) -> web.StreamResponse:
        assert self.oauth_flow is not None
        return await to_aiohttp_response(await self.oauth_flow.handle_callback(_bolt_request(request)))

    async def _count(self, request: web.Request, response: web.StreamResponse) -> None:
        resource = request.match_info.route.resource
        self.metrics.count_request(resource.canonical if resource is not None else "unmatched", response.status)

    async def _healthz(self, _: web.Request) -> web.Response:
        return await self._health()

    async def _health(self) -> web.Response:
        if not self.ready:
            return web.json_response({"ok": False, "status": self._starting}, status=503)
        if self.installations is None and self.slack.me is None:  # events are answered 503 until then (`start`)
            return web.json_response({"ok": False, "status": self._identity_problem}, status=503)
        # tokens_revoked / app_uninstalled (single-workspace mode): nothing more can be done
        if self.installations is None and self.capture.lost_access is not None:
            return web.json_response({"ok": False, "status": self.capture.lost_access}, status=503)
        try:
            await self.db.ping()
        except Exception as e:  # any database failure means not ready; say which kind
            return web.json_response({"ok": False, "status": f"database unavailable: {type(e).__name__}"}, status=503)
        return web.json_response({"ok": True, "status": "ready"})

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _bolt_request(request: web.Request) -> AsyncBoltRequest:
    """A browser's GET (install link, OAuth redirect) as Bolt's OAuth flow takes it: the query and the headers (the
    state cookie among them)."""
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))
