"""`incident-bot runbooks lint`: problems as `path:line: severity: message`, a summary line, and exit codes."""

from __future__ import annotations

import io
from pathlib import Path

from bot.suggestions import Problem
from bot.suggestions.lint import format_problems, lint, main_lint

GOOD = """\
# Engineering Runbook: Database Connection Issues
## Error: ConnectionPoolTimeoutError
## Symptoms
- `Timeout waiting for connection from pool`
## Root Causes
1. Traffic Spike: Sudden increase in concurrent users.
2. Zombie Connections: Leaked connections.
## Remediation
Restart.
"""

BROKEN = """\
# Runbook: DNS
## Error: NXDOMAIN
## Symptoms
- `NXDOMAIN`
## Root Causes
1. Record Deleted: The record is gone.
2. Check the zone
## Remediation
"""

NO_ERRORS = "# Runbook: Memory\nNothing written yet.\n"


def run(directory: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main_lint(directory, out, err)
    return code, out.getvalue(), err.getvalue()


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def test_errors_are_printed_as_path_line_severity_message_with_a_summary_and_exit_code_1(tmp_path: Path) -> None:
    folder = write(tmp_path / "runbooks", {"db.md": GOOD, "dns.md": BROKEN, "memory.md": NO_ERRORS})

    code, out, err = run(folder)

    assert code == 1
    assert out.splitlines() == [
        f"{folder.as_posix()}/dns.md:7: error: root cause has no name; write `N. Name: description`",
        f"{folder.as_posix()}/dns.md:8: warning: empty section `## Remediation`",
        f"{folder.as_posix()}/memory.md:1: error: no `Error:` section; add a heading such as "
        "`## Error: ConnectionPoolTimeoutError`",
        "2 runbooks, 2 errors, 3 root causes; 2 errors, 1 warning",
    ]
    assert err == ""


def test_warnings_alone_are_printed_and_exit_0(tmp_path: Path) -> None:
    folder = write(tmp_path, {"db.md": GOOD + "## Verification\n"})

    code, out, _ = run(folder)

    assert code == 0
    assert out.splitlines() == [
        f"{folder.as_posix()}/db.md:10: warning: empty section `## Verification`",
        "1 runbook, 1 error, 2 root causes; 0 errors, 1 warning",
    ]


def test_a_clean_folder_prints_only_the_summary_and_exits_0(tmp_path: Path) -> None:
    folder = write(tmp_path, {"db.md": GOOD, "team/db2.md": GOOD.replace("ConnectionPool", "Pool"), "README.md": "x"})

    code, out, err = run(folder)

    assert (code, out, err) == (0, "2 runbooks, 2 errors, 4 root causes; 0 errors, 0 warnings\n", "")


def test_a_missing_folder_is_reported_on_stderr_with_exit_code_2(tmp_path: Path) -> None:
    code, out, err = run(tmp_path / "nowhere")

    assert code == 2
    assert out == ""
    assert err == f"incident-bot: no runbooks folder at {tmp_path / 'nowhere'}\n"


def test_an_empty_folder_is_clean(tmp_path: Path) -> None:
    assert run(tmp_path) == (0, "0 runbooks, 0 errors, 0 root causes; 0 errors, 0 warnings\n", "")


def test_lint_returns_the_problems_sorted_by_path_then_line_under_the_folder(tmp_path: Path) -> None:
    folder = write(tmp_path, {"b.md": BROKEN, "a.md": NO_ERRORS})

    problems = lint(folder)

    root = folder.as_posix()
    assert [(p.path, p.line, p.severity) for p in problems] == [
        (f"{root}/a.md", 1, "error"),
        (f"{root}/b.md", 7, "error"),
        (f"{root}/b.md", 8, "warning"),
    ]


def test_format_problems_gives_one_line_per_problem_and_nothing_for_none() -> None:
    problems = [Problem("dns.md", 57, "root cause has no name"), Problem("db.md", 3, "empty section", "warning")]

    assert format_problems(problems) == "dns.md:57: error: root cause has no name\ndb.md:3: warning: empty section"
    assert format_problems([]) == ""
