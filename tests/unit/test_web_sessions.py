"""The web view's signed cookies: what they carry back, and what is not taken (tampered, expired, another key)."""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

from bot.web.sessions import Signer


def test_a_session_cookie_gives_back_the_session_it_was_made_for() -> None:
    signer = Signer("key", session_seconds=3600)
    session, cookie = signer.new_session("U0ALICE", "T0TEAM", "Alice Adams")

    assert signer.session(cookie) == session
    assert len(session.csrf) >= 32


def test_a_tampered_cookie_or_one_signed_with_another_key_is_no_session() -> None:
    signer = Signer("key", session_seconds=3600)
    _, cookie = signer.new_session("U0ALICE", "T0TEAM", "Alice Adams")
    forged = URLSafeTimedSerializer("key", salt="something else").dumps({"u": "U0EVE", "t": "T0TEAM"})

    assert signer.session(cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]) is None
    assert Signer("another key", session_seconds=3600).session(cookie) is None
    assert signer.session(forged) is None
    assert signer.session("") is None


def test_a_session_older_than_its_lifetime_is_no_session() -> None:
    old = Signer("key", session_seconds=-1)  # every cookie is already too old for it
    _, cookie = old.new_session("U0ALICE", "T0TEAM", "Alice Adams")

    assert old.session(cookie) is None


def test_a_sign_in_cookie_is_no_session_cookie() -> None:
    signer = Signer("key", session_seconds=3600)
    _, signin = signer.new_signin()

    assert signer.session(signin) is None
    assert signer.signin(signin) is not None
