"""Sign in with Slack as the emulator plays it: the authorize page, openid.connect.token, openid.connect.userInfo."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People

REDIRECT = "http://127.0.0.1:9/web/oauth/callback"


async def authorize(emu: SlackEmulator, **extra: str) -> aiohttp.ClientResponse:
    query = {
        "response_type": "code",
        "scope": "openid profile email",
        "client_id": emu.openid.client_id,
        "state": "the-state",
        "nonce": "the-nonce",
        "redirect_uri": REDIRECT,
        **extra,
    }
    async with aiohttp.ClientSession() as http:
        answer = await http.get(f"{emu.authorize_url}?{urlencode(query)}", allow_redirects=False)
        await answer.read()
        return answer


async def code_for(emu: SlackEmulator, user: str) -> str:
    emu.sign_in_as(user)
    answer = await authorize(emu)
    assert answer.status == 302
    back = urlsplit(answer.headers["Location"])
    params = parse_qs(back.query)
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    assert params["state"] == ["the-state"]
    return params["code"][0]


async def exchange(emu: SlackEmulator, code: str, secret: str | None = None) -> dict[str, object]:
    client = AsyncWebClient(token=None, base_url=emu.api_url)
    answer = await client.api_call(
        "openid.connect.token",
        data={
            "client_id": emu.openid.client_id,
            "client_secret": secret or emu.openid.client_secret,
            "code": code,
            "redirect_uri": REDIRECT,
        },
    )
    return dict(answer.data) if isinstance(answer.data, dict) else {}


def claims(id_token: str, key: str) -> dict[str, object]:
    header, payload, signature = id_token.split(".")
    expected = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_the_authorize_page_signs_in_the_current_user_and_the_code_gives_a_signed_id_token(
    emu: SlackEmulator, people: People
) -> None:
    code = await code_for(emu, people.alice)

    answer = await exchange(emu, code)

    assert answer["ok"] is True
    assert str(answer["access_token"]).startswith("xoxp-")
    seen = claims(str(answer["id_token"]), emu.openid.client_secret)
    assert seen["sub"] == people.alice
    assert seen["https://slack.com/user_id"] == people.alice
    assert seen["https://slack.com/team_id"] == emu.team_id
    assert (seen["nonce"], seen["aud"], seen["email"], seen["name"]) == (
        "the-nonce",
        emu.openid.client_id,
        "alice@example.com",
        "Alice Adams",
    )


async def test_a_code_is_good_for_one_exchange_only(emu: SlackEmulator, people: People) -> None:
    code = await code_for(emu, people.alice)

    first = await exchange(emu, code)
    with pytest.raises(SlackApiError) as again:
        await exchange(emu, code)

    assert first["ok"] is True
    assert again.value.response["error"] == "invalid_code"


async def test_a_wrong_client_secret_is_refused(emu: SlackEmulator, people: People) -> None:
    code = await code_for(emu, people.alice)

    with pytest.raises(SlackApiError) as refused:
        await exchange(emu, code, secret="guessed")

    assert refused.value.response["error"] == "bad_client_secret"


async def test_user_info_says_who_the_access_token_belongs_to(emu: SlackEmulator, people: People) -> None:
    token = str((await exchange(emu, await code_for(emu, people.bob)))["access_token"])

    info = await AsyncWebClient(token=token, base_url=emu.api_url).openid_connect_userInfo()
    with pytest.raises(SlackApiError) as unknown:
        await AsyncWebClient(token="xoxp-made-up", base_url=emu.api_url).openid_connect_userInfo()

    assert (info["sub"], info["https://slack.com/user_id"], info["name"]) == (people.bob, people.bob, "Bob Brown")
    assert info["https://slack.com/team_id"] == emu.team_id
    assert unknown.value.response["error"] == "invalid_auth"
    assert [c.method for c in emu.calls if c.method.startswith("openid.")] == [
        "openid.connect.token",
        "openid.connect.userInfo",
        "openid.connect.userInfo",
    ]


async def test_without_a_current_user_the_authorize_page_offers_the_workspace_people(
    emu: SlackEmulator, people: People
) -> None:
    async with aiohttp.ClientSession() as http:
        query = {"response_type": "code", "scope": "openid", "client_id": emu.openid.client_id, "state": "s"}
        query["redirect_uri"] = REDIRECT
        async with http.get(f"{emu.authorize_url}?{urlencode(query)}", allow_redirects=False) as page:
            text = await page.text()
            status = page.status

    assert status == 200
    assert "Alice Adams" in text
    assert "Bob Brown" in text
    assert f"user={people.alice}" in text


async def test_an_unknown_client_id_gets_no_code(emu: SlackEmulator, people: People) -> None:
    emu.sign_in_as(people.alice)

    answer = await authorize(emu, client_id="someone-else")

    assert answer.status == 400
    assert "Location" not in answer.headers
