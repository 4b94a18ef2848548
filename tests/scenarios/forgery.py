"""Requests as an attacker would craft them: Slack's own payloads with fields changed, correctly signed (as if the
signing secret had leaked, or Slack had been tricked): the bot must still trust no ID a person could choose."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bot.emulator import Delivery, SlackEmulator
from tests.conftest import SIGNING_SECRET

FORM = "application/x-www-form-urlencoded"


def signed(body: bytes, content_type: str) -> dict[str, str]:
    """Headers Slack would send with this exact body (signed over the bytes, whatever they are)."""
    now = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{now}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": now, "X-Slack-Signature": f"v0={digest}"}


def payload_of(delivery: Delivery) -> dict[str, Any]:
    """The interactivity payload an earlier delivery carried."""
    form = dict(parse_qsl(delivery.request_body.decode()))
    return dict(json.loads(form["payload"]))


async def send_altered(
    emulator: SlackEmulator, delivery: Delivery, change: Callable[[dict[str, Any]], None]
) -> Delivery:
    """Send an earlier interaction again, with `change` applied to its payload, signed."""
    payload = payload_of(delivery)
    change(payload)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return await emulator.deliver_raw(body, FORM, signed(body, FORM))
