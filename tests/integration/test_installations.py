"""OAuth mode's installations (bot/slack/installations.py) and an uninstalled workspace's data (bot/storage/
workspaces.py), on SQLite and PostgreSQL: slack_sdk's stores in our migrated schema."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.acting import Acting
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
