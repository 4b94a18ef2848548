"""Signed cookies: the session of a signed-in person, and the short-lived state of a sign-in under way.

Signed (itsdangerous, HMAC-SHA1 with a key derived per purpose), not encrypted: they hold only Slack IDs, a name and
random tokens. The key is INCIDENT_BOT_WEB_SECRET, or SLACK_SIGNING_SECRET when that is not set.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "incident_bot_session"
SIGNIN_COOKIE = "incident_bot_signin"
SIGNIN_SECONDS = 600  # a sign-in must come back from Slack within ten minutes


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    team_id: str
    name: str
    csrf: str  # the token every POST of this session carries
    sid: str  # this session's own id (membership answers are cached per session)


@dataclass(frozen=True, slots=True)
class SignIn:
    state: str
    nonce: str


class Signer:
    def __init__(self, secret: str, session_seconds: int) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="incident-bot.web.session")
        self._signins = URLSafeTimedSerializer(secret, salt="incident-bot.web.signin")
        self.session_seconds = session_seconds

    def new_session(self, user_id: str, team_id: str, name: str) -> tuple[Session, str]:
        session = Session(user_id, team_id, name, csrf=secrets.token_urlsafe(32), sid=secrets.token_urlsafe(16))
        value = self._sessions.dumps(
            {"u": session.user_id, "t": session.team_id, "n": session.name, "c": session.csrf, "s": session.sid}
        )
        return session, value

    def session(self, cookie: str | None) -> Session | None:
        data = _loads(self._sessions, cookie, self.session_seconds)
        if data is None:
            return None
        try:
            return Session(str(data["u"]), str(data["t"]), str(data["n"]), str(data["c"]), str(data["s"]))
        except KeyError:
            return None

    def new_signin(self) -> tuple[SignIn, str]:
        signin = SignIn(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24))
        return signin, self._signins.dumps({"state": signin.state, "nonce": signin.nonce})

    def signin(self, cookie: str | None) -> SignIn | None:
        data = _loads(self._signins, cookie, SIGNIN_SECONDS)
        if data is None or not isinstance(data.get("state"), str) or not isinstance(data.get("nonce"), str):
            return None
        return SignIn(state=data["state"], nonce=data["nonce"])


def same(given: str | None, expected: str) -> bool:
    """A token compared in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _loads(serializer: URLSafeTimedSerializer, cookie: str | None, max_age: int) -> dict[str, Any] | None:
    if not cookie:
        return None
    try:
        data = serializer.loads(cookie, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return None
    return data if isinstance(data, dict) else None
