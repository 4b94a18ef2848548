"""The root-cause engine's runbooks: the model, and the markdown parser. Pure Python: no Slack, no SQL."""

from .model import ParseResult, Problem, RootCause, Runbook, RunbookError, Section, citation
from .parser import load_runbooks, parse_runbook, section_kind

__all__ = [
    "ParseResult",
    "Problem",
    "RootCause",
    "Runbook",
    "RunbookError",
    "Section",
    "citation",
    "load_runbooks",
    "parse_runbook",
    "section_kind",
]
