"""SlackGrid: several workspaces on one server, one app installed into them by OAuth, each call routed by its token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator, SlackGrid
from bot.emulator.delivery import sign
from tests.conftest import emulator_seed

from .conftest import SIGNING_SECRET, error_of, receiving

# slack_sdk sends the app's credentials to oauth.v2.access with aiohttp.BasicAuth, deprecated since aiohttp 3.14.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

SCOPES = "chat:write,channels:read,commands"
REDIRECT = "http://127.0.0.1:9/slack/oauth_redirect"


class Clock:
    """The grid's clock, stepped by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Grid:
    grid: SlackGrid
    alpha: SlackEmulator
    beta: SlackEmulator  # part of an Enterprise Grid organisation
    clock: Clock


@pytest.fixture
async def two(request: pytest.FixtureRequest) -> AsyncIterator[Grid]:
    clock = Clock()
    grid = SlackGrid(
        signing_secret=SIGNING_SECRET,
        client_id="cid",
        client_secret="csecret",
        clock=clock,
        seed=emulator_seed(request.config),
    )
    grid.redirect_url = REDIRECT
    alpha = grid.add_workspace(team_id="T0ALPHA001", team_domain="alpha", team_name="Alpha")
    beta = grid.add_workspace(team_id="T0BETA0001", team_domain="beta", team_name="Beta", enterprise_id="E0BIGCORP1")
    async with grid:
        yield Grid(grid, alpha, beta, clock)


def web(grid: SlackGrid, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=grid.api_url)


async def code_for(grid: SlackGrid, workspace: SlackEmulator) -> str:
    """An admin of the workspace approves the app on the authorize page: the code the browser is sent back with."""
    grid.installing_as(workspace)
    query = {"client_id": grid.client_id, "scope": SCOPES, "state": "st", "redirect_uri": REDIRECT}
    async with aiohttp.ClientSession() as http:
        answer = await http.get(f"{grid.authorize_url}?{urlencode(query)}", allow_redirects=False)
    assert answer.status == 302
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert params["state"] == ["st"]
    return params["code"][0]


async def access(grid: SlackGrid, code: str, *, secret: str = "csecret", basic: bool = True) -> dict[str, object]:
    """oauth.v2.access with a code: the app's credentials as HTTP Basic auth (slack_sdk's way) or as form fields."""
    client = web(grid)
    if basic:
        answer = await client.oauth_v2_access(client_id="cid", client_secret=secret, code=code, redirect_uri=REDIRECT)
    else:
        form = {"client_id": "cid", "client_secret": secret, "code": code, "redirect_uri": REDIRECT}
        answer = await client.api_call("oauth.v2.access", data=form)
    assert isinstance(answer.data, dict)
    return dict(answer.data)


async def install(grid: SlackGrid, workspace: SlackEmulator) -> str:
    return str((await access(grid, await code_for(grid, workspace)))["access_token"])


async def refresh(grid: SlackGrid, refresh_token: str) -> dict[str, object]:
    answer = await web(grid).oauth_v2_access(
        client_id="cid", client_secret="csecret", grant_type="refresh_token", refresh_token=refresh_token
    )
    assert isinstance(answer.data, dict)
    return dict(answer.data)


# -- installing by OAuth -------------------------------------------------------------------------------------------


async def test_a_code_gives_a_token_whose_auth_test_names_its_own_workspace_and_bot(two: Grid) -> None:
    alpha_answer = await access(two.grid, await code_for(two.grid, two.alpha))
    beta_answer = await access(two.grid, await code_for(two.grid, two.beta))

    assert alpha_answer["team"] == {"id": "T0ALPHA001", "name": "Alpha"}
    assert alpha_answer["app_id"] == beta_answer["app_id"] == two.grid.app_id  # one app, in both (Slack requires it)
    assert alpha_answer["bot_user_id"] == two.alpha.bot_user_id
    assert alpha_answer["token_type"] == "bot"
    assert alpha_answer["enterprise"] is None
    assert alpha_answer["scope"] == "channels:read,chat:write,commands"
    assert beta_answer["enterprise"] == {"id": "E0BIGCORP1", "name": "Beta Org"}
    alpha_auth = await web(two.grid, str(alpha_answer["access_token"])).auth_test()
    beta_auth = await web(two.grid, str(beta_answer["access_token"])).auth_test()
    assert (alpha_auth["team_id"], alpha_auth["user_id"], alpha_auth["bot_id"]) == (
        "T0ALPHA001",
        two.alpha.bot_user_id,
        two.alpha.bot_id,
    )
    assert (beta_auth["team_id"], beta_auth["user_id"], beta_auth["enterprise_id"]) == (
        "T0BETA0001",
        two.beta.bot_user_id,
        "E0BIGCORP1",
    )
    assert alpha_auth["app_id"] == beta_auth["app_id"] == two.grid.app_id
    assert two.alpha.bot_user_id != two.beta.bot_user_id


async def test_before_the_install_no_token_works_in_a_workspace(two: Grid) -> None:
    assert two.grid.token_of(two.alpha) is None
    assert await error_of(web(two.grid, "xoxb-emulator").auth_test()) == "invalid_auth"


