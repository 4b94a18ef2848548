"""OAuth mode: the workspaces the app is installed in, their bot tokens (rotated before they expire), and forgetting a
workspace that uninstalled the app.

Installations and OAuth states are kept by slack_sdk's async SQLAlchemy stores, in our database (tables made by
migration 0018). Bolt's OAuth flow (`/slack/install`, `/slack/oauth_redirect`) saves through `InstallationStore`
below, which also records the workspace in `workspaces` (what the web view and the retention of an uninstalled
workspace's incidents go by).

Every request and every job acts for one workspace (bot/acting.py); the gateway asks `Installations.find` for its
token on each call. Found installations are remembered for `CACHE_SECONDS`, so that the hot path (message capture)
does not read the database for every event; a token that Slack refuses, an uninstall and a rotation drop the
remembered one. A token that expires within `refresh_minutes` is refreshed first (slack_sdk's AsyncTokenRotator:
`oauth.v2.access` with the refresh token), one refresh at a time per workspace in a process. Replicas that race to
refresh the same token: Slack takes a refresh token once, so the loser reads the winner's token from the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.acting import Acting
from bot.storage.dialect import upsert
from bot.storage.tables import WorkspaceRow

from .events import BotIdentity

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0  # how long a found installation is used without reading the store again
STATE_SECONDS = 600  # how long an install link (its OAuth state) may be used
RACE_READS, RACE_PAUSE = 5, 0.2  # a refresh Slack refused: the store read up to 5 times, 0.2 s apart
REFRESH_PAUSE = 60.0  # a token still due for refreshing after a try (Slack refused, or tokens live less than
# `refresh_minutes`): used as it is, while it works, and refreshing tried again this many seconds later, not per call


@dataclass(frozen=True, slots=True)
class Installed:
    """What a request or job needs of its workspace's installation."""

    acting: Acting
    token: str
    identity: BotIdentity
    expires_at: int | None  # Unix time the token expires at; None: it does not
    refresh_token: str | None
    found_at: float  # monotonic
    # How the store keys it: its org (None: none), its workspace (None: installed org-wide); when it was installed.
    enterprise_id: str | None = None
    store_team_id: str | None = None
    installed_at: float | None = None  # Unix time
    refresh_tried_at: float | None = None  # monotonic: when refreshing was tried and left the token still due


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    team_id: str
    enterprise_id: str | None
    is_enterprise_install: bool
    installed_at: datetime
    uninstalled_at: datetime | None


class NotInstalled(Exception):
    """The app is not (or no longer) installed in the workspace a request or job acts for."""


class InstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack_sdk's store, which also records each install in `workspaces` (an install again after an uninstall
    clears the uninstall) and tells `Installations` to drop what it remembered of the workspace."""

    def __init__(
        self,
        client_id: str,
        engine: AsyncEngine,
        on_saved: Callable[[Installation], None],
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(client_id=client_id, engine=engine)
        self._on_saved = on_saved
        self._now = now

    async def async_save(self, installation: Installation) -> None:
        await super().async_save(installation)
        team = installation.team_id or installation.enterprise_id or ""
        if team:
            await _record_install(
                self.engine,
                self._now(),
                team,
                installation.enterprise_id,
                bool(installation.is_enterprise_install),
                installation.team_name or installation.enterprise_name,
            )
        self._on_saved(installation)


async def _record_install(
    engine: AsyncEngine,
    now: datetime,
    team_id: str,
    enterprise_id: str | None,
    org_wide: bool,
    name: str | None,
    *,
    replace: bool = True,
) -> None:
    """Record the workspace as installed; `replace=False`: only if it has no record yet (a workspace first seen in
    a request, whose org a payload claims, never changes what an install recorded)."""
    values = {"enterprise_id": enterprise_id, "is_enterprise_install": org_wide, "name": name}
    async with engine.begin() as conn:
        insert = upsert(conn, WorkspaceRow).values(team_id=team_id, installed_at=now, uninstalled_at=None, **values)
        if replace:
            insert = insert.on_conflict_do_update(
                index_elements=["team_id"], set_={**values, "installed_at": now, "uninstalled_at": None}
            )
        else:
            insert = insert.on_conflict_do_nothing(index_elements=["team_id"])
        await conn.execute(insert)


class Installations:
    def __init__(
        self,
        engine: AsyncEngine,
        client_id: str,
        client_secret: str,
        client: AsyncWebClient,
        *,
        refresh_minutes: int = 120,
        cache_seconds: float = CACHE_SECONDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`now`: the bot's clock, which installs and uninstalls are recorded by (and the retention counted by)."""
        self._engine = engine
        self._now = now
        self.store = InstallationStore(client_id, engine, self._saved, now)
        self.state_store = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine)
        self._rotator = AsyncTokenRotator(client_id=client_id, client_secret=client_secret, client=client)
        self._refresh_minutes = refresh_minutes
        self._cache_seconds = cache_seconds
        self._cache: dict[str, Installed] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._recorded: set[str] = set()  # org-wide installs' workspaces seen (and recorded) by this process

    # -- what requests and jobs use --------------------------------------------------------------------------

    def known(self, team_id: str) -> Installed | None:
        """The installation remembered for the workspace, if any (never waits: for `SlackGateway.me`)."""
        return self._cache.get(team_id)

    async def find(self, acting: Acting) -> Installed | None:
        """The workspace's installation with a token good for a while (refreshed first if it expires within
        `refresh_minutes`); None when the app is not installed there."""
        cached = self._cache.get(acting.team_id)
        if cached is not None and self._usable(cached):
            return cached
        lock = self._locks.setdefault(acting.team_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(acting.team_id)
            if cached is not None and self._usable(cached):
                return cached
            found = await self._load(acting)
            if found is None:
                self._cache.pop(acting.team_id, None)
                return None
            self._cache[acting.team_id] = found
            return found

    def refused(self, team_id: str, token: str) -> None:
        """Slack refused `token` (revoked, expired, invalid): what was remembered is read again next time."""
        cached = self._cache.get(team_id)
        if cached is not None and cached.token == token:
            self._cache.pop(team_id, None)

    async def serves(self, team_id: str | None) -> bool:
        """Whether the app is installed in the workspace (for jobs: None, from before OAuth mode, is not served)."""
        if team_id is None:
            return False
        return await self.find(Acting(team_id)) is not None

    async def readable(self, team_id: str, retention_days: int) -> bool:
        """Whether the workspace's incidents may be read (the web view): installed, or uninstalled less than
        `retention_days` ago."""
        record = await self.record(team_id)
        if record is None:
            return False
        if record.uninstalled_at is None:
            return True
        return (self._now() - record.uninstalled_at).total_seconds() < retention_days * 86400

    async def record(self, team_id: str) -> WorkspaceRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(WorkspaceRow).where(WorkspaceRow.team_id == team_id))).first()
        if row is None:
            return None
        return WorkspaceRecord(
            team_id=row.team_id,
            enterprise_id=row.enterprise_id,
            is_enterprise_install=bool(row.is_enterprise_install),
            installed_at=row.installed_at,
            uninstalled_at=row.uninstalled_at,
        )

    async def forget(self, acting: Acting, installed: Installed | None = None) -> None:
        """The app was uninstalled (or its bot token revoked) in the workspace: its installation (`installed`, the
        one found for it) is deleted, so the bot no longer acts there; the workspace is marked uninstalled (its
        incidents stay readable for the retention period)."""
        if installed is None:
            installed = await self.find(acting)
        if installed is None:
            return
        enterprise_id, team_id = installed.enterprise_id, installed.store_team_id
        async with self._engine.begin() as conn:  # first: a failure after it leaves the installation, to redo
            await conn.execute(
                update(WorkspaceRow).where(WorkspaceRow.team_id == acting.team_id).values(uninstalled_at=self._now())
            )
        await self.store.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        await self.store.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)
        self._cache.pop(acting.team_id, None)
        log.info("the app was uninstalled from workspace %s: the bot no longer acts there", acting.team_id)

    # -- inside ------------------------------------------------------------------------------------------------

    def _usable(self, found: Installed) -> bool:
        now = time.monotonic()
        if now - found.found_at > self._cache_seconds:
            return False
        if not self._expiring(found.expires_at):
            return True
        tried = found.refresh_tried_at
        still_valid = found.expires_at is not None and found.expires_at > time.time()
        return still_valid and tried is not None and now - tried < REFRESH_PAUSE

    def _expiring(self, expires_at: int | None) -> bool:
        return expires_at is not None and expires_at <= time.time() + self._refresh_minutes * 60

    async def _key(self, acting: Acting) -> tuple[str | None, str | None]:
        """(enterprise_id, team_id) as the store keys the installation serving `acting`. What `workspaces` recorded
        of the workspace counts (a job knows its team only; a payload's org is a claim, and a workspace moved into an
        org keeps the installation it had); the payload's org and org-wide flag only for a workspace not recorded
        yet (one of an org-wide install, seen for the first time)."""
        record = await self.record(acting.team_id)
        if record is not None:
            enterprise_id, org_wide = record.enterprise_id, record.is_enterprise_install
        else:
            enterprise_id, org_wide = acting.enterprise_id, acting.is_enterprise_install
        return enterprise_id, None if org_wide else acting.team_id

    async def _load(self, acting: Acting) -> Installed | None:
        enterprise_id, team_id = await self._key(acting)
        bot = await self.store.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=team_id is None
        )
        if bot is None or not bot.bot_token:
            return None
        if team_id is None and acting.team_id not in self._recorded:  # an org-wide install: its workspaces, as seen
            await _record_install(self._engine, self._now(), acting.team_id, enterprise_id, True, None, replace=False)
            self._recorded.add(acting.team_id)
        tried = None
        if self._expiring(bot.bot_token_expires_at):
            bot = await self._refresh(bot)
            if self._expiring(bot.bot_token_expires_at):
                tried = time.monotonic()
        return Installed(
            acting=acting,
            token=str(bot.bot_token),
            identity=BotIdentity(user_id=bot.bot_user_id or "", bot_id=bot.bot_id or "", team_id=acting.team_id),
            expires_at=bot.bot_token_expires_at,
            refresh_token=bot.bot_refresh_token,
            found_at=time.monotonic(),
            enterprise_id=enterprise_id,
            store_team_id=team_id,
            installed_at=bot.installed_at,
            refresh_tried_at=tried,
        )

    async def _refresh(self, bot: Bot) -> Bot:
        """A new token for one about to expire, saved. Another replica may have refreshed it a moment ago (Slack
        then refuses this refresh token): its token, read from the store, is used if it is fresh."""
        try:
            rotated = await self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=self._refresh_minutes
            )
        except SlackTokenRotationError as e:
            for attempt in range(RACE_READS):  # the winner saves its token a moment after Slack answered it
                latest = await self.store.async_find_bot(
                    enterprise_id=bot.enterprise_id,
                    team_id=bot.team_id,
                    is_enterprise_install=bot.is_enterprise_install,
                )
                if (
                    latest is not None
                    and latest.bot_token != bot.bot_token
                    and not self._expiring(latest.bot_token_expires_at)
                ):
                    return latest
                if attempt + 1 < RACE_READS:
                    await asyncio.sleep(RACE_PAUSE)
            log.error("could not refresh the bot token of workspace %s: %s", bot.team_id or bot.enterprise_id, e)
            if bot.bot_token_expires_at is not None and bot.bot_token_expires_at > time.time():
                return bot  # still valid a while: used, and refreshing is tried again on the next call
            raise NotInstalled(bot.team_id or bot.enterprise_id or "") from None
        if rotated is None:
            return bot
        await self.store.async_save_bot(rotated)
        log.info("refreshed the bot token of workspace %s", bot.team_id or bot.enterprise_id)
        return rotated

    def _saved(self, installation: Installation) -> None:
        for team in (installation.team_id, installation.enterprise_id):
            if team:
                self._cache.pop(team, None)
