"""users.conversations: the conversations the bot (or a given user) is in, by type, with pagination
(arguments, scopes and errors from Slack's OpenAPI spec: the method has no file in methods/)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import GENERIC_SCOPES, People, error_of


async def test_without_arguments_it_lists_the_public_channels_the_bot_is_a_member_of(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    emu.add_channel("secret", members=[emu.bot_user_id], is_private=True)

    response = await client.users_conversations()

    assert [c["id"] for c in response["channels"]] == [people.general]
    assert response["response_metadata"]["next_cursor"] == ""


async def test_each_channel_is_shaped_like_conversations_info_without_is_member_and_num_members(
    client: AsyncWebClient, people: People
) -> None:
    info = (await client.conversations_info(channel=people.general))["channel"]

    [listed] = (await client.users_conversations())["channels"]

    assert listed == {k: v for k, v in info.items() if k != "is_member"}
    assert {"id", "name", "is_channel", "is_group", "is_private", "created", "creator", "is_archived"} <= set(listed)
    assert listed["name_normalized"] == "general"


async def test_types_mixes_public_and_private_channels_and_ims() -> None:
    async with SlackEmulator(scopes=GENERIC_SCOPES | {"im:read"}) as emu:
        client = AsyncWebClient(token=emu.bot_token, base_url=emu.api_url)
        alice = emu.add_user("alice")
        general = emu.add_channel("general", members=[alice, emu.bot_user_id])
        secret = emu.add_channel("secret", members=[emu.bot_user_id, alice], is_private=True)
        await client.chat_postMessage(channel=alice, text="a DM opens an im")

        default = await client.users_conversations()
        mixed = await client.users_conversations(types="public_channel,private_channel,im")

    kinds = {c["id"]: (c["is_channel"], c["is_group"], c["is_im"]) for c in mixed["channels"]}
    assert [c["id"] for c in default["channels"]] == [general]
    assert kinds[general] == (True, False, False)
    assert kinds[secret] == (False, True, False)
    assert [flags for flags in kinds.values() if flags[2]] == [(False, False, True)]


async def test_exclude_archived_leaves_out_archived_channels(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    old = emu.add_channel("old-incident", members=[emu.bot_user_id], is_archived=True)

    everything = await client.users_conversations()
    current = await client.users_conversations(exclude_archived=True)

    assert old in [c["id"] for c in everything["channels"]]
    assert [c["id"] for c in current["channels"]] == [people.general]


async def test_pages_follow_next_cursor_until_it_is_empty(emu: SlackEmulator, client: AsyncWebClient) -> None:
    created = [emu.add_channel(f"inc-{i}", members=[emu.bot_user_id]) for i in range(5)]
    seen: list[str] = []
    cursors: list[str] = []

    cursor = None
    while True:
        page = await client.users_conversations(limit=2, cursor=cursor)
        seen += [c["id"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        cursors.append(cursor)
        if not cursor:
            break

    assert seen == created
    assert len(cursors) == 3


async def test_the_default_page_holds_100_channels(emu: SlackEmulator, client: AsyncWebClient) -> None:
    for i in range(101):
        emu.add_channel(f"c-{i}", members=[emu.bot_user_id])

    response = await client.users_conversations()

    assert len(response["channels"]) == 100
    assert response["response_metadata"]["next_cursor"] != ""


@pytest.mark.parametrize("limit", ["1001", "-1", "many"])
async def test_a_limit_over_1000_or_not_a_count_is_refused_with_invalid_limit(
    client: AsyncWebClient, limit: str
) -> None:
    assert await error_of(client.api_call("users.conversations", params={"limit": limit})) == "invalid_limit"


async def test_an_unknown_type_is_refused_with_invalid_types(client: AsyncWebClient) -> None:
    assert await error_of(client.users_conversations(types="public_channel,shared_channel")) == "invalid_types"


async def test_a_forged_cursor_is_refused_with_invalid_cursor(client: AsyncWebClient) -> None:
    assert await error_of(client.users_conversations(cursor="bm90LWEtY3Vyc29y")) == "invalid_cursor"


async def test_with_a_user_it_lists_that_users_public_channels_whether_or_not_the_bot_is_in_them(
    client: AsyncWebClient, people: People
) -> None:
    response = await client.users_conversations(user=people.alice)

    assert [c["id"] for c in response["channels"]] == [people.general, people.random]


async def test_with_a_user_private_channels_are_only_those_the_bot_shares(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    shared = emu.add_channel("shared-secret", members=[people.alice, emu.bot_user_id], is_private=True)
    emu.add_channel("alices-secret", members=[people.alice], is_private=True)

    response = await client.users_conversations(user=people.alice, types="private_channel")

    assert [c["id"] for c in response["channels"]] == [shared]


async def test_an_unknown_user_is_in_no_conversation(client: AsyncWebClient, people: People) -> None:
    response = await client.users_conversations(user="U404")

    assert response["channels"] == []


async def test_public_channels_need_channels_read() -> None:
    async with SlackEmulator(scopes=["groups:read"]) as narrow:
        client = AsyncWebClient(token=narrow.bot_token, base_url=narrow.api_url)

        only_private = await client.users_conversations(types="private_channel")
        error = await error_of(client.users_conversations())

    assert only_private["ok"] is True
    assert error == "missing_scope"


async def test_private_channels_need_groups_read_and_the_error_names_it() -> None:
    async with SlackEmulator(scopes=["channels:read"]) as narrow:
        client = AsyncWebClient(token=narrow.bot_token, base_url=narrow.api_url)

        with pytest.raises(SlackApiError) as failure:
            await client.users_conversations(types="public_channel,private_channel")

    assert (failure.value.response["error"], failure.value.response["needed"]) == ("missing_scope", "groups:read")