async def test_a_token_posts_in_its_own_workspace_and_cannot_name_another_workspaces_channel(two: Grid) -> None:
    token = await install(two.grid, two.alpha)
    await install(two.grid, two.beta)
    alpha_general = two.alpha.add_channel("general", members=[two.alpha.bot_user_id])
    beta_general = two.beta.add_channel("general", members=[two.beta.bot_user_id])
    client = web(two.grid, token)

    await client.chat_postMessage(channel=alpha_general, text="hello alpha")

    assert alpha_general != beta_general
    assert [m.text for m in two.alpha.workspace.channels[alpha_general].messages] == ["hello alpha"]
    assert await error_of(client.chat_postMessage(channel=beta_general, text="hi")) == "channel_not_found"
    assert two.beta.workspace.channels[beta_general].messages == []


async def test_a_code_works_once(two: Grid) -> None:
    code = await code_for(two.grid, two.alpha)
    await access(two.grid, code)

    assert await error_of(access(two.grid, code)) == "invalid_code"


async def test_a_code_expires_after_ten_minutes(two: Grid) -> None:
    code = await code_for(two.grid, two.alpha)
    two.clock.now += 601

    assert await error_of(access(two.grid, code)) == "invalid_code"


async def test_a_wrong_client_secret_is_refused_whichever_way_it_is_sent(two: Grid) -> None:
    code = await code_for(two.grid, two.alpha)

    assert await error_of(access(two.grid, code, secret="wrong")) == "bad_client_secret"
    assert await error_of(access(two.grid, code, secret="wrong", basic=False)) == "bad_client_secret"


async def test_credentials_sent_as_form_fields_work_as_basic_auth_does(two: Grid) -> None:
    answer = await access(two.grid, await code_for(two.grid, two.alpha), basic=False)

    assert (await web(two.grid, str(answer["access_token"])).auth_test())["team_id"] == "T0ALPHA001"


async def test_the_authorize_page_refuses_an_unknown_client_id(two: Grid) -> None:
    two.grid.installing_as(two.alpha)
    async with aiohttp.ClientSession() as http:
        answer = await http.get(f"{two.grid.authorize_url}?client_id=other&scope=chat:write", allow_redirects=False)

    assert answer.status == 400


# -- token rotation ------------------------------------------------------------------------------------------------


async def test_an_expiring_token_is_refused_once_expired_and_a_refresh_gives_a_working_one(two: Grid) -> None:
    two.grid.token_rotation = True
    first = await access(two.grid, await code_for(two.grid, two.alpha))
    assert str(first["access_token"]).startswith("xoxe.xoxb-1-")
    assert str(first["refresh_token"]).startswith("xoxe-1-")
    assert first["expires_in"] == 43200
    two.clock.now += 43200

    expired = await error_of(web(two.grid, str(first["access_token"])).auth_test())
    second = await refresh(two.grid, str(first["refresh_token"]))

    assert expired == "token_expired"
    assert second["token_type"] == "bot"
    assert second["team"] == {"id": "T0ALPHA001", "name": "Alpha"}
    assert second["refresh_token"] != first["refresh_token"]
    assert (await web(two.grid, str(second["access_token"])).auth_test())["team_id"] == "T0ALPHA001"
    assert two.grid.token_of(two.alpha) == second["access_token"]
    assert await error_of(refresh(two.grid, str(first["refresh_token"]))) == "invalid_refresh_token"


async def test_a_refreshed_tokens_predecessor_works_until_its_own_expiry(two: Grid) -> None:
    two.grid.token_rotation = True
    first = await access(two.grid, await code_for(two.grid, two.alpha))

    await refresh(two.grid, str(first["refresh_token"]))

    assert (await web(two.grid, str(first["access_token"])).auth_test())["ok"] is True


async def test_oauth_v2_exchange_turns_a_long_lived_token_into_an_expiring_one(two: Grid) -> None:
    long_lived = await install(two.grid, two.alpha)
    assert long_lived.startswith("xoxb-")
    client = web(two.grid)
    refused = await error_of(client.oauth_v2_exchange(token=long_lived, client_id="cid", client_secret="csecret"))
    two.grid.token_rotation = True  # the app owner turns rotation on

    answer = await client.oauth_v2_exchange(token=long_lived, client_id="cid", client_secret="csecret")

    assert refused == "token_rotation_not_enabled"
    assert str(answer["access_token"]).startswith("xoxe.xoxb-1-")
    assert answer["expires_in"] == 43200
    assert (await web(two.grid, answer["access_token"]).auth_test())["team_id"] == "T0ALPHA001"
    again = client.oauth_v2_exchange(token=long_lived, client_id="cid", client_secret="csecret")
    assert await error_of(again) == "token_already_exchanged"


# -- uninstalling --------------------------------------------------------------------------------------------------


