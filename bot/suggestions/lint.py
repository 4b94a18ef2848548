"""`incident-bot runbooks lint`: every problem in a runbooks folder as `path:line: severity: message`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from .model import Problem, Runbook
from .parser import load_runbooks

__all__ = ["format_problems", "lint", "main_lint"]


def lint(directory: Path) -> list[Problem]:
    """The problems of every runbook under `directory`, by path then line, each path prefixed with `directory`.
    Raises FileNotFoundError when the folder does not exist."""
    _, problems = load_runbooks(directory)
    return _sorted(_under(directory, problems))


def format_problems(problems: Iterable[Problem]) -> str:
    """One `path:line: severity: message` line per problem (no trailing newline; "" for none)."""
    return "\n".join(str(p) for p in problems)


def main_lint(argv_dir: Path, out: TextIO, err: TextIO) -> int:
    """Print the problems and a summary; exit code 1 when there is an error, 0 when only warnings (or nothing),
    2 when the folder does not exist."""
    if not argv_dir.is_dir():
        print(f"incident-bot: no runbooks folder at {argv_dir}", file=err)
        return 2
    runbooks, problems = load_runbooks(argv_dir)
    problems = _sorted(_under(argv_dir, problems))
    if problems:
        print(format_problems(problems), file=out)
    print(summary(runbooks, problems), file=out)
    return 1 if any(p.severity == "error" for p in problems) else 0


def summary(runbooks: list[Runbook], problems: list[Problem]) -> str:
    """ "3 runbooks, 14 errors, 41 root causes; 0 errors, 2 warnings" (documented errors first, then problems)."""
    documented = sum(len(r.errors) for r in runbooks)
    causes = sum(len(e.root_causes) for r in runbooks for e in r.errors)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    return (
        f"{_count(len(runbooks), 'runbook')}, {_count(documented, 'error')}, {_count(causes, 'root cause')}; "
        f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _under(directory: Path, problems: list[Problem]) -> list[Problem]:
    """Paths as the user can open them: `runbooks/dns.md` rather than `dns.md`."""
    return [replace(p, path=(directory / p.path).as_posix()) for p in problems]


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.path, p.line))
