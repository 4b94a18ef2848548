"""The `incident-bot` command as an operator uses it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
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
    assert "accepted *Traffic Spike* as the root cause" in out
    assert ":repeat: *Seen before.*" in out  # the second incident, like the first
    assert "What fixed it: @bob: Restarting the service to clear the pool" in out
    assert "is now *Communications lead*" in out
    assert "Status update · INC-" in out
    assert "added follow-up #1: *Raise MAX_CONNECTIONS of the user service*" in out
    assert "*2 follow-ups still open* for INC-" in out
    assert ":pager: @alice paged *user-service* on PagerDuty for INC-" in out  # through the local stand-in
    assert "got a trigger: “INC-" in out
    assert ": API 500 Errors on User Service (SEV1 · Critical)”" in out
    assert "The page of *user-service* on PagerDuty is resolved." in out
    assert ":alarm_clock: @alice A status update for INC-" in out  # the comms lead, once the demo's clock moved on
    assert out.count(":alarm_clock:") == 1
    assert "Something went wrong" not in out
    assert "The final post-incident report (" in out, result.stderr[-3000:]
    report = Path(out.split("The final post-incident report (")[1].split("is at:")[1].split()[0])
    markdown = report.read_text(encoding="utf-8")
    for heading in ("## 1. Executive Summary", "## 2. Root Cause", "### 3.1. Immediate Remediation Taken"):
        assert heading in markdown
    assert "**Traffic Spike**" in markdown
    assert "sudo systemctl restart api-service" in markdown
    assert "(Communications lead)" in markdown
    assert "| Update |" in markdown
    assert "### 3.4. Follow-ups\n\n1.  Raise MAX_CONNECTIONS of the user service" in markdown


EXAMPLE_INCIDENT_AS_CHAT = [
    "API is throwing 500s on login for the User Service since 14:30 UTC",
    "error rate dashboard shows a big spike in 500 Internal Server Errors",
    "logs are full of database connection pool exhaustion and hard connection acquisition failure",
    "seeing `Timeout waiting for connection from pool` in user-service",
    "traffic jumped suddenly, looks like a spike in concurrent users",
    "no sign of zombie connections, and there is no maintenance going on",
]


def test_suggest_ranks_traffic_spike_first_for_the_example_incident_with_its_citation(tmp_path: Path) -> None:
    result = incident_bot(
        "suggest", "--json", "--runbooks", str(ROOT / "runbooks"), *EXAMPLE_INCIDENT_AS_CHAT, env={}, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    suggestions = json.loads(result.stdout)["suggestions"]
    best = suggestions[0]
    assert set(best) == {"runbook", "error", "root_cause", "score", "citation", "evidence", "likelihood"}
    assert (best["runbook"], best["error"], best["root_cause"]) == (
        "Database Connection Issues",
        "ConnectionPoolTimeoutError",
        "Traffic Spike",
    )
    assert best["citation"] == (
        "`# Engineering Runbook: Database Connection Issues` -> `## Error: ConnectionPoolTimeoutError` -> "
        "`## Root Causes` -> `1. Traffic Spike: Sudden increase in concurrent users exceeding MAX_CONNECTIONS.`"
    )
    assert isinstance(best["score"], float)
    assert best["evidence"]


def test_suggest_reads_messages_from_stdin_and_prints_an_empty_list_for_unrelated_chat(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "suggest", "--json", "--runbooks", str(ROOT / "runbooks")],
        input="who is on call this weekend?\nthe pricing page has a typo in the footer\n",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"suggestions": []}


def test_suggest_without_json_prints_the_ranking_readably(tmp_path: Path) -> None:
    result = incident_bot(
        "suggest", "--runbooks", str(ROOT / "runbooks"), *EXAMPLE_INCIDENT_AS_CHAT, env={}, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1. Traffic Spike — Database Connection Issues / ConnectionPoolTimeoutError")


def test_runbooks_lint_passes_on_the_shipped_runbooks_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    (tmp_path / "broken.md").write_text("# Runbook: Broken\n\n## Error: Foo\n\n## Root Causes\n1. no name here\n")

    shipped = incident_bot("runbooks", "lint", str(ROOT / "runbooks"), env={}, cwd=tmp_path)
    broken = incident_bot("runbooks", "lint", str(tmp_path), env={}, cwd=tmp_path)

    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert broken.returncode == 1
    assert f"{tmp_path}/broken.md:6: error: root cause has no name" in broken.stdout


async def test_report_renders_an_incident_from_the_database_as_markdown_or_html(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.storage import NewIncident

    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    db = Database(url)
    await db.upgrade()
    async with db.transaction() as store:
        incident = await store.add(
            NewIncident(
                team_id="T1",
                title="Checkout <slow>",
                description="",
                severity="sev2",
                opener_id="U1",
                opened_at=datetime(2026, 11, 28, 14, 30, tzinfo=UTC),
            )
        )
    await db.dispose()
    env = {"INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml"), "DATABASE_URL": url}

    markdown = incident_bot("report", incident.public_id, env=env, cwd=tmp_path)
    html = incident_bot(
        "report", incident.public_id, "--format", "html", "-o", str(tmp_path / "r.html"), env=env, cwd=tmp_path
    )
    missing = incident_bot("report", "INC-2026-999", env=env, cwd=tmp_path)

    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("# Post-Incident Report: Checkout")
    assert "not been determined" in markdown.stdout
    assert html.returncode == 0, html.stderr
    assert "&lt;slow&gt;" in (tmp_path / "r.html").read_text()
    assert missing.returncode == 1
    assert "No incident INC-2026-999" in missing.stderr


async def test_report_names_the_workspace_when_two_have_the_same_incident_number(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.storage import NewIncident

    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    db = Database(url)
    await db.upgrade()
    for team, title in (("TALPHA", "Payments down"), ("TBETA", "Search slow")):
        async with db.transaction() as store:
            await store.add(
                NewIncident(
                    team_id=team,
                    title=title,
                    description="",
                    severity="sev2",
                    opener_id="U1",
                    opened_at=datetime(2026, 11, 28, 14, 30, tzinfo=UTC),
                )
            )
    await db.dispose()
    env = {"INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml"), "DATABASE_URL": url}

    ambiguous = incident_bot("report", "INC-2026-001", env=env, cwd=tmp_path)
    beta = incident_bot("report", "INC-2026-001", "--team", "TBETA", env=env, cwd=tmp_path)

    assert ambiguous.returncode == 1
    assert "several workspaces (TALPHA, TBETA); name one with --team" in ambiguous.stderr
    assert beta.returncode == 0, beta.stderr
    assert beta.stdout.startswith("# Post-Incident Report: Search slow")


# A title, two unrelated lines, one line that names the error and a traffic spike, then a measurement that rules the
# spike out (checked with `incident-bot suggest --replay`).
REPLAYED_CHAT = (
    "Weekly sync\n"
    "who is on call today?\n"
    "the pricing page has a typo in the footer\n"
    "ConnectionPoolTimeoutError: Timeout waiting for connection from pool; traffic jumped to 3x normal after the "
    "marketing campaign went out, autoscaling kicked in\n"
    "correction: no traffic spike, request rate is flat\n"
)


def suggest_json(*options: str, stdin: str, cwd: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "suggest", "--json", *options, "--runbooks", str(ROOT / "runbooks")],
        input=stdin,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_suggest_replay_prints_what_was_posted_and_changed_after_which_message_counting_after_the_title(
    tmp_path: Path,
) -> None:
    replayed = suggest_json("--replay", stdin=REPLAYED_CHAT, cwd=tmp_path)

    timeline = replayed["timeline"]
    assert isinstance(timeline, list)
    assert [(e["message"], e["action"]) for e in timeline][:1] == [(3, "post")]
    assert (timeline[0]["runbook"], timeline[0]["error"], timeline[0]["root_cause"]) == (
        "Database Connection Issues",
        "ConnectionPoolTimeoutError",
        "Traffic Spike",
    )
    assert isinstance(timeline[0]["score"], float)
    [(message, action)] = [(e["message"], e["action"]) for e in timeline[1:]]
    assert (message, action) in ((4, "update"), (4, "retract"))
    assert "Traffic Spike was ruled out by" in timeline[1]["why"]
    assert all({"message", "action", "runbook", "error", "root_cause", "score"} <= set(e) for e in timeline)


@pytest.mark.parametrize("lines", [4, 5], ids=["standing", "after-the-measurement"])
def test_suggest_replay_answers_the_same_suggestions_as_suggest_alone(tmp_path: Path, lines: int) -> None:
    chat = "".join(REPLAYED_CHAT.splitlines(keepends=True)[:lines])
    replayed = suggest_json("--replay", stdin=chat, cwd=tmp_path)

    alone = suggest_json(stdin=chat, cwd=tmp_path)

    assert set(alone) == {"suggestions"}
    assert replayed["suggestions"] == alone["suggestions"]
    assert replayed["timeline"]
    if lines == 4:  # something stands: the comparison is of a real ranking
        assert alone["suggestions"]


def test_suggest_reads_bytes_that_are_not_utf8_and_still_prints_valid_json(tmp_path: Path) -> None:
    chat = REPLAYED_CHAT.encode("utf-8").replace(b"pool", b"po\xffol", 1)

    result = subprocess.run(
        [sys.executable, "-m", "bot", "suggest", "--json", "--replay", "--runbooks", str(ROOT / "runbooks")],
        input=chat,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"},
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.decode("utf-8"))
    assert answer["timeline"]


def test_suggest_refuses_a_top_below_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "suggest", "--top", "0", "--runbooks", str(ROOT / "runbooks"), "pool"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--top: must be at least 1" in result.stderr


# --- packaged defaults and `init` ------------------------------------------------------------------------


def test_without_an_app_yaml_lint_and_suggest_use_the_packaged_runbooks_and_say_so_once(tmp_path: Path) -> None:
    linted = incident_bot("runbooks", "lint", env={}, cwd=tmp_path)
    suggested = incident_bot("suggest", "--json", *EXAMPLE_INCIDENT_AS_CHAT, env={}, cwd=tmp_path)

    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert linted.stdout.startswith("10 runbooks")
    assert suggested.returncode == 0, suggested.stderr
    assert json.loads(suggested.stdout)["suggestions"][0]["root_cause"] == "Traffic Spike"
    for result in (linted, suggested):
        assert result.stderr.count("using the packaged defaults") == 1


def test_serve_with_incident_bot_config_naming_a_missing_file_stops_instead_of_using_the_defaults(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "etc" / "app.yaml"

    result = incident_bot(
        "serve",
        env={"INCIDENT_BOT_CONFIG": str(missing), "SLACK_BOT_TOKEN": SECRET_TOKEN, "SLACK_SIGNING_SECRET": "shh"},
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert f"config file not found: {missing}" in result.stderr
    assert "using the packaged defaults" not in result.stderr


def test_init_writes_the_packaged_app_yaml_and_runbooks_into_a_new_folder_and_says_what_next(tmp_path: Path) -> None:
    result = incident_bot("init", "ops/incident-bot", env={}, cwd=tmp_path)

    folder = tmp_path / "ops" / "incident-bot"
    assert result.returncode == 0, result.stderr
    assert (folder / "app.yaml").read_bytes() == (ROOT / "app.yaml").read_bytes()
    assert {p.name: p.read_bytes() for p in (folder / "runbooks").iterdir()} == {
        p.name: p.read_bytes() for p in (ROOT / "runbooks").iterdir()
    }
    assert "cd ops/incident-bot" in result.stdout
    assert "incident-bot manifest --request-url https://<your host>/slack/events" in result.stdout


def test_init_never_overwrites_and_writes_nothing_when_any_file_is_there_already(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "dns.md").write_text("# Runbook: our own DNS notes\n")

    result = incident_bot("init", env={}, cwd=tmp_path)

    assert result.returncode == 1
    assert "nothing written" in result.stderr
    assert "runbooks/dns.md" in result.stderr
    assert not (tmp_path / "app.yaml").exists()
    assert [p.name for p in (tmp_path / "runbooks").iterdir()] == ["dns.md"]
    assert (tmp_path / "runbooks" / "dns.md").read_text() == "# Runbook: our own DNS notes\n"


def test_init_into_a_path_that_is_a_file_says_it_cannot_write_there(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file\n")

    result = incident_bot("init", "taken", env={}, cwd=tmp_path)

    assert result.returncode == 1
    assert "nothing written: cannot write to taken" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_serve_refuses_a_negative_time_to_wait_for_the_database(tmp_path: Path) -> None:
    result = incident_bot("serve", "--wait-for-database", "-1", env={}, cwd=tmp_path)

    assert result.returncode == 2
    assert "--wait-for-database: must be from 0 to 86400 seconds" in result.stderr


def test_demo_web_keeps_the_web_view_running_signed_in_as_the_demos_user_until_ctrl_c(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--web"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as demo:
        try:
            url = link_printed(demo, "/web/login")
            landed, status, html = asyncio.run(fetched(url))
            demo.send_signal(signal.SIGINT)
            code = demo.wait(60)
            rest = demo.stdout.read() if demo.stdout else ""
        finally:
            if demo.poll() is None:
                demo.kill()

    assert url.startswith("http://127.0.0.1:")
    assert status == 200
    assert landed == url.removesuffix("/login") + "/incidents"
    assert "Alice Adams" in html  # signed in as the demo's Alice
    assert 'id="incidents"' in html
    assert "INC-" in html
    assert code == 0
    assert "Stopped." in rest


def link_printed(process: subprocess.Popen[str], ending: str) -> str:
    """The first URL the process prints on a line of its own that ends with `ending` (fails if it ends first)."""
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if line.strip().startswith("http") and line.strip().endswith(ending):
            return line.strip()
    raise AssertionError(f"the process ended without printing a URL ending {ending!r}:\n" + "".join(lines[-20:]))


async def fetched(url: str) -> tuple[str, int, str]:
    """A page fetched following redirects, with cookies kept (also for an IP address): (where it landed, its
    status, its HTML)."""
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        http.get(url, timeout=aiohttp.ClientTimeout(total=60)) as page,
    ):
        return str(page.url), page.status, await page.text()
