"""The Slack app manifest follows app.yaml: every scope Slack requires for what the configured bot does (per Slack's
own method and event docs), and nothing the configured behaviour does not need."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config import Config, load_config
from bot.emulator import DEFAULT_EVENTS, DEFAULT_SCOPES, SlackEmulator
from bot.slack import gateway
from bot.slack.events import CAPTURED_EVENTS
from bot.slack.gateway import WEB_API_METHODS
from bot.slack.manifest import EVENT_SCOPES, bot_events, bot_scopes, build_manifest, method_scopes

ROOT = Path(__file__).resolve().parents[2]
# Slack's reference sits beside the repository (or beside the folder of its worktrees).
SLACK_SPEC = next(
    (d / "shared" / "slack" for d in ROOT.parents if (d / "shared" / "slack").is_dir()),
    ROOT.parent / "shared" / "slack",
)
GATEWAY = Path(gateway.__file__)

PRIVATE_BY_REACTION = """
command: /incident
channel:
  private: true
severities:
  - name: sev1
    label: SEV1
    description: Outage
default_severity: sev1
announcement_channel: C0ANNOUNCE
timeline:
  confirm: reaction
"""


def shipped() -> Config:
    return load_config(ROOT / "app.yaml", {})


def private_by_reaction(tmp_path: Path) -> Config:
    path = tmp_path / "app.yaml"
    path.write_text(textwrap.dedent(PRIVATE_BY_REACTION), encoding="utf-8")
    return load_config(path, {})


@pytest.fixture(params=["shipped", "private-by-reaction"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    return shipped() if request.param == "shipped" else private_by_reaction(tmp_path)


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


def accepted_by_slack(method: str) -> set[str]:
    scope = method_spec(method).get("scope")
    return set((scope.get("bot") if isinstance(scope, dict) else None) or [])


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


def granted(manifest: dict[str, object]) -> set[str]:
    return set(manifest["oauth_config"]["scopes"]["bot"])  # type: ignore[index]


def subscribed(manifest: dict[str, object]) -> set[str]:
    return set(manifest["settings"]["event_subscriptions"]["bot_events"])  # type: ignore[index]


def test_every_method_the_gateway_calls_is_declared_with_the_scopes_slack_accepts_for_it() -> None:
    assert called_methods() <= set(WEB_API_METHODS)


def test_every_method_the_gateway_calls_is_covered_whatever_app_yaml_says_except_confirming_by_reaction(
    tmp_path: Path,
) -> None:
    assert called_methods() - {"reactions.add"} <= set(method_scopes(shipped()))
    assert called_methods() <= set(method_scopes(private_by_reaction(tmp_path)))


def test_the_scopes_granted_for_a_method_are_among_those_the_gateway_declares_for_it(config: Config) -> None:
    for method, scopes in method_scopes(config).items():
        assert set(scopes) <= set(WEB_API_METHODS[method]), method


def test_the_manifest_grants_a_scope_slack_requires_for_each_method_the_configured_bot_calls(config: Config) -> None:
    manifest = build_manifest(config)

    for method in method_scopes(config):
        accepted = accepted_by_slack(method)
        assert not accepted or accepted & granted(manifest), f"{method} needs one of {sorted(accepted)}"


def test_public_incident_channels_ask_for_no_private_channel_scope_or_event_and_no_reacting() -> None:
    manifest = build_manifest(shipped())

    assert not {s for s in granted(manifest) if s.startswith("groups:")}
    assert "message.groups" not in subscribed(manifest)
    assert "reactions:write" not in granted(manifest)  # confirm: ephemeral
    assert "chat:write.public" not in granted(manifest)  # no announcement channel
    assert {"channels:manage", "channels:write.invites", "channels:write.topic", "channels:history"} <= granted(
        manifest
    )
    assert subscribed(manifest) == {
        "message.channels",
        "reaction_added",
        "reaction_removed",
        "channel_rename",
        "channel_archive",
        "tokens_revoked",
        "app_uninstalled",
    }


def test_private_incident_channels_confirmed_by_reaction_and_announced_ask_for_exactly_that(tmp_path: Path) -> None:
    manifest = build_manifest(private_by_reaction(tmp_path))

    assert {"groups:write", "groups:write.invites", "groups:write.topic", "groups:history", "groups:read"} <= granted(
        manifest
    )
    assert not {"channels:manage", "channels:write.invites", "channels:write.topic", "channels:read"} & granted(
        manifest
    )
    assert {"reactions:write", "chat:write.public", "channels:history"} <= granted(manifest)
    assert subscribed(manifest) == {
        "message.groups",
        "reaction_added",
        "reaction_removed",
        "group_rename",
        "group_archive",
        "tokens_revoked",
        "app_uninstalled",
    }


def test_the_manifest_subscribes_only_to_events_the_bot_handles(config: Config) -> None:
    lifecycle = {
        "channel_rename",
        "channel_archive",
        "group_rename",
        "group_archive",
        "tokens_revoked",
        "app_uninstalled",
    }
    handled = {event.split(".")[0] for event in bot_events(config)} - lifecycle

    assert handled == set(CAPTURED_EVENTS)
    assert not {"member_joined_channel", "member_left_channel"} & set(bot_events(config))


@pytest.mark.parametrize("event", sorted(EVENT_SCOPES))
def test_each_event_the_bot_may_subscribe_to_has_a_scope_slack_requires_for_it(event: str) -> None:
    path = SLACK_SPEC / "events" / f"{event}.json"
    if not path.exists():
        pytest.skip(f"Slack's reference has no documentation of the {event} event ({path} is absent)")
    needed = set(json.loads(path.read_text())["scopes"])

    if not needed:  # tokens_revoked, app_uninstalled: sent to every app
        assert EVENT_SCOPES[event] == ()
    else:
        assert needed & set(EVENT_SCOPES[event]), f"{event} needs one of {sorted(needed)}"


def test_the_manifest_has_the_command_events_interactivity_and_socket_mode() -> None:
    manifest = build_manifest(shipped())
    features = manifest["features"]
    settings = manifest["settings"]

    assert features["slash_commands"][0]["command"] == "/incident"
    assert features["slash_commands"][0]["should_escape"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert "commands" in granted(manifest)


def test_with_a_request_url_the_manifest_is_for_http_mode() -> None:
    manifest = build_manifest(shipped(), request_url="https://bot.example.com/slack/events")

    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["event_subscriptions"]["request_url"] == "https://bot.example.com/slack/events"
    assert manifest["settings"]["interactivity"]["request_url"] == "https://bot.example.com/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == "https://bot.example.com/slack/events"


def test_with_an_oauth_redirect_url_the_manifest_lists_it_for_installs_into_many_workspaces() -> None:
    manifest = build_manifest(
        shipped(),
        request_url="https://bot.example.com/slack/events",
        oauth_redirect_url="https://bot.example.com/slack/oauth_redirect",
        token_rotation=True,
    )

    assert manifest["oauth_config"]["redirect_urls"] == ["https://bot.example.com/slack/oauth_redirect"]
    assert manifest["settings"]["token_rotation_enabled"] is True


def test_incident_bot_manifest_takes_the_oauth_redirect_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "manifest",
            "--request-url",
            "https://bot.example.com/slack/events",
            "--oauth-redirect-url",
            "https://bot.example.com/slack/oauth_redirect",
        ],
        environ={"INCIDENT_BOT_CONFIG": str(Path(__file__).resolve().parents[2] / "app.yaml")},
    )

    assert status == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["oauth_config"]["redirect_urls"] == ["https://bot.example.com/slack/oauth_redirect"]
    assert printed["settings"]["token_rotation_enabled"] is False


def test_the_manifest_is_valid_yaml_when_printed() -> None:
    manifest = build_manifest(shipped())

    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest


def test_incident_bot_manifest_prints_the_manifest_of_the_app_yaml_it_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private_by_reaction(tmp_path)

    code = main(["manifest"], {"INCIDENT_BOT_CONFIG": str(tmp_path / "app.yaml")})

    printed = yaml.safe_load(capsys.readouterr().out)
    assert code == 0
    assert printed == build_manifest(private_by_reaction(tmp_path))


def test_the_emulator_grants_by_default_what_the_manifest_of_the_shipped_app_yaml_asks_for() -> None:
    assert set(DEFAULT_SCOPES) == set(bot_scopes(shipped()))
    assert set(DEFAULT_EVENTS) == set(bot_events(shipped()))
    assert SlackEmulator().scopes == DEFAULT_SCOPES


async def test_installing_the_app_from_a_manifest_grants_its_scopes_and_events(tmp_path: Path) -> None:
    emulator = SlackEmulator()

    emulator.install(build_manifest(private_by_reaction(tmp_path)))

    assert emulator.scopes == frozenset(bot_scopes(private_by_reaction(tmp_path)))
    assert emulator.events == frozenset(bot_events(private_by_reaction(tmp_path)))
