"""The `incident-bot` command as an operator uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.storage import Database
from tests.conftest import ROOT

SECRET_TOKEN = "xoxb-111-222-supersecretvalue"


def incident_bot(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_serve_with_a_malformed_app_yaml_stops_with_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(
        "command: /incident\ndefault_severity: sev1\nseverities:\n  - name: Sev 1\n    label: x\n    description: y\n"
    )

    result = incident_bot(
        "serve",
        "--port",
        "0",
        env={"INCIDENT_BOT_CONFIG": str(config), "SLACK_BOT_TOKEN": SECRET_TOKEN, "SLACK_SIGNING_SECRET": "shh"},
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert f"{config}:4" in result.stderr
    assert "severities[0].name" in result.stderr
    assert SECRET_TOKEN not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_serve_without_slack_credentials_says_which_are_missing(tmp_path: Path) -> None:
    result = incident_bot("serve", env={"INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml")}, cwd=tmp_path)

    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert "SLACK_SIGNING_SECRET" in result.stderr


def test_manifest_prints_yaml_for_the_configured_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["manifest"], environ={"INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml")})

    document = yaml.safe_load(capsys.readouterr().out)
    assert code == 0
    assert document["features"]["slash_commands"][0]["command"] == "/incident"
    assert "channels:manage" in document["oauth_config"]["scopes"]["bot"]


async def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"

    result = incident_bot(
        "db", "upgrade", env={"INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml"), "DATABASE_URL": url}, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    db = Database(url)
    try:
        async with db.transaction() as store:
            assert await store.count() == 0
    finally:
        await db.dispose()


def test_demo_plays_an_incident_without_a_slack_workspace(tmp_path: Path) -> None:
    result = incident_bot("demo", env={}, cwd=tmp_path, timeout=120)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "#inc-" in out
    assert "-001-api-500-errors-on-user-service" in out
    assert "📌" in out  # the pinned card
    assert "changed the severity" in out
    assert "resolved the incident" in out
    assert "Only visible to alice" in out
    assert "Timeline of INC-" in out
    assert "Finding" in out
    assert "Traffic was 3x normal" in out
