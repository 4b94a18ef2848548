"""app.yaml's `web` section and the web view's secrets: what is read, what is refused (naming file, line and key)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, WebSettings, load_config, require_web_credentials
from bot.slack.manifest import build_manifest
from bot.web.view import SLACK_AUTHORIZE_URL, authorize_url
from tests.conftest import ROOT

MINIMAL = """\
command: /incident
severities:
  - name: sev1
    label: SEV1 · Critical
    description: Customer-facing outage
default_severity: sev1
"""
CLIENT = {"SLACK_CLIENT_ID": "123.456", "SLACK_CLIENT_SECRET": "client-secret", "SLACK_SIGNING_SECRET": "signing"}


def write(tmp_path: Path, web: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(MINIMAL + textwrap.dedent(web), encoding="utf-8")
    return path


def test_the_shipped_app_yaml_documents_the_web_view_and_leaves_it_off() -> None:
    config = load_config(ROOT / "app.yaml", CLIENT)

    assert config.web.enabled is False
    assert (config.web.path_prefix, config.web.session_hours) == ("/web", 12)
    assert config.web.incident_url("INC-2026-001") is None


def test_an_enabled_web_view_reads_its_settings_and_links_to_an_incidents_page(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        web:
          enabled: true
          path_prefix: /incidents-view
          base_url: https://bot.example.com/
          session_hours: 8
        """,
    )

    web = load_config(path, CLIENT).web

    assert (web.enabled, web.path_prefix, web.base_url, web.session_hours) == (
        True,
        "/incidents-view",
        "https://bot.example.com",
        8,
    )
    assert web.redirect_url == "https://bot.example.com/incidents-view/oauth/callback"
    assert web.incident_url("INC-2026-007") == "https://bot.example.com/incidents-view/incidents/INC-2026-007"
    assert (web.client_id, web.client_secret) == (Secret("123.456"), Secret("client-secret"))


@pytest.mark.parametrize(
    ("web", "line", "key", "says"),
    [
        ("web:\n  enabled: true\n", 8, "web.base_url", "required when web.enabled is true"),
        ("web:\n  enabled: true\n  base_url: ftp://x.example\n", 9, "web.base_url", "public http(s) URL"),
        ("web:\n  path_prefix: web/\n", 8, "web.path_prefix", 'a path like "/web"'),
        ("web:\n  path_prefix: /slack/web\n", 8, "web.path_prefix", "/slack is the bot's own"),
        ("web:\n  session_hours: 0\n", 8, "web.session_hours", "from 1 to 720, got 0"),
        ("web:\n  enabeld: true\n", 8, "web.enabeld", 'did you mean "enabled"'),
    ],
)
def test_a_wrong_web_setting_names_the_file_line_and_key(
    tmp_path: Path, web: str, line: int, key: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=rf"app\.yaml:{line}: {re.escape(key)}: .*{re.escape(says)}"):
        load_config(write(tmp_path, web), CLIENT)


def test_an_enabled_web_view_without_the_slack_client_credentials_stops_the_bot_saying_which(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "web:\n  enabled: true\n  base_url: https://x.example\n"), {})

    with pytest.raises(ConfigError) as refused:
        require_web_credentials(config)

    assert "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET and INCIDENT_BOT_WEB_SECRET (or SLACK_SIGNING_SECRET)" in str(
        refused.value
    )


def test_cookies_are_signed_with_the_dedicated_secret_when_set_and_else_with_the_signing_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  enabled: true\n  base_url: https://x.example\n")

    dedicated = load_config(path, {**CLIENT, "INCIDENT_BOT_WEB_SECRET": "web-only"}).web
    fallback = load_config(path, CLIENT).web

    assert dedicated.cookie_secret == Secret("web-only")
    assert fallback.cookie_secret == Secret("signing")
    require_web_credentials(load_config(path, CLIENT))  # nothing missing


def test_the_manifest_adds_the_sign_in_redirect_openid_scopes_and_private_channel_reading_only_with_the_web_view(
    tmp_path: Path,
) -> None:
    off = build_manifest(load_config(write(tmp_path, ""), CLIENT))
    on = build_manifest(load_config(write(tmp_path, "web:\n  enabled: true\n  base_url: https://x.example\n"), CLIENT))

    assert "redirect_urls" not in off["oauth_config"]
    assert "user" not in off["oauth_config"]["scopes"]
    assert on["oauth_config"]["redirect_urls"] == ["https://x.example/web/oauth/callback"]
    assert on["oauth_config"]["scopes"]["user"] == ["openid", "profile", "email"]
    # ...and the bot may ask which private channels a signed-in person is in (who may see a private incident).
    assert set(on["oauth_config"]["scopes"]["bot"]) - set(off["oauth_config"]["scopes"]["bot"]) == {"groups:read"}


def test_browsers_sign_in_at_slack_unless_the_web_api_is_elsewhere() -> None:
    assert authorize_url("https://slack.com/api/") == SLACK_AUTHORIZE_URL
    assert authorize_url("http://127.0.0.1:4000/api/") == "http://127.0.0.1:4000/openid/connect/authorize"


def test_web_settings_default_to_off() -> None:
    assert WebSettings().enabled is False


def test_the_client_id_and_secret_without_a_bot_token_mean_oauth_mode_and_with_one_a_single_workspace() -> None:
    oauth = load_config(ROOT / "app.yaml", {**CLIENT})
    single = load_config(ROOT / "app.yaml", {**CLIENT, "SLACK_BOT_TOKEN": "xoxb-1"})

    assert oauth.slack.oauth_mode
    assert not single.slack.oauth_mode


def test_a_bad_oauth_setting_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    shipped = (ROOT / "app.yaml").read_text(encoding="utf-8")
    kept = shipped[: shipped.index("\noauth:\n")]
    path = tmp_path / "app.yaml"
    path.write_text(f"{kept}\noauth:\n  retention_days: 30\n  refresh_minutes: 0\n", encoding="utf-8")
    line = kept.count("\n") + 4

    with pytest.raises(ConfigError) as refused:
        load_config(path, {})

    assert f"{path}:{line}" in str(refused.value)
    assert "oauth.refresh_minutes" in str(refused.value)
