"""OAuth mode's installations (bot/slack/installations.py) and an uninstalled workspace's data (bot/storage/
workspaces.py), on SQLite and PostgreSQL: slack_sdk's stores in our migrated schema."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.acting import Acting
from bot.emulator import SlackEmulator, SlackGrid
from bot.slack.installations import Installations
from bot.storage import Database, NewIncident

OPENED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def installations(db: Database, *, refresh_minutes: int = 120) -> Installations:
    # No call reaches this client: nothing here is about to expire.
    client = AsyncWebClient(base_url="http://127.0.0.1:9/api/")
    return Installations(db.engine, "client-1", "secret-1", client, refresh_minutes=refresh_minutes)


def installation(team: str, token: str, *, bot_user: str = "UBOT", enterprise: str | None = None) -> Installation:
    return Installation(
        app_id="A1",
        enterprise_id=enterprise,
        team_id=team,
        team_name=f"Team {team}",
        bot_token=token,
        bot_id=f"B{team}",
        bot_user_id=bot_user,
        bot_scopes="chat:write,commands",
        user_id="UADMIN",
        installed_at=time.time(),
    )


async def add_incident(db: Database, team: str) -> str:
    async with db.transaction() as store:
        incident = await store.add(
            NewIncident(
                team_id=team, title="API 500s", description="", severity="sev2", opener_id="U1", opened_at=OPENED
            )
        )
    return incident.public_id


async def test_an_installed_workspace_is_found_with_its_own_token_and_bot(db: Database) -> None:
    found_in = installations(db)
    await found_in.store.async_save(installation("TA", "xoxb-a", bot_user="UBOTA"))
    await found_in.store.async_save(installation("TB", "xoxb-b", bot_user="UBOTB"))

    a = await found_in.find(Acting("TA"))
    b = await found_in.find(Acting("TB"))

    assert a is not None
    assert b is not None
    assert (a.token, a.identity.user_id, a.identity.team_id) == ("xoxb-a", "UBOTA", "TA")
    assert (b.token, b.identity.user_id, b.identity.team_id) == ("xoxb-b", "UBOTB", "TB")
    assert await found_in.find(Acting("TC")) is None


async def test_a_workspace_in_an_enterprise_org_is_found_by_its_team_alone_as_a_job_knows_it(db: Database) -> None:
    found_in = installations(db)
    await found_in.store.async_save(installation("TA", "xoxb-a", enterprise="E1"))

    found = await found_in.find(Acting("TA"))  # a job: the team only; the org is read from `workspaces`

    assert found is not None
    assert found.token == "xoxb-a"


async def test_an_uninstalled_workspace_is_no_longer_served_and_stays_readable_for_the_retention(
    db: Database,
) -> None:
    found_in = installations(db)
    await found_in.store.async_save(installation("TA", "xoxb-a"))
    await found_in.store.async_save(installation("TB", "xoxb-b"))
    assert await found_in.serves("TA")

    await found_in.forget(Acting("TA"))

    assert not await found_in.serves("TA")
    assert await found_in.find(Acting("TA")) is None
    assert await found_in.serves("TB")
    assert await found_in.readable("TA", retention_days=30)
    assert not await found_in.readable("TA", retention_days=0)
    assert not await found_in.readable("TNEVER", retention_days=30)


async def test_installing_again_after_an_uninstall_serves_the_workspace_with_the_new_token(db: Database) -> None:
    found_in = installations(db)
    await found_in.store.async_save(installation("TA", "xoxb-old"))
    await found_in.forget(Acting("TA"))

    await found_in.store.async_save(installation("TA", "xoxb-new"))

    found = await found_in.find(Acting("TA"))
    assert found is not None
    assert found.token == "xoxb-new"
    record = await found_in.record("TA")
    assert record is not None
    assert record.uninstalled_at is None


async def test_deleting_a_workspaces_data_leaves_every_other_workspaces_incidents(db: Database) -> None:
    await add_incident(db, "TA")
    await add_incident(db, "TA")
    kept = await add_incident(db, "TB")

    async with db.unit() as stores:
        deleted = await stores.workspaces.delete_everything("TA")

    assert deleted == 2
    async with db.transaction() as store:
        assert await store.get_by_public_id("INC-2026-001") is not None
        remaining = [i.team_id for i in await store.get_by_public_id(kept)]
    assert remaining == ["TB"]


async def installed_by_oauth(grid: SlackGrid, workspace: SlackEmulator, found_in: Installations) -> None:
    """An admin approves the app (the authorize page's code, exchanged by oauth.v2.access) and it is saved, as Bolt's
    OAuth flow saves it."""
    grid.installing_as(workspace)
    back = "http://127.0.0.1:9/slack/oauth_redirect"  # where the browser would go back to (not followed here)
    query = {"client_id": grid.client_id, "scope": "chat:write,commands", "state": "st", "redirect_uri": back}
    async with aiohttp.ClientSession() as http:
        answer = await http.get(f"{grid.authorize_url}?{urlencode(query)}", allow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    granted = await AsyncWebClient(base_url=grid.api_url).oauth_v2_access(
        client_id=grid.client_id, client_secret=grid.client_secret, code=code, redirect_uri=back
    )
    await found_in.store.async_save(
        Installation(
            app_id=str(granted["app_id"]),
            team_id=workspace.team_id,
            bot_token=str(granted["access_token"]),
            bot_refresh_token=str(granted["refresh_token"]),
            bot_token_expires_in=int(granted["expires_in"]),
            bot_id=workspace.bot_id,
            bot_user_id=str(granted["bot_user_id"]),
            bot_scopes=str(granted["scope"]),
            user_id=str(granted["authed_user"]["id"]),  # type: ignore[index]
        )
    )


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")  # slack_sdk's oauth.v2.access
async def test_two_replicas_refreshing_the_same_token_at_once_both_use_the_one_slack_issued(db: Database) -> None:
    # Tokens live 122 s and are refreshed within 2 minutes of expiring: 2 s after the install, refreshing is due.
    grid = SlackGrid(client_id="client-1", client_secret="secret-1", token_rotation=True, token_seconds=122)
    alpha = grid.add_workspace(team_id="T0ALPHA001", team_domain="alpha", team_name="Alpha")
    async with grid:
        first, second = (
            Installations(db.engine, "client-1", "secret-1", AsyncWebClient(base_url=grid.api_url), refresh_minutes=2)
            for _ in range(2)
        )
        await installed_by_oauth(grid, alpha, first)
        issued = grid.token_of(alpha)
        await asyncio.sleep(2.5)

        found = await asyncio.gather(first.find(Acting("T0ALPHA001")), second.find(Acting("T0ALPHA001")))

        refreshed = [c for c in grid.calls if c.args.get("grant_type") == "refresh_token" and c.ok]
        assert len(refreshed) == 1  # Slack takes a refresh token once: one replica won
        tokens = {f.token for f in found if f is not None}
        assert tokens == {grid.token_of(alpha)}
        assert tokens != {issued}
        works = await AsyncWebClient(token=tokens.pop(), base_url=grid.api_url).auth_test()
        assert works["team_id"] == "T0ALPHA001"


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")  # slack_sdk's oauth.v2.access
async def test_a_token_slack_will_not_refresh_is_used_while_it_works_and_refreshing_is_not_tried_on_every_call(
    db: Database,
) -> None:
    # Tokens live 100 s and are due for a refresh within 2 minutes: due at once. The secret is wrong: Slack refuses.
    grid = SlackGrid(client_id="client-1", client_secret="secret-1", token_rotation=True, token_seconds=100)
    alpha = grid.add_workspace(team_id="T0ALPHA001", team_domain="alpha", team_name="Alpha")
    async with grid:
        found_in = Installations(
            db.engine, "client-1", "wrong-secret", AsyncWebClient(base_url=grid.api_url), refresh_minutes=2
        )
        await installed_by_oauth(grid, alpha, found_in)

        first = await found_in.find(Acting("T0ALPHA001"))
        second = await found_in.find(Acting("T0ALPHA001"))

        tries = [c for c in grid.calls if c.args.get("grant_type") == "refresh_token"]
        assert [c.error for c in tries] == ["bad_client_secret"]  # tried once, not once per call
        assert first is not None
        assert second is not None
        assert first.token == second.token == grid.token_of(alpha)  # the token still works: used meanwhile
