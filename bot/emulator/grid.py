"""`SlackGrid`: several Slack workspaces served by ONE loopback server, and one app installed into them by OAuth.

Usage::

    grid = SlackGrid(client_id="cid", client_secret="csecret")
    alpha = grid.add_workspace(team_id="T0ALPHA001", team_domain="alpha", team_name="Alpha")
    beta = grid.add_workspace(team_id="T0BETA0001", team_domain="beta", team_name="Beta")
    async with grid:
        alpha.set_request_url(bot_url + "/slack/events")
        installed = await grid.install(alpha, install_url=bot_url + "/slack/install")
        client = AsyncWebClient(token=grid.token_of(alpha), base_url=grid.api_url)

Each workspace is a `SlackEmulator` running inside the grid (no server of its own; bot/emulator/server.py
`host_in`), so everything a test does in one (send_command, post_message, react, click, submit_view, shortcuts,
uninstall, wait_for, ...) works per workspace; their ids never collide (each has its own `id_space`). The app has one
app id everywhere; each workspace has its own bot user and bot id.

The grid's server answers:
- `/api/oauth.v2.access` (a code, or grant_type=refresh_token) and `/api/oauth.v2.exchange`, as Slack does;
- `/api/<method>`: the workspace whose bot token the call carries answers it (an unknown token: invalid_auth);
  a workspace refuses its revoked tokens (token_revoked) and expired ones (token_expired, by the grid's `clock`);
- `/oauth/v2/authorize`: the installing person's browser page (`install()` plays that browser);
- response URLs and file upload URLs, for the workspace that issued them;
- Sign in with Slack (bot/emulator/openid.py), for the workspace chosen with `sign_in_as`.

HTTP mode only: Socket Mode (apps.connections.open, app-level tokens) is not served by the grid.
"""

from __future__ import annotations

import hmac
import html
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp import web

from bot.emulator.context import ApiError
from bot.emulator.delivery import Delivery
from bot.emulator.loopback import Listener
from bot.emulator.methods import METHODS, read_args, request_token
from bot.emulator.openid import html_page, redirect_back, with_app_credentials
from bot.emulator.server import SlackEmulator
from bot.emulator.workspace import JSON, ApiCall

CODE_SECONDS = 600  # an OAuth code is good for ten minutes, once
# The errors the grid answers oauth.v2.access with (each one Slack documents for it: tests/emulator/
# test_against_slack_spec.py). oauth.v2.exchange has no method doc beside the repository; its codes are the web docs'.
OAUTH_ACCESS_ERRORS = frozenset(
    {
        "invalid_client_id",
        "bad_client_secret",
        "invalid_grant_type",
        "invalid_code",
        "bad_redirect_uri",
        "invalid_refresh_token",
    }
)
TOKEN_SECONDS = 12 * 3600  # an expiring (rotated) bot token lasts twelve hours
_ID_SPACES = string.digits[1:] + string.ascii_uppercase  # the default single workspace uses "0"
_AUTHORIZE_LINK = re.compile(r"""href=["']([^"']*/oauth/v2/authorize[^"']*)["']""")


@dataclass(frozen=True)
class Installed:
    """What the installing person's browser ended on: the bot's redirect page (status and text), its URL, and the
    bot token the grid issued for that install (None: no code was exchanged)."""

    status: int
    text: str
    url: str
    token: str | None


@dataclass
class _Browser:
    """The person at the authorize page: who, in which workspace, whether they approve, where they are sent."""

    workspace: SlackEmulator
    installer: str
    approve: bool
    redirect_url: str | None
    token: str | None = None


@dataclass
class _Code:
    workspace: SlackEmulator
    installer: str
    redirect_uri: str | None
    issued: float
    browser: _Browser | None = None


@dataclass
class _Issued:
    """Where a bot token or refresh token issued by OAuth belongs: its workspace, and who installed the app."""

    workspace: SlackEmulator
    installer: str
    exchanged: bool = False  # a long-lived token swapped by oauth.v2.exchange


