"""Paging the on-call: PagerDuty (Events API v2) or Opsgenie, per severity in app.yaml or with `/incident page`.

A page is a row (one per incident and service, bot/storage/pages.py), written in the transaction of what asked for
it: opening the incident at a severity that pages, moving it to one, or the command. It is sent after that commits
and after Slack got its answer, in the background; what the provider answered is recorded, put on the timeline
(the audit log) and told in the incident channel. Resolving the incident marks every page of it to be resolved, and
each is resolved the same way. Reopening it triggers its pages again (with the same deduplication key: the provider
opens a new alert, the old one being resolved), and resolving it again resolves them again.

Sending is idempotent and can be called again, by anyone, at any time (`trigger`, `resolve`: a retry job needs
nothing else): a page already accepted is never sent again, a lease keeps two senders from sending at once, and the
deduplication key (`<team>-<incident>-<service>`) makes the provider keep one alert even if a trigger accepted
behind a lost answer is sent again. Nothing here retries by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.config import PROVIDER_NAMES, Config, PagingService, Severity
from bot.domain.incident import Incident
from bot.metrics import Metrics
from bot.paging import Alert, PagingClient, PagingFailed
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.markup import from_slack
from bot.storage import Database, IncidentStore
from bot.storage.pages import NewPage, Page

from .errors import UserError
from .incidents import audit
from .retries import schedule_page_retry
from .timeline import Background

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # a sender's claim on a page: longer than one provider call (bot/paging.py: 10 s)


def utcnow() -> datetime:
    return datetime.now(UTC)


def dedup_key(incident: Incident, service: str) -> str:
    """One per incident and service, across workspaces: `T0123-INC-2026-001-payments`."""
    return f"{incident.team_id}-{incident.public_id}-{service}"


class Pager:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        background: Background,
        client: PagingClient,
        metrics: Metrics,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._metrics = metrics
        self._config = config
        self._db = db
        self._slack = slack
        self._background = background
        self._client = client
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._config.paging.enabled

    # -- asking for pages (inside the caller's transaction) -------------------------------------------------

    async def plan(self, store: IncidentStore, incident: Incident, level: Severity, actor: str, at: datetime) -> None:
        """The services `level` pages (app.yaml), for an incident opening at it or moving to it: a page for each
        one this incident has none for yet. Sent by `send_unsent` once the caller has committed."""
        for name in level.page:
            service = self._config.paging.service(name)
            if service is not None:
                await store.pages.add(self._new(incident, service, "severity", actor, at))

    async def reopening(self, store: IncidentStore, incident: Incident, actor: str, at: datetime) -> list[int]:
        """The incident is reopened (in the caller's transaction): its pages, resolved with it, are to be triggered
        again, and its severity's services paged (those it has no page for yet). Sent by `send_unsent` once the
        caller has committed. Returns the ids of the pages to trigger again."""
        again = await store.pages.reopen(incident.id, actor, at)
        level = self._config.severity(incident.severity)
        if level is not None:
            await self.plan(store, incident, level, actor, at)
        return again

    async def resolving(self, store: IncidentStore, incident: Incident, at: datetime) -> list[int]:
        """The incident is resolved (in the caller's transaction): its pages are to be resolved; their ids."""
        return await store.pages.want_resolve(incident.id, at)

    def _new(self, incident: Incident, service: PagingService, reason: str, actor: str, at: datetime) -> NewPage:
        return NewPage(
            team_id=incident.team_id,
            incident_id=incident.id,
            service=service.name,
            provider=service.provider,
            dedup_key=dedup_key(incident, service.name),
            reason=reason,
            severity=incident.severity,
            requested_by=actor,
            requested_at=at,
        )

    # -- sending, after the commit and after Slack's answer ---------------------------------------------------

    async def send_unsent(self, incident_id: int) -> None:
        """Trigger, in the background, every page of the incident asked for and never sent yet (one that failed is sent
        again only when asked again: by a person, or a retry job)."""
        async with self._db.transaction() as store:
            pages = await store.pages.of_incident(incident_id)
        for page in pages:
            if page.trigger_attempts == 0 and page.resolve_wanted_at is None:
                self.trigger_soon(page.id, first=True)

    def trigger_soon(self, page_id: int, *, first: bool = False) -> None:
        async def send() -> None:
            await self.trigger(page_id, first=first)

        self._background.spawn(send)

    def resolve_soon(self, page_ids: list[int], actor: str) -> None:
        for page_id in page_ids:

            async def send(page_id: int = page_id) -> None:
                await self.resolve(page_id, actor)

            self._background.spawn(send)

    async def trigger(self, page_id: int, *, first: bool = False) -> bool:
        """Send the page's trigger unless it was accepted already, is being sent, or the incident is resolved (and,
        `first`, unless it was tried before). True when the provider accepted it now. The outcome is recorded, put
        on the timeline and told in the channel."""
        now = self._clock()
        lease = now + timedelta(seconds=LEASE_SECONDS)
        async with self._db.transaction() as store:
            page = await store.pages.claim(page_id, "trigger", now, lease, first=first)
            incident = await store.get(page.incident_id) if page is not None else None
        if page is None or incident is None:
            return False
        service = self._config.paging.service(page.service)
        try:
            if service is None:
                raise PagingFailed(page.provider, f"{page.service} is no longer a service in app.yaml", retry=False)
            await self._client.trigger(service, self._alert(incident, page))
        except PagingFailed as e:
            self._count(page, "trigger", e)
            await self._failed(incident, page, "page_failed", e)
            await self._post(incident, self._trigger_failed_text(page, e))
            return False
        except BaseException:
            async with self._db.transaction() as store:
                await store.pages.release(page_id)
            raise
        self._count(page, "trigger")
        at = self._clock()
        async with self._db.transaction() as store:
            page = await store.pages.sent(page_id, "trigger", at)
            await audit(store, incident, page.requested_by, "paged", at, "service", page.reason, _named(page))
        log.info("%s: paged %s on %s", incident.public_id, page.service, page.provider)
        await self._post(incident, self._paged_text(incident, page))
        if page.resolve_wanted_at is not None:  # resolved while the trigger was on its way: resolve it now
            await self.resolve(page_id, page.requested_by)
        return True

    async def resolve(self, page_id: int, actor: str) -> bool:
        """Send the page's resolve if the incident is resolved and the provider has not accepted one yet. True when
        it accepted it now (or nothing had ever been sent, so there was nothing to resolve)."""
        now = self._clock()
        async with self._db.transaction() as store:
            page = await store.pages.claim(page_id, "resolve", now, now + timedelta(seconds=LEASE_SECONDS))
            incident = await store.get(page.incident_id) if page is not None else None
        if page is None or incident is None:
            return False
        if page.trigger_attempts == 0:  # never sent: nobody was paged, nothing to resolve
            async with self._db.transaction() as store:
                await store.pages.sent(page_id, "resolve", now)
            return True
        service = self._config.paging.service(page.service)
        try:
            if service is None:
                raise PagingFailed(page.provider, f"{page.service} is no longer a service in app.yaml", retry=False)
            await self._client.resolve(service, page.dedup_key, f"{incident.public_id} was resolved in Slack.")
        except PagingFailed as e:
            self._count(page, "resolve", e)
            await self._failed(incident, page, "page_resolve_failed", e, actor)
            if page.triggered_at is not None:
                await self._post(
                    incident,
                    f":warning: I could not resolve the page of *{page.service}* on {_provider(page)}: "
                    f"{blocks.escape(e.what)}. "
                    f"It is still open there: resolve it in {_provider(page)}.",
                )
            return False
        except BaseException:
            async with self._db.transaction() as store:
                await store.pages.release(page_id)
            raise
        self._count(page, "resolve")
        at = self._clock()
        async with self._db.transaction() as store:
            page = await store.pages.sent(page_id, "resolve", at)
            await audit(store, incident, actor, "page_resolved", at, "service", None, _named(page))
        if page.triggered_at is not None:  # a trigger that never got through is resolved without a word
            done = f":white_check_mark: The page of *{page.service}* on {_provider(page)} is resolved."
            await self._post(incident, done)
        return True

    def _count(self, page: Page, action: str, error: PagingFailed | None = None) -> None:
        if error is None:
            outcome = "accepted"
        elif error.status is not None:
            outcome = str(error.status)
        else:
            outcome = "no_answer" if error.retry else "not_sent"
        self._metrics.pages.labels(provider=page.provider, action=action, outcome=outcome).inc()

    async def _failed(
        self, incident: Incident, page: Page, action: str, error: PagingFailed, actor: str | None = None
    ) -> None:
        at = self._clock()
        retry_at = at + timedelta(seconds=error.retry_after) if error.retry_after is not None else None
        log.warning("%s: %s %s on %s: %s", incident.public_id, action, page.service, page.provider, error.what)
        which = "resolve" if action == "page_resolve_failed" else "trigger"
        attempts = page.resolve_attempts if which == "resolve" else page.trigger_attempts
        async with self._db.transaction() as store:
            await store.pages.failed(page.id, error.what, retry_at)
            if error.retry:  # tried again by the scheduler, with backoff (bot/services/retries.py)
                await schedule_page_retry(
                    store.jobs,
                    page.id,
                    which,
                    attempts,
                    actor or page.requested_by,
                    at,
                    error.retry_after,
                    round_=int(page.requested_at.timestamp()),
                )
            await audit(
                store, incident, actor or page.requested_by, action, at, "service", page.reason,
                f"{_named(page)}: {error.what}",
            )  # fmt: skip

    async def busy(self, page_id: int, action: str) -> bool:
        """Whether another sender holds the page now (a retry finding it so tries again later)."""
        async with self._db.transaction() as store:
            return await store.pages.sending(page_id, self._clock())

    # -- `/incident page <service>` ---------------------------------------------------------------------------

    async def page(self, incident: Incident, name: str, actor: str, request_key: str | None) -> str | None:
        """Page `name` for the incident now. Returns what to tell the person privately, if anything (the channel is
        told who paged whom once the provider has it). A Slack retry of the same command (`request_key`) does
        nothing; a service already paged is not paged again."""
        service = self.service_or_error(name)
        now = self._clock()
        async with self._db.transaction() as store:
            current = await store.lock(incident.id)
            if current is None:
                raise UserError("That incident no longer exists.")
            if request_key is not None and not await store.claim_request(current.team_id, request_key, now):
                return None  # the same command delivered again: handled the first time
            if not current.status.is_active:
                raise UserError(f"{current.public_id} is resolved; nobody is paged for it any more.")
            added = await store.pages.add(self._new(current, service, "command", actor, now))
            page = added or await store.pages.find(current.id, service.name)
        assert page is not None
        if page.triggered_at is not None:
            how = f"by {blocks.mention(page.requested_by)}" if page.reason == "command" else "as app.yaml says for "
            if page.reason != "command":
                how += f"{blocks.escape(blocks.severity_label(self._config, page.severity))}"
            return (
                f"*{service.name}* was already paged for {current.public_id} "
                f"({page.triggered_at:%H:%M} UTC, {how}); it is not paged twice."
            )
        if added is not None:
            self.trigger_soon(page.id, first=True)  # only once, whoever gets it first (this, or the opening's)
            return None
        self.trigger_soon(page.id)  # asked again: tried again, unless it is being sent right now
        if page.last_error:
            return f"Paging *{service.name}* again (last time: {blocks.escape(page.last_error)})."
        return f"*{service.name}* is being paged already; the channel will say when {service.provider_name} has it."

    def service_or_error(self, name: str) -> PagingService:
        cmd = self._config.command
        if not self.enabled:
            raise UserError(
                "Paging is not set up here: the operators can name services under `paging` in app.yaml "
                "(PagerDuty or Opsgenie)."
            )
        service = self._config.paging.service(name) if name else None
        if service is None:
            head = f"`{blocks.escaped_cut(name, 80)}` is not a service I can page." if name else "Which service?"
            return_list = self.services_text()
            raise UserError(f"{head} {return_list}\nFor example: `{cmd} page {self._config.paging.services[0].name}`.")
        return service

    def services_text(self) -> str:
        return "I can page: " + ", ".join(f"`{s.name}` ({s.provider_name})" for s in self._config.paging.services) + "."

    # -- what is said ------------------------------------------------------------------------------------------

    def _alert(self, incident: Incident, page: Page) -> Alert:
        level = self._config.severity(incident.severity)
        rank = self._config.severities.index(level) if level is not None else len(self._config.severities)
        label = level.label if level is not None else incident.severity
        # A private incident's title and channel name are for its channel's members only (as in the announcement).
        private = incident.may_be_private
        title = "a private incident" if private else from_slack(incident.title)
        channel_name = "" if private or not incident.channel_name else f"#{incident.channel_name}"
        details = {
            "incident": incident.public_id,
            "title": title,
            "severity": label,
            "status": incident.status.label,
            "slack_channel": channel_name,
            "paged_by": page.requested_by if page.reason == "command" else f"app.yaml (severity {incident.severity})",
        }
        links: tuple[tuple[str, str], ...] = ()
        if incident.channel_id:
            links = (
                (
                    f"https://slack.com/app_redirect?team={incident.team_id}&channel={incident.channel_id}",
                    f"Slack: {channel_name or 'the incident channel'}",
                ),
            )
        return Alert(
            dedup_key=page.dedup_key,
            summary=f"{incident.public_id}: {title} ({label})",
            rank=rank,
            details={k: v for k, v in details.items() if v},
            links=links,
        )

    def _paged_text(self, incident: Incident, page: Page) -> str:
        where = f"*{page.service}* on {_provider(page)}"
        if page.reason == "command":
            return f":pager: {blocks.mention(page.requested_by)} paged {where} for {incident.public_id}."
        label = blocks.escape(blocks.severity_label(self._config, page.severity))
        return f":pager: Paged {where}: app.yaml pages it for *{label}* incidents."

    def _trigger_failed_text(self, page: Page, error: PagingFailed) -> str:
        then = (
            f"Try again with `{self._config.command} page {page.service}` in a moment, or page them by hand."
            if error.retry
            else "Sending it again will not help until that is fixed; page them by hand meanwhile."
        )
        return (
            f":warning: I could not page *{page.service}* on {_provider(page)}: {blocks.escape(error.what)}. "
            f"Nobody was paged through me. {then}"
        )

    async def _post(self, incident: Incident, text: str) -> None:
        if incident.channel_id is None:
            return
        try:
            await self._slack.post_message(incident.channel_id, text)
        except SlackError as e:
            log.warning("could not tell %s's channel about a page: %s", incident.public_id, e.code)


def _provider(page: Page) -> str:
    return PROVIDER_NAMES.get(page.provider, page.provider)


def _named(page: Page) -> str:
    return f"{page.service} ({_provider(page)})"
