"""SlackGrid.install plays the installing person's browser against a real Bolt app in OAuth mode."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncSay
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator, SlackGrid
from tests.conftest import emulator_seed

from .conftest import SIGNING_SECRET

# slack_sdk sends the app's credentials to oauth.v2.access with aiohttp.BasicAuth, deprecated since aiohttp 3.14.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


class MemoryInstallations(AsyncInstallationStore):
    def __init__(self) -> None:
        self.installations: dict[str | None, Installation] = {}

    async def async_save(self, installation: Installation) -> None:
        self.installations[installation.team_id] = installation

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        installation = self.installations.get(team_id)
        return installation.to_bot() if installation else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        installation = self.installations.get(team_id)
        if installation is None or (user_id is not None and user_id != installation.user_id):
            return None  # this person installed nothing: Bolt then looks up the workspace's installation
        return installation


class MemoryStates(AsyncOAuthStateStore):
    def __init__(self) -> None:
        self.issued: set[str] = set()

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        state = secrets.token_urlsafe(16)
        self.issued.add(state)
        return state

    async def async_consume(self, state: str) -> bool:
        if state in self.issued:
            self.issued.remove(state)
            return True
        return False


@dataclass
class Setup:
    grid: SlackGrid
    alpha: SlackEmulator
    beta: SlackEmulator
    store: MemoryInstallations
    bot_url: str


@pytest.fixture
async def bolt(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    grid = SlackGrid(
        signing_secret=SIGNING_SECRET,
        client_id="cid",
        client_secret="csecret",
        token_rotation=True,
        seed=emulator_seed(request.config),
    )
    alpha = grid.add_workspace(team_id="T0ALPHA001", team_domain="alpha", team_name="Alpha")
    beta = grid.add_workspace(team_id="T0BETA0001", team_domain="beta", team_name="Beta")
    store = MemoryInstallations()
    async with grid:
        app = AsyncApp(
            signing_secret=SIGNING_SECRET,
            client=AsyncWebClient(base_url=grid.api_url),
            # Given to the app too, so that its token rotation refreshes through the app's client (the grid): from
            # oauth_settings alone, Bolt's authorize refreshes with a default client, on slack.com.
            installation_store=store,
            oauth_settings=AsyncOAuthSettings(
                client_id="cid",
                client_secret="csecret",
                scopes=["chat:write", "commands"],
                authorization_url=grid.authorize_url,
                installation_store=store,
                state_store=MemoryStates(),
                install_page_rendering_enabled=getattr(request, "param", True),
            ),
        )

        @app.command("/hello")
        async def hello(ack: AsyncAck, say: AsyncSay, context: AsyncBoltContext) -> None:
            await ack()
            await say(f"hello from {context.bot_user_id} in {context.team_id}")

        runner = web.AppRunner(app.web_app(), access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield Setup(grid, alpha, beta, store, f"http://127.0.0.1:{runner.addresses[0][1]}")
        finally:
            await runner.cleanup()


# The install page: an HTML page with an "Add to Slack" link (Bolt's default), or a redirect to the authorize page.
@pytest.mark.parametrize("bolt", [True, False], indirect=True, ids=["add-to-slack-page", "redirect"])
async def test_installing_through_the_bots_install_page_stores_the_token_the_grid_issued(bolt: Setup) -> None:
    installed = await bolt.grid.install(bolt.alpha, install_url=f"{bolt.bot_url}/slack/install")

    assert installed.status == 200
    assert installed.url.startswith(f"{bolt.bot_url}/slack/oauth_redirect?code=")
    assert installed.token is not None
    assert installed.token == bolt.grid.token_of(bolt.alpha)
    saved = bolt.store.installations["T0ALPHA001"]
    assert saved.bot_token == installed.token
    assert saved.bot_user_id == bolt.alpha.bot_user_id
    assert saved.bot_id == bolt.alpha.bot_id
    assert saved.bot_refresh_token in bolt.alpha.refresh_tokens
    assert saved.bot_scopes == ["chat:write", "commands"]
    assert bolt.alpha.scopes == {"chat:write", "commands"}
    assert "T0BETA0001" not in bolt.store.installations


async def test_a_person_who_denies_the_install_leaves_no_installation(bolt: Setup) -> None:
    installed = await bolt.grid.install(bolt.beta, install_url=f"{bolt.bot_url}/slack/install", approve=False)

    assert "error=access_denied" in installed.url
    assert installed.token is None
    assert bolt.store.installations == {}
    assert bolt.grid.token_of(bolt.beta) is None


async def test_each_installed_workspaces_command_is_answered_with_its_own_token_in_its_own_channel(
    bolt: Setup,
) -> None:
    for workspace in (bolt.alpha, bolt.beta):
        await bolt.grid.install(workspace, install_url=f"{bolt.bot_url}/slack/install")
        workspace.set_request_url(f"{bolt.bot_url}/slack/events")
    alpha_person = bolt.alpha.add_user("ann")
    beta_person = bolt.beta.add_user("ben")
    alpha_ops = bolt.alpha.add_channel("ops", members=[alpha_person, bolt.alpha.bot_user_id])
    beta_ops = bolt.beta.add_channel("ops", members=[beta_person, bolt.beta.bot_user_id])

    await bolt.alpha.send_command(alpha_person, alpha_ops, "/hello")
    await bolt.beta.send_command(beta_person, beta_ops, "/hello")

    await bolt.beta.wait_for(lambda: bool(bolt.beta.workspace.channels[beta_ops].messages))
    await bolt.alpha.wait_for(lambda: bool(bolt.alpha.workspace.channels[alpha_ops].messages))
    alpha_said = [m.text for m in bolt.alpha.workspace.channels[alpha_ops].messages]
    beta_said = [m.text for m in bolt.beta.workspace.channels[beta_ops].messages]
    assert alpha_said == [f"hello from {bolt.alpha.bot_user_id} in T0ALPHA001"]
    assert beta_said == [f"hello from {bolt.beta.bot_user_id} in T0BETA0001"]
    posts = [c.args["channel"] for w in (bolt.alpha, bolt.beta) for c in w.calls_to("chat.postMessage")]
    assert posts == [alpha_ops, beta_ops]


async def test_bolt_rotates_a_token_near_its_expiry_and_answers_with_the_new_one(bolt: Setup) -> None:
    bolt.grid.token_seconds = 3600  # within Bolt's 120 minutes: the next request refreshes it first
    installed = await bolt.grid.install(bolt.alpha, install_url=f"{bolt.bot_url}/slack/install")
    bolt.alpha.set_request_url(f"{bolt.bot_url}/slack/events")
    person = bolt.alpha.add_user("ann")
    ops = bolt.alpha.add_channel("ops", members=[person, bolt.alpha.bot_user_id])

    await bolt.alpha.send_command(person, ops, "/hello")

    await bolt.alpha.wait_for(lambda: bool(bolt.alpha.workspace.channels[ops].messages))
    await bolt.alpha.wait_idle()  # the echo of the bot's message reaches Bolt, which may rotate once more
    rotated = bolt.grid.token_of(bolt.alpha)
    assert rotated != installed.token
    assert bolt.store.installations["T0ALPHA001"].bot_token == rotated
    refreshes = [c for c in bolt.grid.calls if c.method == "oauth.v2.access" and c.args.get("grant_type")]
    assert refreshes  # one per request Bolt authorizes (an hour-long token is always within its 120 minutes)
    assert all(c.ok for c in refreshes)
