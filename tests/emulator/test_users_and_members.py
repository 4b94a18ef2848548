"""users.info's account flags (deleted, is_bot, is_app_user), deactivated accounts, and conversations.members
(errors from methods/conversations.members.json)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People, error_of


async def test_users_info_answers_deleted_is_bot_and_is_app_user_for_a_person(
    client: AsyncWebClient, people: People
) -> None:
    user = (await client.users_info(user=people.alice))["user"]

    assert (user["deleted"], user["is_bot"], user["is_app_user"]) == (False, False, False)


async def test_users_info_answers_the_bots_own_user_as_a_bot_of_its_app(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    user = (await client.users_info(user=emu.bot_user_id))["user"]

    assert (user["deleted"], user["is_bot"], user["is_app_user"]) == (False, True, False)
    assert user["profile"]["bot_id"] == emu.bot_id
    assert user["profile"]["api_app_id"] == emu.app_id


async def test_users_info_answers_another_integrations_bot_user_as_a_bot(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    pager = emu.add_user("pagerbot", is_bot=True)

    user = (await client.users_info(user=pager))["user"]

    assert (user["is_bot"], user["is_app_user"]) == (True, False)
    assert user["profile"]["bot_id"].startswith("B")


async def test_a_deactivated_user_is_answered_as_deleted(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    emu.deactivate_user(people.bob)

    user = (await client.users_info(user=people.bob))["user"]

    assert user["deleted"] is True
    assert user["id"] == people.bob


async def test_a_deactivated_user_leaves_every_channel_public_and_private(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    secret = emu.add_channel("secret", members=[people.bob, emu.bot_user_id], is_private=True)

    emu.deactivate_user(people.bob)

    general = await client.conversations_members(channel=people.general)
    private = await client.conversations_members(channel=secret)
    assert people.bob not in general["members"]
    assert private["members"] == [emu.bot_user_id]
    assert (await client.users_conversations(user=people.bob, types="public_channel,private_channel"))["channels"] == []


async def test_a_deactivated_user_can_no_longer_post_run_commands_or_react(emu: SlackEmulator, people: People) -> None:
    message = await emu.post_message(people.alice, people.general, "before")
    emu.deactivate_user(people.alice)

    with pytest.raises(ValueError, match="deactivated"):
        await emu.post_message(people.alice, people.general, "after")
    with pytest.raises(ValueError, match="deactivated"):
        await emu.send_command(people.alice, people.general, "/incident", "declare")
    with pytest.raises(ValueError, match="deactivated"):
        await emu.react(people.alice, people.general, message.ts, "eyes")
    assert [m.text for m in emu.workspace.channels[people.general].messages] == ["before"]


async def test_inviting_a_deactivated_user_is_refused_with_user_not_found(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    emu.deactivate_user(people.bob)

    assert await error_of(client.conversations_invite(channel=people.general, users=people.bob)) == "user_not_found"


def test_the_bots_own_user_cannot_be_deactivated(emu: SlackEmulator) -> None:
    with pytest.raises(ValueError, match="bot user"):
        emu.deactivate_user(emu.bot_user_id)


def test_a_deactivated_user_cannot_be_put_in_a_new_channel(emu: SlackEmulator, people: People) -> None:
    emu.deactivate_user(people.bob)

    with pytest.raises(ValueError, match="deactivated"):
        emu.add_channel("later", members=[people.bob])


async def test_members_of_a_private_channel_the_bot_is_in_are_listed(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    secret = emu.add_channel("secret", members=[people.alice, emu.bot_user_id], is_private=True)

    response = await client.conversations_members(channel=secret)

    assert sorted(response["members"]) == sorted([people.alice, emu.bot_user_id])


async def test_members_of_a_private_channel_the_bot_is_not_in_are_refused_with_channel_not_found(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    secret = emu.add_channel("alices-secret", members=[people.alice], is_private=True)

    assert await error_of(client.conversations_members(channel=secret)) == "channel_not_found"


async def test_members_of_a_public_channel_the_bot_is_not_in_are_listed(client: AsyncWebClient, people: People) -> None:
    response = await client.conversations_members(channel=people.random)

    assert response["members"] == [people.alice]


async def test_members_of_an_unknown_channel_are_refused_with_channel_not_found(client: AsyncWebClient) -> None:
    assert await error_of(client.conversations_members(channel="C404")) == "channel_not_found"


@pytest.mark.parametrize("limit", ["-5", "lots"])
async def test_members_with_a_limit_that_is_not_a_count_are_refused_with_invalid_limit(
    client: AsyncWebClient, people: People, limit: str
) -> None:
    params = {"channel": people.general, "limit": limit}

    assert await error_of(client.api_call("conversations.members", params=params)) == "invalid_limit"


async def test_members_of_a_private_channel_need_groups_read() -> None:
    async with SlackEmulator(scopes=["channels:read"]) as narrow:
        client = AsyncWebClient(token=narrow.bot_token, base_url=narrow.api_url)
        secret = narrow.add_channel("secret", members=[narrow.bot_user_id], is_private=True)
        public = narrow.add_channel("public", members=[narrow.bot_user_id])

        listed = await client.conversations_members(channel=public)
        with pytest.raises(SlackApiError) as failure:
            await client.conversations_members(channel=secret)

    assert listed["members"] == [narrow.bot_user_id]
    assert (failure.value.response["error"], failure.value.response["needed"]) == ("missing_scope", "groups:read")
