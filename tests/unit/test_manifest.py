"""The Slack app manifest asks for every scope the bot's Web API calls need, per Slack's own method docs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from bot.config import Config
from bot.slack import gateway
from bot.slack.gateway import WEB_API_METHODS
from bot.slack.manifest import BOT_EVENTS, build_manifest

SLACK_SPEC = Path(__file__).resolve().parents[3] / "shared" / "slack"
GATEWAY = Path(gateway.__file__)


def method_spec(method: str) -> dict[str, object]:
    """The method's docs; for a method they do not cover (users.conversations), its scopes from Slack's OpenAPI."""
    path = SLACK_SPEC / "methods" / f"{method}.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    openapi = SLACK_SPEC / "slack_web_openapi_v2.json"
    if not openapi.exists():
        pytest.skip(f"Slack's method docs are not at {SLACK_SPEC}")
    operations = json.loads(openapi.read_text())["paths"].get(f"/{method}")
    assert operations, f"{method} is in neither Slack's method docs nor its OpenAPI spec"
    scopes = {s for op in operations.values() for sec in op.get("security", []) for s in sec.get("slackAuth", [])}
    return {"scope": {"bot": sorted(scopes)}}


def called_methods() -> set[str]:
    """Every method name the gateway passes to `_call(...)`, read from its source."""
    tree = ast.parse(GATEWAY.read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "_call"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


@pytest.fixture
def manifest() -> dict[str, object]:
    return build_manifest(Config(path=Path("app.yaml")))


def test_every_method_the_gateway_calls_is_declared_with_its_scopes() -> None:
    assert called_methods() <= set(WEB_API_METHODS)


@pytest.mark.parametrize("method", sorted(WEB_API_METHODS))
def test_the_manifest_grants_a_scope_slack_requires_for_each_method(method: str, manifest: dict[str, object]) -> None:
    spec = method_spec(method)
    scope = spec.get("scope")
    accepted = set((scope.get("bot") if isinstance(scope, dict) else None) or [])
    granted = set(manifest["oauth_config"]["scopes"]["bot"])  # type: ignore[index]

    assert not accepted or accepted & granted, f"{method} needs one of {sorted(accepted)}"


def test_private_incident_channels_are_covered_too(manifest: dict[str, object]) -> None:
    granted = set(manifest["oauth_config"]["scopes"]["bot"])  # type: ignore[index]

    assert {"groups:write", "groups:write.invites", "groups:write.topic", "groups:history"} <= granted


def test_the_manifest_has_the_command_events_interactivity_and_socket_mode(manifest: dict[str, object]) -> None:
    features = manifest["features"]
    settings = manifest["settings"]

    assert features["slash_commands"][0]["command"] == "/incident"  # type: ignore[index]
    assert features["slash_commands"][0]["should_escape"] is True  # type: ignore[index]
    assert set(settings["event_subscriptions"]["bot_events"]) == set(BOT_EVENTS)  # type: ignore[index]
    assert settings["interactivity"]["is_enabled"] is True  # type: ignore[index]
    assert settings["socket_mode_enabled"] is True  # type: ignore[index]
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]  # type: ignore[index]


def test_with_a_request_url_the_manifest_is_for_http_mode() -> None:
    manifest = build_manifest(Config(path=Path("app.yaml")), request_url="https://bot.example.com/slack/events")

    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["event_subscriptions"]["request_url"] == "https://bot.example.com/slack/events"
    assert manifest["settings"]["interactivity"]["request_url"] == "https://bot.example.com/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == "https://bot.example.com/slack/events"


@pytest.mark.parametrize("event", sorted(BOT_EVENTS))
def test_each_subscribed_event_has_a_scope_slack_requires_for_it(event: str, manifest: dict[str, object]) -> None:
    path = SLACK_SPEC / "events" / f"{event}.json"
    if not path.exists():
        pytest.skip(f"Slack's event docs are not at {SLACK_SPEC}")
    needed = set(json.loads(path.read_text())["scopes"])
    granted = set(manifest["oauth_config"]["scopes"]["bot"])  # type: ignore[index]

    assert needed & granted, f"{event} needs one of {sorted(needed)}"


def test_the_manifest_is_valid_yaml_when_printed(manifest: dict[str, object]) -> None:
    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest
