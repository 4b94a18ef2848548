"""`incident-bot`: serve, demo, suggest, report, runbooks lint, db upgrade, manifest, init."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from bot.config import (
    Config,
    ConfigError,
    DatabaseUnavailable,
    load_config,
    require_paging_keys,
    require_slack_credentials,
    require_web_credentials,
    resolve_config_path,
)

DATABASE_WAIT_SECONDS = 120.0  # `serve --wait-for-database`'s default

log = logging.getLogger("incident_bot")


def _config(environ: Mapping[str, str]) -> Config:
    return load_config(resolve_config_path(environ), environ)


async def _serve(config: Config, host: str, port: int, database_wait: float) -> None:
    from aiohttp import web

    from bot.app import IncidentBot

    bot = IncidentBot(config)
    runner = bot.web_runner()
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()  # /healthz answers 503 ("starting", "waiting for the database") until the bot is ready
    # SIGTERM stops the bot at any moment, while it waits for its database too (as PID 1 in a container, a
    # process that does not handle SIGTERM ignores it, and `docker stop` would wait ten seconds to kill it).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    socket_handler = None
    try:
        starting = asyncio.create_task(bot.start(database_wait))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("stopped before the bot was ready")
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return
        stopping.cancel()
        starting.result()  # a start that failed raises here
        if config.slack.app_token is not None:
            socket_handler = bot.socket_mode_handler(config.slack.app_token.reveal())
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("connected to Slack over Socket Mode; health and metrics on http://%s:%d", host, port)
        else:
            log.info("ready: Slack's requests are served at http://%s:%d/slack/events", host, port)
        await stop.wait()
        log.info("shutting down")
    finally:
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
        await bot.close()


async def _upgrade(config: Config) -> None:
    from bot.storage import Database

    db = Database(config.database_url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incident-bot", description="Run incident response in Slack.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the bot (HTTP on --host/--port; Socket Mode when SLACK_APP_TOKEN is set)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")
    serve.add_argument(
        "--wait-for-database",
        type=_seconds,
        default=DATABASE_WAIT_SECONDS,
        metavar="SECONDS",
        help="at start, how long to keep trying a database that does not accept connections yet, with backoff "
        f"(default {DATABASE_WAIT_SECONDS:.0f}; 0: try once); a wrong URL or credentials stop it at once",
    )

    demo = sub.add_parser(
        "demo", help="play a short incident against the built-in Slack emulator (no workspace needed)"
    )
    demo.add_argument("--database-url", help="where the demo stores its data (default: a temporary SQLite file)")
    demo.add_argument(
        "--web",
        action="store_true",
        help="after the demo, keep the emulator, the bot and the web view running and print the URL to open "
        "(signed in as the demo's user), until Ctrl-C",
    )

    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="TASK")
    db_sub.add_parser("upgrade", help="bring the schema at DATABASE_URL to the newest version")

    suggest = sub.add_parser(
        "suggest", help="rank likely root causes from the runbooks for some messages (TEXT, or stdin one per line)"
    )
    suggest.add_argument(
        "--runbooks",
        type=Path,
        help="folder of markdown runbooks (default: app.yaml's; without an app.yaml, the packaged ones)",
    )
    suggest.add_argument("--json", action="store_true", help='print JSON: {"suggestions": [...]}')
    suggest.add_argument(
        "--replay",
        action="store_true",
        help="feed the messages one at a time through the Slack path's decision and print what it posts, updates "
        'and withdraws after which message (with --json: {"timeline": [...], "suggestions": [...]})',
    )
    suggest.add_argument("--top", type=_at_least_one, default=3, help="how many suggestions at most (default 3)")
    suggest.add_argument(
        "--no-title",
        action="store_true",
        help="every line is a message (by default the first of two or more lines is the incident's title, which "
        "counts as a hypothesis, as in Slack)",
    )
    suggest.add_argument(
        "text", nargs="*", metavar="TEXT", help="title, then messages; without any, read stdin, one per line"
    )

    runbooks = sub.add_parser("runbooks", help="runbook tasks")
    runbooks_sub = runbooks.add_subparsers(dest="runbooks_command", required=True, metavar="TASK")
    lint = runbooks_sub.add_parser("lint", help="check runbooks: problems as file:line: message; exit 1 on errors")
    lint.add_argument(
        "directory",
        nargs="?",
        type=Path,
        help="folder of runbooks (default: app.yaml's; without an app.yaml, the packaged ones)",
    )

    report = sub.add_parser("report", help="render an incident's post-incident report from the database")
    report.add_argument("incident", metavar="INCIDENT_ID", help="e.g. INC-2026-001")
    report.add_argument("--format", choices=("markdown", "html"), default="markdown", help="default: markdown")
    report.add_argument("-o", "--output", type=Path, help="write to this file (default: standard output)")
    report.add_argument(
        "--team", metavar="TEAM_ID", help="the workspace (T…), when several have this incident number (OAuth mode)"
    )

    init = sub.add_parser(
        "init", help="write a starter app.yaml and the runbooks into DIR (never overwrites), and what to do next"
    )
    init.add_argument("directory", nargs="?", type=Path, default=Path("."), metavar="DIR", help="default: here")

    manifest = sub.add_parser("manifest", help="print the Slack app manifest (YAML) for app.yaml")
    manifest.add_argument("--request-url", help="public https URL of /slack/events (HTTP mode); omit for Socket Mode")
    manifest.add_argument(
        "--oauth-redirect-url",
        help="public https URL of /slack/oauth_redirect: OAuth mode, the app installed into many workspaces",
    )
    manifest.add_argument(
        "--token-rotation", action="store_true", help="OAuth mode: bot tokens expire and the bot refreshes them"
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.command == "demo" else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("bot.config").setLevel(logging.INFO)  # "using the packaged defaults", in the demo too
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # seven lines of "setup plugin" a start
    try:
        if args.command == "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(env, database_url=args.database_url, keep_web=args.web))
        if args.command == "suggest":
            return _suggest(
                env,
                args.runbooks,
                args.text,
                top=args.top,
                as_json=args.json,
                replay=args.replay,
                titled=not args.no_title,
            )
        if args.command == "init":
            return _init(args.directory)
        if args.command == "runbooks":
            from bot.suggestions.lint import main_lint

            return main_lint(args.directory or _runbooks_dir(env), sys.stdout, sys.stderr)
        config = _config(env)
        if args.command == "manifest":
            from bot.slack.manifest import build_manifest

            if args.oauth_redirect_url and not args.request_url:
                raise ConfigError(
                    "--oauth-redirect-url is for HTTP mode: give --request-url too "
                    "(OAuth mode serves many workspaces over HTTP)"
                )
            document = build_manifest(
                config,
                request_url=args.request_url,
                oauth_redirect_url=args.oauth_redirect_url,
                token_rotation=args.token_rotation,
            )
            sys.stdout.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
            return 0
        if args.command == "report":
            rendered = asyncio.run(_report(config, args.incident, args.format, args.team))
            if rendered is None:
                return 1
            if args.output is None:
                sys.stdout.write(rendered)
            else:
                args.output.write_text(rendered, encoding="utf-8")
                print(f"wrote {args.output}", file=sys.stderr)
            return 0
        if args.command == "db":
            asyncio.run(_upgrade(config))
            print(f"database is up to date ({_display_url(config.database_url)})")
            return 0
        require_slack_credentials(config)
        require_paging_keys(config)
        require_web_credentials(config)
        asyncio.run(_serve(config, args.host, args.port, args.wait_for_database))
        return 0
    except ConfigError as e:  # DatabaseRefused included
        print(f"incident-bot: {e}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as e:
        print(f"incident-bot: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `incident-bot suggest ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


async def _report(config: Config, public_id: str, fmt: str, team_id: str | None = None) -> str | None:
    """Render from the database only: no Slack calls (names come from those the bot has stored)."""
    from bot.domain.incident import Status
    from bot.metrics import Metrics
    from bot.services import FollowupService, ReportService, SuggestionService, UserError
    from bot.services.timeline import Background, TimelineService
    from bot.slack.gateway import SlackGateway, create_web_client
    from bot.storage import Database

    db = Database(config.database_url)
    try:
        slack = SlackGateway(create_web_client("", config.slack.api_url), Metrics())
        timeline = TimelineService(config, db, slack, look_up_names=False)
        suggestions = SuggestionService(config, db, slack, Background())
        followups = FollowupService(config, db, slack, timeline.names, None)  # read only: nothing is exported
        reports = ReportService(config, db, slack, timeline, suggestions, followups=followups)
        try:
            incident = await reports.find(public_id, team_id)
            label = "Final" if incident.status is Status.RESOLVED else "Draft"
            text = await reports.render(incident, label, fmt)
        except UserError as e:
            print(f"incident-bot: {e}", file=sys.stderr)
            return None
        finally:
            suggestions.release()
    finally:
        await db.dispose()
    return text


def _runbooks_dir(environ: Mapping[str, str]) -> Path:
    """The configured runbooks folder (without an app.yaml, the packaged ones); ./runbooks when the app.yaml is not
    usable (the tools work without a valid one)."""
    try:
        return _config(environ).suggestions.runbooks
    except ConfigError:
        return Path("runbooks")


def _suggest(
    environ: Mapping[str, str],
    runbooks: Path | None,
    texts: list[str],
    *,
    top: int,
    as_json: bool,
    replay: bool = False,
    titled: bool = True,
) -> int:
    """What the bot would have standing in the channel after these messages (the title first): the standing
    suggestion and the next best, or nothing. With `replay`, also what it did after which message."""
    import json

    from bot.suggestions import decision
    from bot.suggestions.engine import SuggestionEngine
    from bot.suggestions.parser import load_runbooks

    directory = runbooks or _runbooks_dir(environ)
    if not directory.is_dir():
        print(f"incident-bot: no runbooks folder at {directory}", file=sys.stderr)
        return 2
    loaded, problems = load_runbooks(directory)
    for problem in problems:
        if problem.severity == "error":
            print(f"incident-bot: {problem}", file=sys.stderr)
    if texts:  # (arguments that are not UTF-8 arrive as surrogates: they become U+FFFD too)
        lines = [fixed for text in texts if (fixed := _utf8(text)).strip()]
    else:  # bytes that are not UTF-8 become U+FFFD: the JSON printed is always valid UTF-8
        lines = [line for line in sys.stdin.buffer.read().decode("utf-8", "replace").splitlines() if line.strip()]
    title, messages = (lines[0], lines[1:]) if titled and len(lines) >= 2 else (None, lines)
    replayed = decision.replay(SuggestionEngine(loaded), messages, title=title, top=max(top, 10))
    suggestions = replayed.suggestions(top)
    if as_json:
        answer: dict[str, object] = {
            "suggestions": [{**s.to_json(), "likelihood": round(decision.likelihood(s), 4)} for s in suggestions]
        }
        if replay:
            answer = {"timeline": [step.to_json(n) for n, step in replayed.timeline], **answer}
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    if replay:
        for n, step in replayed.timeline:
            entry = step.to_json(n)
            what = f"{entry['root_cause']} — {entry['runbook']} / {entry['error']}"
            why = f" ({step.why})" if step.why else ""
            print(f"after message {n}: {step.action} {what}{why}")
        if not replayed.timeline:
            print("Nothing posted.")
        print()
    if not suggestions:
        print("No suggestion: nothing in these messages matches a runbook strongly enough.")
        return 0
    for n, s in enumerate(suggestions, start=1):
        print(
            f"{n}. {s.root_cause_name} — {s.runbook_title} / {s.error_name} "
            f"(score {s.score:.2f}, likely right {decision.likelihood(s):.0%})"
        )
        print(f"   {s.citation}")
        for line in s.evidence:
            print(f"   evidence: {line}")
        for line in s.alternatives:
            print(f"   not: {line}")
    return 0


def _utf8(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _init(directory: Path) -> int:
    """`incident-bot init [DIR]`: the packaged app.yaml and runbooks, copied to edit, and what to do next."""
    from bot.defaults import WouldOverwrite, copy_defaults

    try:
        written = copy_defaults(directory)
    except WouldOverwrite as e:
        names = "\n".join(f"  {path}" for path in e.existing)
        print(
            f"incident-bot: nothing written: these are there already and init never overwrites:\n{names}\n"
            "Move them away, or run `incident-bot init <another folder>`.",
            file=sys.stderr,
        )
        return 1
    except OSError as e:
        print(f"incident-bot: nothing written: cannot write to {directory}: {e.strerror or e}", file=sys.stderr)
        return 1
    runbooks = [path for path in written if path.parent.name == "runbooks" and path.name != "README.md"]
    here = "" if directory.resolve() == Path.cwd().resolve() else f"cd {_shell_quote(str(directory))}\n     "
    print(
        f"""Wrote {directory / "app.yaml"} (the bot's behaviour, commented) and {len(runbooks)} runbooks in \
{directory / "runbooks"} (their format: runbooks/README.md).

Next steps:
  1. Make them yours: the slash command, channel names, severities and who each invites in app.yaml; your
     team's runbooks in runbooks/. Check the runbooks with:
     {here}incident-bot runbooks lint
  2. Create the Slack app from its manifest: print it with
     incident-bot manifest --request-url https://<your host>/slack/events > manifest.yaml
     (no --request-url for Socket Mode), then at https://api.slack.com/apps: Create New App, From a manifest.
  3. Install the app to your workspace, and give the bot its secrets in the environment:
     export SLACK_BOT_TOKEN=xoxb-...        # OAuth & Permissions: Bot User OAuth Token
     export SLACK_SIGNING_SECRET=...        # Basic Information: Signing Secret (HTTP mode)
     export SLACK_APP_TOKEN=xapp-...        # only for Socket Mode (an app-level token with connections:write)
     export DATABASE_URL=postgresql://...   # optional: the default is SQLite, incident-bot.db in the folder it runs in
  4. Start it from {"that" if here else "this"} folder (it reads ./app.yaml):
     {here}incident-bot serve --port 3000"""
    )
    return 0


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {value!r}") from None
    if not 0 <= number <= 86400:
        raise argparse.ArgumentTypeError(f"must be from 0 to 86400 seconds, not {value}")
    return number


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    raise SystemExit(main())