async def test_uninstall_tells_the_bot_and_refuses_that_workspaces_tokens_while_the_other_works(two: Grid) -> None:
    two.grid.token_rotation = True
    first = await access(two.grid, await code_for(two.grid, two.alpha))
    second = await refresh(two.grid, str(first["refresh_token"]))
    beta_token = await install(two.grid, two.beta)

    async with receiving(two.alpha) as bot:
        await two.grid.uninstall(two.alpha)

    kinds = sorted(r.json["event"]["type"] for r in bot.requests)
    assert kinds == ["app_uninstalled", "tokens_revoked"]
    for received in bot.requests:
        stamp = received.headers["X-Slack-Request-Timestamp"]
        assert received.headers["X-Slack-Signature"] == sign(SIGNING_SECRET, stamp, received.body)
        assert received.json["team_id"] == "T0ALPHA001"
    for token in (first["access_token"], second["access_token"]):
        assert await error_of(web(two.grid, str(token)).auth_test()) == "token_revoked"
    assert await error_of(refresh(two.grid, str(second["refresh_token"]))) == "invalid_refresh_token"
    assert (await web(two.grid, beta_token).auth_test())["team_id"] == "T0BETA0001"


# -- what a grid workspace sends the bot ---------------------------------------------------------------------------


async def test_a_command_in_an_enterprise_workspace_names_its_team_and_organisation(two: Grid) -> None:
    await install(two.grid, two.beta)
    person = two.beta.add_user("bea")
    channel = two.beta.add_channel("ops", members=[person, two.beta.bot_user_id])

    async with receiving(two.beta) as bot:
        await two.beta.send_command(person, channel, "/incident", "db down")
        form = bot.requests[0].form
        async with aiohttp.ClientSession() as http:
            await http.post(form["response_url"], json={"text": "on it"})

    assert (form["team_id"], form["enterprise_id"], form["api_app_id"]) == ("T0BETA0001", "E0BIGCORP1", two.grid.app_id)
    assert form["response_url"].startswith(two.grid.url)
    assert [r.payload["text"] for r in two.beta.responses] == ["on it"]


async def test_an_event_in_an_enterprise_workspace_carries_its_team_organisation_and_authorization(two: Grid) -> None:
    await install(two.grid, two.beta)
    person = two.beta.add_user("bea")
    channel = two.beta.add_channel("ops", members=[person, two.beta.bot_user_id])

    async with receiving(two.beta) as bot:
        await two.beta.post_message(person, channel, "anyone there?")

    envelope = bot.requests[0].json
    assert (envelope["team_id"], envelope["enterprise_id"], envelope["api_app_id"]) == (
        "T0BETA0001",
        "E0BIGCORP1",
        two.grid.app_id,
    )
    assert envelope["authorizations"] == [
        {
            "enterprise_id": "E0BIGCORP1",
            "team_id": "T0BETA0001",
            "user_id": two.beta.bot_user_id,
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ]


async def test_a_file_upload_url_takes_the_bytes_for_the_workspace_that_issued_it(two: Grid) -> None:
    token = await install(two.grid, two.alpha)
    two.alpha.grant_scopes(["files:write"])
    channel = two.alpha.add_channel("ops", members=[two.alpha.bot_user_id])

    await web(two.grid, token).files_upload_v2(channel=channel, content="timeline", filename="t.txt")

    assert [f.content for f in two.alpha.workspace.files.values()] == [b"timeline"]
    assert two.beta.workspace.files == {}


async def test_sign_in_with_slack_signs_in_a_person_of_the_workspace_chosen(two: Grid) -> None:
    person = two.beta.add_user("bea", email="bea@beta.example")
    two.grid.sign_in_as(two.beta, person)
    query = {"response_type": "code", "scope": "openid", "client_id": "cid", "redirect_uri": REDIRECT, "state": "s"}
    async with aiohttp.ClientSession() as http:
        page = await http.get(f"{two.grid.sign_in_url}?{urlencode(query)}", allow_redirects=False)
    code = parse_qs(urlsplit(page.headers["Location"]).query)["code"][0]
    client = web(two.grid)

    token = await client.openid_connect_token(
        client_id="cid", client_secret="csecret", code=code, redirect_uri=REDIRECT
    )
    info = await web(two.grid, str(token["access_token"])).openid_connect_userInfo()

    assert (info["sub"], info["https://slack.com/team_id"]) == (person, "T0BETA0001")


async def test_nothing_reaches_the_bot_from_a_workspace_before_the_install_or_after_the_uninstall(two: Grid) -> None:
    person = two.alpha.add_user("ann")
    channel = two.alpha.add_channel("ops", members=[person, two.alpha.bot_user_id])

    async with receiving(two.alpha) as bot:
        await two.alpha.post_message(person, channel, "before")
        with pytest.raises(ValueError, match="not installed"):
            await two.alpha.send_command(person, channel, "/incident")
        await install(two.grid, two.alpha)
        await two.alpha.post_message(person, channel, "installed")
        await two.grid.uninstall(two.alpha)
        await two.alpha.post_message(person, channel, "after")

    seen = [r.json["event"].get("text") or r.json["event"]["type"] for r in bot.requests]
    assert sorted(seen) == ["app_uninstalled", "installed", "tokens_revoked"]
