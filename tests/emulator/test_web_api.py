"""The Web API transport: where arguments come from, tokens, error and rate-limit answers (notes §0)."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People

BOT = {"Authorization": "Bearer xoxb-emulator"}


async def test_arguments_in_the_url_query_string_of_a_post_with_an_empty_body_are_used(emu: SlackEmulator) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emu.api_url}conversations.create?name=from-query&is_private=1",
            headers={**BOT, "Content-Type": "application/x-www-form-urlencoded"},
        ) as response,
    ):
        body = await response.json()

    assert body["ok"] is True
    assert body["channel"]["name"] == "from-query"
    assert body["channel"]["is_private"] is True


async def test_arguments_in_a_form_body_are_used_and_json_strings_in_it_are_decoded(
    emu: SlackEmulator, people: People
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*form*"}}]
    form = {"channel": people.general, "text": "fallback", "blocks": json.dumps(blocks)}

    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.api_url}chat.postMessage", data=form, headers=BOT) as response,
    ):
        body = await response.json()

    assert body["ok"] is True
    assert body["message"]["blocks"][0]["text"]["text"] == "*form*"


async def test_arguments_in_a_json_body_are_used_and_unknown_ones_like_team_id_are_ignored(
    emu: SlackEmulator, people: People
) -> None:
    payload = {"channel": people.general, "text": "hi", "team_id": "T111"}

    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.api_url}chat.postMessage", json=payload, headers=BOT) as response,
    ):
        body = await response.json()

    assert body["ok"] is True
    assert emu.calls_to("chat.postMessage")[0].args == payload


async def test_a_get_with_query_arguments_works_like_a_post(emu: SlackEmulator, people: People) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emu.api_url}users.info", params={"user": people.alice}, headers=BOT) as response,
    ):
        body = await response.json()

    assert body["user"]["real_name"] == "Alice Adams"


async def test_the_token_may_also_arrive_as_a_token_argument(emu: SlackEmulator) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.api_url}auth.test", data={"token": emu.bot_token}) as response,
    ):
        body = await response.json()

    assert body["ok"] is True


async def test_a_call_without_a_token_is_refused_with_not_authed(emu: SlackEmulator) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{emu.api_url}auth.test") as response:
        body = await response.json()

    assert response.status == 200
    assert body == {"ok": False, "error": "not_authed"}


async def test_a_call_with_an_unknown_token_is_refused_with_invalid_auth(emu: SlackEmulator) -> None:
    client = AsyncWebClient(token="xoxb-someone-else", base_url=emu.api_url)

    with pytest.raises(SlackApiError) as failure:
        await client.auth_test()

    assert failure.value.response["error"] == "invalid_auth"


async def test_apps_connections_open_refuses_the_bot_token_and_bot_methods_refuse_the_app_token(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    app_client = AsyncWebClient(token=emu.app_token, base_url=emu.api_url)

    with pytest.raises(SlackApiError) as with_bot_token:
        await client.apps_connections_open(app_token=emu.bot_token)
    with pytest.raises(SlackApiError) as with_app_token:
        await app_client.auth_test()

    assert with_bot_token.value.response["error"] == "not_allowed_token_type"
    assert with_app_token.value.response["error"] == "not_allowed_token_type"


async def test_an_unknown_method_is_answered_with_unknown_method(emu: SlackEmulator, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as failure:
        await client.api_call("chat.sendCarrierPigeon", params={"channel": "C1"})

    assert failure.value.response["error"] == "unknown_method"
    assert failure.value.response.status_code == 200


async def test_every_answer_is_application_json(emu: SlackEmulator) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{emu.api_url}nope") as response:
        content_type = response.content_type

    assert content_type == "application/json"


async def test_a_missing_required_argument_without_a_specific_code_is_invalid_arguments_with_a_message(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as failure:
        await client.api_call("views.publish", json={"view": {"type": "home", "blocks": []}})

    assert failure.value.response["error"] == "invalid_arguments"
    assert failure.value.response["response_metadata"]["messages"] == ["[ERROR] missing required field: user_id"]


async def test_a_missing_channel_for_chat_post_message_is_channel_not_found(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as failure:
        await client.api_call("chat.postMessage", json={"text": "hi"})

    assert failure.value.response["error"] == "channel_not_found"


async def test_a_malformed_json_body_is_invalid_json(emu: SlackEmulator) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emu.api_url}chat.postMessage", data=b"{not json", headers={**BOT, "Content-Type": "application/json"}
        ) as response,
    ):
        body = await response.json()

    assert body["error"] == "invalid_json"


async def test_a_missing_scope_is_refused_with_needed_and_provided() -> None:
    async with SlackEmulator(scopes=["chat:write"]) as narrow:
        narrow_client = AsyncWebClient(token=narrow.bot_token, base_url=narrow.api_url)

        with pytest.raises(SlackApiError) as failure:
            await narrow_client.conversations_create(name="needs-manage")

    assert failure.value.response["error"] == "missing_scope"
    assert "channels:manage" in failure.value.response["needed"]
    assert failure.value.response["provided"] == "chat:write"


async def test_fail_next_answers_the_given_error_for_the_given_number_of_calls(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.fail_next("conversations.create", error="restricted_action", times=1)

    with pytest.raises(SlackApiError) as failure:
        await client.conversations_create(name="first-try")
    second = await client.conversations_create(name="second-try")

    assert failure.value.response.status_code == 200
    assert failure.value.response["error"] == "restricted_action"
    assert second["ok"] is True
    assert [c.ok for c in emu.calls_to("conversations.create")] == [False, True]


async def test_rate_limit_next_answers_429_with_an_integer_retry_after(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    emu.rate_limit_next("chat.postMessage", retry_after=7)

    with pytest.raises(SlackApiError) as failure:
        await client.chat_postMessage(channel=people.general, text="hi")

    assert failure.value.response.status_code == 429
    assert failure.value.response.headers["Retry-After"] == "7"
    assert failure.value.response["error"] == "ratelimited"


async def test_a_rate_limited_call_succeeds_after_the_client_waits_retry_after(
    emu: SlackEmulator, people: People
) -> None:
    emu.rate_limit_next("chat.postMessage", retry_after=1)
    retrying = AsyncWebClient(
        token=emu.bot_token,
        base_url=emu.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    started = time.monotonic()

    response = await retrying.chat_postMessage(channel=people.general, text="eventually")

    assert response["ok"] is True
    assert [c.http_status for c in emu.calls_to("chat.postMessage")] == [429, 200]
    assert time.monotonic() - started >= 1.0


async def test_every_call_is_recorded_with_its_outcome(emu: SlackEmulator, client: AsyncWebClient) -> None:
    await client.auth_test()
    with pytest.raises(SlackApiError):
        await client.users_info(user="U404")

    assert [(c.method, c.ok, c.error, c.http_status) for c in emu.calls] == [
        ("auth.test", True, None, 200),
        ("users.info", False, "user_not_found", 200),
    ]


async def test_auth_test_answers_with_the_bot_identity(emu: SlackEmulator, client: AsyncWebClient) -> None:
    response = await client.auth_test()

    assert response["user_id"] == emu.bot_user_id
    assert response["bot_id"] == emu.bot_id
    assert response["team_id"] == emu.team_id
    assert response["url"] == "https://emulator.slack.com/"
    assert "chat:write" in response.headers["X-OAuth-Scopes"]