class SlackGrid:
    def __init__(
        self,
        *,
        signing_secret: str = "s3cret",
        client_id: str = "cid",
        client_secret: str = "csecret",
        token_rotation: bool = False,
        token_seconds: int = TOKEN_SECONDS,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        app_id: str | None = None,
    ) -> None:
        """`token_rotation`: the app has token rotation turned on: installs and oauth.v2.exchange give expiring
        tokens (`token_seconds`) with refresh tokens (it may be switched on later, as an app owner would).
        `clock` (epoch seconds) decides when codes and tokens expire: a test may step it. `seed`: the first
        workspace's delivery seed (the next ones get seed+1, ...; random if None)."""
        self.signing_secret = signing_secret
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_rotation = token_rotation
        self.token_seconds = token_seconds
        self.clock = clock
        self.seed = seed if seed is not None else secrets.randbelow(2**32)
        self.app_id = app_id or "A0" + "".join(secrets.choice(string.digits + string.ascii_uppercase) for _ in range(9))
        self.redirect_url: str | None = None  # the app's configured redirect URL (when authorize names none)
        self.workspaces: list[SlackEmulator] = []
        self.calls: list[ApiCall] = []  # oauth.* calls, and calls no workspace answered
        self._listener = Listener()
        self._started = False
        self._codes: dict[str, _Code] = {}
        self._issued: dict[str, _Issued] = {}  # every bot token and refresh token issued
        self._browser: _Browser | None = None
        self._signing_in: SlackEmulator | None = None

    # -- workspaces -----------------------------------------------------------------------------------------
    def add_workspace(
        self,
        *,
        team_id: str,
        team_domain: str,
        team_name: str,
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        **options: Any,
    ) -> SlackEmulator:
        """A workspace the app is not installed in yet: its bot user exists, no token works. `options`: any other
        SlackEmulator argument (events, delivery_timeout, ordered, seed, ...). Add workspaces before start()."""
        if self._started:
            raise RuntimeError("add workspaces before the grid starts")
        if any(w.team_id == team_id for w in self.workspaces):
            raise ValueError(f"a workspace {team_id} already exists")
        if len(self.workspaces) >= len(_ID_SPACES):
            raise ValueError(f"a grid holds at most {len(_ID_SPACES)} workspaces")
        options.setdefault("seed", self.seed + len(self.workspaces))
        options.setdefault("scopes", ())  # granted by installing
        workspace = SlackEmulator(
            signing_secret=self.signing_secret,
            team_id=team_id,
            team_domain=team_domain,
            team_name=team_name,
            client_id=self.client_id,
            client_secret=self.client_secret,
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name or (enterprise_id and f"{team_name} Org"),
            app_id=self.app_id,
            id_space=_ID_SPACES[len(self.workspaces)],
            **options,
        )
        workspace.host_in(lambda: self.url, self.clock)
        self.workspaces.append(workspace)
        return workspace

    def token_of(self, workspace: SlackEmulator) -> str | None:
        """The workspace's newest bot token (it changes on rotation; None before the first install)."""
        return workspace.bot_token or None

    def sign_in_as(self, workspace: SlackEmulator, user_id: str | None) -> None:
        """Sign in with Slack: the browser sent to /openid/connect/authorize is this person of `workspace` (None:
        asked to pick one of its people)."""
        workspace.sign_in_as(user_id)
        self._signing_in = workspace

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/oauth.v2.access", self._on_oauth_access)
        app.router.add_route("*", "/api/oauth.v2.exchange", self._on_oauth_exchange)
        app.router.add_route("*", "/api/openid.connect.token", self._on_openid_token)
        app.router.add_route("*", "/api/openid.connect.userInfo", self._on_openid_user_info)
        app.router.add_get("/openid/connect/authorize", self._on_openid_authorize)
        app.router.add_get("/oauth/v2/authorize", self._on_authorize)
        app.router.add_route("*", "/api/{method}", self._on_api)
        app.router.add_post("/response/{token}", self._on_response_url)
        app.router.add_post("/upload/{file_id}", self._on_upload)
        await self._listener.open(app, host, port, shutdown_timeout=1.0)
        self._started = True
        for workspace in self.workspaces:
            await workspace.open_hosted()

    async def stop(self) -> None:
        for workspace in self.workspaces:
            await workspace.close_hosted()
        await self._listener.close()

    async def __aenter__(self) -> SlackGrid:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return self._listener.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def authorize_url(self) -> str:
        """The OAuth install page (AsyncOAuthSettings' authorization_url)."""
        return f"{self.url}/oauth/v2/authorize"

    @property
    def sign_in_url(self) -> str:
        """Sign in with Slack's authorize page (for the workspace chosen with `sign_in_as`)."""
        return f"{self.url}/openid/connect/authorize"

    # -- installing and uninstalling ------------------------------------------------------------------------
    async def install(
        self,
        workspace: SlackEmulator,
        install_url: str,
        *,
        installer: str | None = None,
        approve: bool = True,
        redirect_url: str | None = None,
    ) -> Installed:
        """The installing person's browser: GET `install_url` (the bot's install page), follow its redirect or its
        "Add to Slack" link to the authorize page, approve (or deny: approve=False) as `installer` (default: an
        admin of the workspace, created if there is none), follow the redirect back to the bot with its cookies.

        Where the authorize page sends the browser: the redirect_uri it was given, else `redirect_url`, else the
        grid's `redirect_url`, else `oauth_redirect` next to the install URL (Bolt's default /slack/oauth_redirect).
        """
        back = redirect_url or self.redirect_url or urljoin(install_url, "oauth_redirect")
        self.installing_as(workspace, installer, approve=approve, redirect_url=back)
        browser = self._browser
        assert browser is not None
        origin = urlsplit(install_url)
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=f"{origin.scheme}://{origin.netloc}")
        try:
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                status, text, url = await _get(http, install_url)
                link = _AUTHORIZE_LINK.search(text)
                if status == 200 and link is not None and not url.startswith(self.authorize_url):
                    status, text, url = await _get(http, urljoin(url, html.unescape(link.group(1))))
        finally:
            self._browser = None
        return Installed(status=status, text=text, url=url, token=browser.token)

    def installing_as(
        self,
        workspace: SlackEmulator,
        installer: str | None = None,
        *,
        approve: bool = True,
        redirect_url: str | None = None,
    ) -> str:
        """Who is at the authorize page from now on (install() sets this itself): `installer` (default: an admin of
        the workspace, created if there is none) approves or denies; the browser goes back to the redirect_uri the
        page was given, else `redirect_url`, else the grid's `redirect_url`. Returns the installer's id."""
        person = installer or self._admin_of(workspace)
        if person not in workspace.workspace.users:
            raise ValueError(f"{person} is not a person of {workspace.team_id}")
        self._browser = _Browser(workspace, person, approve, redirect_url or self.redirect_url)
        return person

    async def uninstall(self, workspace: SlackEmulator) -> list[Delivery | None]:
        """The app is uninstalled from `workspace`: app_uninstalled and tokens_revoked are delivered to the bot
        (signed), and every token of the app there (rotated and refresh tokens too) is refused from then on."""
        return await workspace.uninstall()

    def _admin_of(self, workspace: SlackEmulator) -> str:
        users = workspace.workspace.users.values()
        admin = next((u for u in users if u.is_admin and not u.is_bot and not u.deleted), None)
        if admin is not None:
            return admin.id
        return workspace.add_user("installer", real_name=f"{workspace.workspace.team_name} Admin", is_admin=True)

    # -- the authorize page (a browser's) -------------------------------------------------------------------
    async def _on_authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.client_id:
            return html_page("Unknown app", "<p>This app's client_id is not known here.</p>", status=400)
        browser = self._browser
        if browser is None:
            return html_page("Not signed in", "<p>No one is installing an app (SlackGrid.install).</p>", status=400)
        redirect = query.get("redirect_uri") or browser.redirect_url
        if not redirect:
            return html_page("No redirect URL", "<p>The app has no redirect URL.</p>", status=400)
        state = query.get("state", "")
        if not browser.approve:
            return redirect_back(redirect, {"error": "access_denied", "state": state})
        scopes = [s for s in re.split(r"[,\s]+", query.get("scope", "")) if s]
        browser.workspace.grant_scopes(scopes)
        code = f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**13)}.{secrets.token_hex(32)}"
        self._codes[code] = _Code(
            browser.workspace, browser.installer, query.get("redirect_uri"), self.clock(), browser=browser
        )
        return redirect_back(redirect, {"code": code, "state": state})

    # -- oauth.v2.access / oauth.v2.exchange ----------------------------------------------------------------
    async def _on_oauth_access(self, request: web.Request) -> web.Response:
        args = await _credentials(request)
        body = self._client_refusal(args) or self._access(args)
        return self._answer("oauth.v2.access", args, body)

    async def _on_oauth_exchange(self, request: web.Request) -> web.Response:
        args = await _credentials(request)
        body = self._client_refusal(args) or self._exchange(request_token(request, args))
        return self._answer("oauth.v2.exchange", args, body)

    def _answer(self, method: str, args: dict[str, Any], body: JSON) -> web.Response:
        if method == "oauth.v2.access" and not body.get("ok"):
            assert body.get("error") in OAUTH_ACCESS_ERRORS, f"oauth.v2.access answered an undeclared {body}"
        secret = ("client_secret", "code", "refresh_token", "token")
        shown = {k: v for k, v in args.items() if k not in secret}
        self.calls.append(ApiCall(method, shown, bool(body.get("ok")), body.get("error"), 200, body))
        return web.json_response(body)

    def _client_refusal(self, args: dict[str, Any]) -> JSON | None:
        if args.get("client_id") != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if not hmac.compare_digest(str(args.get("client_secret") or ""), self.client_secret):
            return {"ok": False, "error": "bad_client_secret"}
        return None

    def _access(self, args: dict[str, Any]) -> JSON:
        grant_type = args.get("grant_type") or "authorization_code"
        if grant_type == "refresh_token":
            return self._refresh(str(args.get("refresh_token") or ""))
        if grant_type != "authorization_code":
            return {"ok": False, "error": "invalid_grant_type"}
        code = self._codes.pop(str(args.get("code") or ""), None)  # one use
        if code is None or self.clock() - code.issued > CODE_SECONDS:
            return {"ok": False, "error": "invalid_code"}
        if code.redirect_uri and args.get("redirect_uri") != code.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        workspace = code.workspace
        if self.token_rotation:
            answer = self._expiring(workspace, code.installer)
        else:
            current = workspace.bot_token
            token = current if current and workspace.token_works(current) else _bot_token()
            if token != current:
                workspace.grant_token(token)
                self._issued[token] = _Issued(workspace, code.installer)
            answer = self._installation(workspace, token, code.installer)
        if code.browser is not None:
            code.browser.token = str(answer["access_token"])
        return answer

    def _refresh(self, refresh_token: str) -> JSON:
        issued = self._issued.get(refresh_token)
        if issued is None or refresh_token not in issued.workspace.refresh_tokens:
            return {"ok": False, "error": "invalid_refresh_token"}
        issued.workspace.refresh_tokens.discard(refresh_token)  # a refresh token works once
        return self._expiring(issued.workspace, issued.installer)

    def _exchange(self, token: str) -> JSON:
        if not self.token_rotation:
            return {"ok": False, "error": "token_rotation_not_enabled"}
        issued = self._issued.get(token)
        if issued is None or not token.startswith("xoxb-"):
            return {"ok": False, "error": "invalid_token"}
        if issued.exchanged:
            return {"ok": False, "error": "token_already_exchanged"}
        if not issued.workspace.token_works(token):
            return {"ok": False, "error": "authorization_not_found"}
        issued.exchanged = True
        return self._expiring(issued.workspace, issued.installer)

    def _expiring(self, workspace: SlackEmulator, installer: str) -> JSON:
        """A new expiring bot token and its refresh token (an earlier token works until its own expiry)."""
        token = "xoxe." + _bot_token(version="1")
        refresh = f"xoxe-1-{secrets.token_hex(48)}"
        workspace.grant_token(token, self.clock() + self.token_seconds)
        workspace.refresh_tokens.add(refresh)
        self._issued[token] = self._issued[refresh] = _Issued(workspace, installer)
        return {
            **self._installation(workspace, token, installer),
            "expires_in": self.token_seconds,
            "refresh_token": refresh,
        }

    def _installation(self, workspace: SlackEmulator, token: str, installer: str) -> JSON:
        ws = workspace.workspace
        enterprise = {"id": ws.enterprise_id, "name": ws.enterprise_name} if ws.enterprise_id else None
        return {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": installer},
            "scope": ",".join(sorted(workspace.scopes)),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": workspace.bot_user_id,
            "team": {"id": ws.team_id, "name": ws.team_name},
            "enterprise": enterprise,
            "is_enterprise_install": False,
        }

    # -- routing to the workspaces --------------------------------------------------------------------------
    async def _on_api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        try:
            args = await read_args(request)  # read again by the workspace: aiohttp keeps the body
        except ApiError:
            args = {}  # broken JSON: the token may still be in the header, and the workspace answers invalid_json
        token = request_token(request, args)
        workspace = next((w for w in self.workspaces if token and w.holds_token(token)), None)
        if workspace is not None:
            return await workspace.handle_api(request)
        if name not in METHODS:
            body: JSON = {"ok": False, "error": "unknown_method", "req_method": name}
        else:
            body = {"ok": False, "error": "invalid_auth" if token else "not_authed"}
        return self._answer(name, args, body)

    async def _on_response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["token"]
        workspace = next((w for w in self.workspaces if w.issued_response_url(key)), None)
        if workspace is None:
            return web.Response(status=404, text="no_such_response_url")
        return await workspace.handle_response_url(request)

    async def _on_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        workspace = next((w for w in self.workspaces if file_id in w.workspace.files), None)
        if workspace is None:
            return web.Response(status=404, text="file_not_found")
        return await workspace.handle_upload(request)

    def _openid_of(self, code_or_token: str) -> SlackEmulator:
        """The workspace whose Sign in with Slack handed out this code or token (else the one signing in)."""
        found = next((w for w in self.workspaces if code_or_token and w.openid.issued(code_or_token)), None)
        return found or self._signing_in or self.workspaces[0]

    async def _on_openid_token(self, request: web.Request) -> web.Response:
        args = await _args_or_none(request)
        return await self._openid_of(str(args.get("code") or "")).openid.token(request)

    async def _on_openid_user_info(self, request: web.Request) -> web.Response:
        args = await _args_or_none(request)
        return await self._openid_of(request_token(request, args)).openid.user_info(request)

    async def _on_openid_authorize(self, request: web.Request) -> web.Response:
        workspace = self._signing_in or (self.workspaces[0] if len(self.workspaces) == 1 else None)
        if workspace is None:
            return html_page("Sign in", "<p>Which workspace? (SlackGrid.sign_in_as)</p>", status=400)
        return await workspace.openid.authorize(request)


async def _args_or_none(request: web.Request) -> dict[str, Any]:
    """The call's arguments ({} when its JSON body is broken)."""
    try:
        return await read_args(request)
    except ApiError:
        return {}


async def _credentials(request: web.Request) -> dict[str, Any]:
    """The call's arguments, with the app's credentials taken from HTTP Basic auth when sent that way."""
    return with_app_credentials(request, await _args_or_none(request))


def _bot_token(version: str = "") -> str:
    """A bot token shaped like Slack's: xoxb-<team number>-<bot number>-<secret> (xoxb-1-… when it expires)."""
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))
    numbers = f"{secrets.randbelow(10**13):013d}-{secrets.randbelow(10**13):013d}"
    return f"xoxb-{version}-{numbers}-{secret}" if version else f"xoxb-{numbers}-{secret}"


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    """A browser's GET, following redirects: (status, page text, final URL)."""
    async with http.get(url) as answer:
        return answer.status, await answer.text(), str(answer.url)
