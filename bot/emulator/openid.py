"""Sign in with Slack (OpenID Connect), as the emulator plays it: the authorize page a browser is sent to
(`/openid/connect/authorize`, a web page on slack.com), `openid.connect.token` and `openid.connect.userInfo`.

The authorize page signs in the emulator's "current user" of the browser (`SlackEmulator.sign_in_as`), or, when
none is set, shows the workspace's people to pick one (a `user` query parameter). Codes are single-use and expire
after ten minutes; ID tokens are JWTs signed HS256 with the client secret, with Slack's documented claims.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import html
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from bot.emulator.methods import read_args
from bot.emulator.workspace import JSON, User, Workspace

CODE_SECONDS = 600
TOKEN_SECONDS = 12 * 3600
ISSUER = "https://slack.com"


@dataclass
class _Grant:
    user_id: str
    client_id: str
    redirect_uri: str | None
    nonce: str | None
    issued: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_hs256(claims: JSON, key: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


class OpenIdProvider:
    def __init__(
        self,
        workspace: Workspace,
        *,
        client_id: str,
        client_secret: str,
        record: Callable[[str, dict[str, Any], JSON], None],
    ) -> None:
        self.workspace = workspace
        self.client_id = client_id
        self.client_secret = client_secret
        self.current_user: str | None = None  # whom the authorize page signs in without asking
        self._record = record
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (user, expires)

    def issued(self, code_or_token: str) -> bool:
        """This provider handed out the code (not yet used) or access token."""
        return code_or_token in self._codes or code_or_token in self._tokens

    # -- the authorize page (a browser's) --------------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return html_page("Unknown app", "<p>This app's client_id is not known here.</p>", status=400)
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.netloc:
            return html_page("Bad redirect", "<p>redirect_uri must be an http(s) URL.</p>", status=400)
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return redirect_back(redirect_uri, {"error": "invalid_scope", "state": query.get("state", "")})
        chosen = query.get("user") or self.current_user
        user = self.workspace.users.get(chosen) if chosen else None
        if user is None or user.deleted or user.is_bot:
            return self._chooser(request)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(user.id, self.client_id, redirect_uri, query.get("nonce"), time.monotonic())
        return redirect_back(redirect_uri, {"code": code, "state": query.get("state", "")})

    def _chooser(self, request: web.Request) -> web.Response:
        people = [u for u in self.workspace.users.values() if not u.is_bot and not u.deleted]
        items = "".join(
            f'<li><a href="{html.escape(_with(request, user=u.id))}">{html.escape(u.real_name)} '
            f"({html.escape(u.name)})</a></li>"
            for u in people
        )
        return html_page(f"Sign in to {html.escape(self.workspace.team_name)}", f"<p>Sign in as:</p><ul>{items}</ul>")

    # -- the Web API -------------------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        args = with_app_credentials(request, await read_args(request))
        body = self._token(args)
        self._record("openid.connect.token", {k: v for k, v in args.items() if k != "client_secret"}, body)
        return web.json_response(body)

    def _token(self, args: dict[str, Any]) -> JSON:
        if args.get("client_id") != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if not hmac.compare_digest(str(args.get("client_secret") or ""), self.client_secret):
            return {"ok": False, "error": "bad_client_secret"}
        grant = self._codes.pop(str(args.get("code") or ""), None)  # single use
        if grant is None or time.monotonic() - grant.issued > CODE_SECONDS:
            return {"ok": False, "error": "invalid_code"}
        if grant.redirect_uri and args.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        user = self.workspace.users[grant.user_id]
        access = f"xoxp-openid-{secrets.token_hex(16)}"
        self._tokens[access] = (user.id, time.monotonic() + TOKEN_SECONDS)
        now = int(time.time())
        claims: JSON = {
            "iss": ISSUER,
            "sub": user.id,
            "aud": grant.client_id,
            "exp": now + TOKEN_SECONDS,
            "iat": now,
            "auth_time": now,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **self._identity(user),
        }
        return {
            "ok": True,
            "access_token": access,
            "token_type": "Bearer",
            "id_token": jwt_hs256(claims, self.client_secret),
        }

    async def user_info(self, request: web.Request) -> web.Response:
        args = await read_args(request)
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else str(args.get("token") or "")
        known = self._tokens.get(token)
        body: JSON
        if not token:
            body = {"ok": False, "error": "not_authed"}
        elif known is None or known[1] < time.monotonic():
            body = {"ok": False, "error": "invalid_auth"}
        else:
            user = self.workspace.users[known[0]]
            body = {"ok": True, "sub": user.id, **self._identity(user)}
        self._record("openid.connect.userInfo", {k: v for k, v in args.items() if k != "token"}, body)
        return web.json_response(body)

    def _identity(self, user: User) -> JSON:
        ws = self.workspace
        return {
            "https://slack.com/user_id": user.id,
            "https://slack.com/team_id": user.team_id,  # another workspace's, for a person shared in from it
            "https://slack.com/team_name": ws.team_name,
            "https://slack.com/team_domain": ws.team_domain,
            "email": user.email or f"{user.name}@{ws.team_domain}.example",
            "email_verified": True,
            "name": user.real_name,
            "given_name": user.real_name.split(" ")[0],
            "locale": "en-US",
        }


def _with(request: web.Request, **extra: str) -> str:
    return f"{request.path}?{urlencode({**request.query, **extra})}"


def with_app_credentials(request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
    """`args` with the app's client_id and client_secret, which may come as HTTP Basic auth instead (oauth.v2.access,
    openid.connect.token: slack_sdk sends them so)."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        with contextlib.suppress(ValueError, UnicodeDecodeError, binascii.Error):
            client_id, _, client_secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            args.setdefault("client_id", client_id)
            args.setdefault("client_secret", client_secret)
    return args


def redirect_back(redirect_uri: str, params: dict[str, str]) -> web.Response:
    """A browser sent back to the app's redirect URL with `params` added to its query."""
    parts = urlsplit(redirect_uri)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    raise web.HTTPFound(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))


def html_page(title: str, body: str, status: int = 200) -> web.Response:
    """One of Slack's pages, as a browser sees it (a title and a paragraph or two)."""
    text = f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
    return web.Response(text=text, status=status, content_type="text/html")
