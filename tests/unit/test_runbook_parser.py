"""Markdown runbooks -> Runbook: layouts, synonyms, root-cause items, code fences, front matter, and broken files."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest

from bot.suggestions import (
    Problem,
    Runbook,
    citation,
    load_runbooks,
    parse_runbook,
    section_kind,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "runbooks"

FLAT = """\
# Engineering Runbook: Database Connection Issues

Owned by Platform. Escalate to the DBA on-call.

## Error: ConnectionPoolTimeoutError

## Symptoms
- `Timeout waiting for connection from pool`

## Root Causes
1. Traffic Spike: Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.
2. Zombie Connections: Connections left `idle in transaction`.

## Remediation
Restart the service.

## Verification
Errors stop.

## Long-Term Fixes
Add a pool alert.
"""

NESTED = """\
# Runbook: Disk Problems

## Error: DiskFull

### Symptoms
- `No space left on device`

### Root Causes
1. Runaway Logs: Logs grow faster than rotation.
2. Data Growth: The data outgrew the volume.

#### Notes
Check both.

### Remediation
Free space.

## Error: InodeExhaustion

### Symptoms
- `df -i` at 100%

### Root Causes
1. Small File Buildup: Millions of tiny files.
"""


def parse(text: str, path: str = "rb.md") -> tuple[Runbook, list[Problem]]:
    result = parse_runbook(dedent(text), path)
    assert result.runbook is not None, result.problems
    return result.runbook, list(result.problems)


def messages(text: str) -> list[tuple[int, str, str]]:
    return [(p.line, p.severity, p.message) for p in parse_runbook(dedent(text), "rb.md").problems]


def root_causes(section_body: str, heading: str = "## Root Causes") -> list[tuple[int, str, str]]:
    text = f"# Runbook: T\n## Error: E\n## Symptoms\n- s\n{heading}\n{section_body}"
    runbook, _ = parse(text)
    return [(c.number, c.name, c.description) for c in runbook.errors[0].root_causes]


# --- layouts ----------------------------------------------------------------------------------------------------


def test_the_flat_layout_gives_the_citation_of_the_example_report() -> None:
    runbook, problems = parse(FLAT)

    error = runbook.errors[0]
    assert citation(runbook, error, error.root_causes[0]) == (
        "`# Engineering Runbook: Database Connection Issues` -> `## Error: ConnectionPoolTimeoutError` -> "
        "`## Root Causes` -> `1. Traffic Spike: Sudden increase in concurrent users exceeding MAX_CONNECTIONS.`"
    )
    assert problems == []


def test_the_flat_layout_reads_title_intro_error_and_every_section() -> None:
    runbook, _ = parse(FLAT)

    assert runbook.title == "Database Connection Issues"
    assert runbook.heading == "# Engineering Runbook: Database Connection Issues"
    assert runbook.intro == "Owned by Platform. Escalate to the DBA on-call."
    error = runbook.errors[0]
    assert (error.name, error.heading, error.line) == (
        "ConnectionPoolTimeoutError",
        "## Error: ConnectionPoolTimeoutError",
        5,
    )
    assert [(s.kind, s.heading, s.line) for s in error.sections] == [
        ("symptoms", "## Symptoms", 7),
        ("root_causes", "## Root Causes", 10),
        ("remediation", "## Remediation", 14),
        ("verification", "## Verification", 17),
        ("long_term", "## Long-Term Fixes", 20),
    ]
    remediation = error.section("remediation")
    assert remediation is not None
    assert remediation.body == "Restart the service."


def test_a_flat_root_cause_keeps_number_name_description_line_and_item() -> None:
    runbook, _ = parse(FLAT)

    cause = runbook.errors[0].root_causes[1]

    assert cause.number == 2
    assert cause.name == "Zombie Connections"
    assert cause.description == "Connections left `idle in transaction`."
    assert cause.line == 12
    assert cause.item == "2. Zombie Connections: Connections left `idle in transaction`."
    assert runbook.errors[0].root_causes_heading == "## Root Causes"


def test_the_nested_layout_gives_each_error_its_own_sections() -> None:
    runbook, problems = parse(NESTED)

    disk, inodes = runbook.errors
    assert [s.kind for s in disk.sections] == ["symptoms", "root_causes", "remediation"]
    assert [c.name for c in disk.root_causes] == ["Runaway Logs", "Data Growth"]
    assert disk.root_causes_heading == "### Root Causes"
    assert [s.kind for s in inodes.sections] == ["symptoms", "root_causes"]
    assert [(c.name, c.line) for c in inodes.root_causes] == [("Small File Buildup", 24)]
    assert problems == []


def test_a_deeper_heading_that_is_not_a_section_name_stays_in_the_section_body() -> None:
    runbook, _ = parse(NESTED)

    section = runbook.errors[0].section("root_causes")

    assert section is not None
    assert section.body.endswith("#### Notes\nCheck both.")
    assert [c.name for c in runbook.errors[0].root_causes] == ["Runaway Logs", "Data Growth"]


def test_a_deeper_heading_that_is_a_section_name_starts_its_own_section() -> None:
    runbook, _ = parse(
        """\
        # T
        ## Error: E
        ### Root Causes
        1. A: a
        ### Remediation
        Restart.
        #### Verification
        It works.
        """
    )

    assert [(s.kind, s.body) for s in runbook.errors[0].sections] == [
        ("root_causes", "1. A: a"),
        ("remediation", "Restart."),
        ("verification", "It works."),
    ]


def test_two_flat_errors_in_one_file_keep_their_sections_apart() -> None:
    runbook, problems = parse(
        """\
        # Runbook: Caches
        ## Error: CacheMiss
        ## Symptoms
        - misses
        ## Root Causes
        1. Cold Cache: Just deployed.
        ## Error: CacheEviction
        ## Symptoms
        - evictions
        ## Root Causes
        1. Memory Limit: maxmemory reached.
        2. Big Keys: A few huge values.
        ## Remediation
        Raise maxmemory.
        """
    )

    first, second = runbook.errors
    assert (first.name, [c.name for c in first.root_causes]) == ("CacheMiss", ["Cold Cache"])
    assert [s.kind for s in first.sections] == ["symptoms", "root_causes"]
    assert (second.name, [c.name for c in second.root_causes]) == ("CacheEviction", ["Memory Limit", "Big Keys"])
    assert [s.kind for s in second.sections] == ["symptoms", "root_causes", "remediation"]
    assert [c.line for c in second.root_causes] == [11, 12]
    assert problems == []


def test_a_heading_above_the_error_level_ends_the_error() -> None:
    runbook, problems = parse(
        """\
        # T
        ## Databases
        ### Error: E
        ### Symptoms
        - s
        ### Root Causes
        1. A: a
        ## Appendix
        ### Remediation
        Not this error's.
        """
    )

    assert [s.kind for s in runbook.errors[0].sections] == ["symptoms", "root_causes"]
    assert (9, "warning", "`### Remediation` is not under an `Error:` heading, so it belongs to no error") in [
        (p.line, p.severity, p.message) for p in problems
    ]


def test_another_heading_at_the_error_level_is_an_other_section_of_that_error() -> None:
    runbook, _ = parse("# T\n## Error: E\n## Root Causes\n1. A: a\n## Related\nSee dns.md.\n")

    assert [(s.kind, s.heading, s.body) for s in runbook.errors[0].sections][-1] == (
        "other",
        "## Related",
        "See dns.md.",
    )


# --- titles and error headings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("h1", "title"),
    [
        ("# Engineering Runbook: Database Connection Issues", "Database Connection Issues"),
        ("# Runbook: TLS Certificate Errors", "TLS Certificate Errors"),
        ("# runbook:   TLS Certificate Errors", "TLS Certificate Errors"),
        ("# ENGINEERING RUNBOOK: Disk", "Disk"),
        ("# DNS Resolution Failures", "DNS Resolution Failures"),
        ("# DNS Resolution Failures ##", "DNS Resolution Failures"),
    ],
)
def test_the_title_drops_the_runbook_prefix_and_the_heading_keeps_it(h1: str, title: str) -> None:
    runbook, _ = parse(f"{h1}\n## Error: E\n## Symptoms\n- s\n## Root Causes\n1. A: a\n")

    assert runbook.title == title
    assert runbook.heading == h1


def test_a_setext_h1_is_the_title() -> None:
    runbook, problems = parse(
        "Runbook: Queues\n===============\n## Error: E\n## Symptoms\n- s\n## Root Causes\n1. A: a\n"
    )

    assert (runbook.title, runbook.heading) == ("Queues", "Runbook: Queues")
    assert problems == []


@pytest.mark.parametrize(
    ("heading", "name"),
    [
        ("## Error: ConnectionPoolTimeoutError", "ConnectionPoolTimeoutError"),
        ("## error:ConnectionPoolTimeoutError", "ConnectionPoolTimeoutError"),
        ("## ERROR: OOMKilled ##", "OOMKilled"),
        ("### Error - CrashLoopBackOff", "CrashLoopBackOff"),
        ("## Error – ImagePullBackOff", "ImagePullBackOff"),
        ("## Error: `ConnectionPoolTimeoutError`", "ConnectionPoolTimeoutError"),
        ("## **Error:** DiskFull", "DiskFull"),
        ("###### Error: Deep", "Deep"),
    ],
)
def test_error_headings_are_recognised_in_their_accepted_spellings(heading: str, name: str) -> None:
    runbook, _ = parse(f"# T\n{heading}\n## Root Causes\n1. A: a\n")

    assert runbook.errors[0].name == name
    assert runbook.errors[0].heading == heading


@pytest.mark.parametrize("heading", ["## Errors", "## Error-prone steps", "## Error handling", "# Error: In H1"])
def test_headings_that_merely_start_with_error_are_not_errors(heading: str) -> None:
    result = parse_runbook(f"# T\n{heading}\n## Root Causes\n1. A: a\n", "rb.md")

    assert result.runbook is None


# --- section synonyms -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "kind"),
    [
        ("Symptoms", "symptoms"),
        ("Signs", "symptoms"),
        ("Indicators:", "symptoms"),
        ("Detection", "symptoms"),
        ("How it shows", "symptoms"),
        ("Alerts", "symptoms"),
        ("Root Causes", "root_causes"),
        ("root cause", "root_causes"),
        ("Causes", "root_causes"),
        ("Possible Causes", "root_causes"),
        ("LIKELY CAUSES", "root_causes"),
        ("Common Causes", "root_causes"),
        ("Probable Causes", "root_causes"),
        ("2. Root Causes", "root_causes"),
        ("**Root Causes:**", "root_causes"),
        ("Remediation", "remediation"),
        ("Mitigation", "remediation"),
        ("Immediate Actions", "remediation"),
        ("Immediate Remediation", "remediation"),
        ("Resolution", "remediation"),
        ("Fix", "remediation"),
        ("Fixes", "remediation"),
        ("Workaround", "remediation"),
        ("Steps", "remediation"),
        ("Step 3: Remediation", "remediation"),
        ("Verification", "verification"),
        ("Verify", "verification"),
        ("Validation", "verification"),
        ("Diagnosis", "verification"),
        ("Diagnostics", "verification"),
        ("Investigation", "verification"),
        ("Checks", "verification"),
        ("Troubleshooting", "verification"),
        ("Step 2: Verify", "verification"),
        ("Long-Term Fixes", "long_term"),
        ("Long-Term Remediation", "long_term"),
        ("Long Term Fixes", "long_term"),
        ("Prevention", "long_term"),
        ("Follow-up", "long_term"),
        ("Follow-ups", "long_term"),
        ("Permanent Fix", "long_term"),
        ("Long-Term Solutions", "long_term"),
        ("1. Long-term fixes:", "long_term"),
        ("Notes", "other"),
        ("Background", "other"),
        ("Escalation", "other"),
    ],
)
def test_section_headings_are_matched_with_their_synonyms(heading: str, kind: str) -> None:
    assert section_kind(heading) == kind


def test_synonym_headings_fill_the_same_sections_in_a_runbook() -> None:
    runbook, problems = parse(
        """\
        # T
        ## Error: E
        ### Signs:
        - s
        ### 1. Possible Causes
        1. A: a
        ### Step 2: Mitigation
        Do it.
        ### Validation
        Check it.
        ### Prevention
        Never again.
        """
    )

    error = runbook.errors[0]
    assert [s.kind for s in error.sections] == ["symptoms", "root_causes", "remediation", "verification", "long_term"]
    assert error.root_causes_heading == "### 1. Possible Causes"
    assert [c.name for c in error.root_causes] == ["A"]
    assert problems == []


# --- root-cause items -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        "1. **Traffic Spike**: Sudden increase in users.",
        "1. **Traffic Spike:** Sudden increase in users.",
        "1. __Traffic Spike__: Sudden increase in users.",
        "1. *Traffic Spike*: Sudden increase in users.",
        "1. `Traffic Spike`: Sudden increase in users.",
        "1.  Traffic Spike : Sudden increase in users.",
    ],
)
def test_markdown_around_a_root_cause_name_is_removed(item: str) -> None:
    assert root_causes(item) == [(1, "Traffic Spike", "Sudden increase in users.")]


def test_items_numbered_with_a_parenthesis_are_root_causes() -> None:
    assert root_causes("1) Traffic Spike: More users.\n2) Zombie Connections: Leaks.\n") == [
        (1, "Traffic Spike", "More users."),
        (2, "Zombie Connections", "Leaks."),
    ]


def test_numbers_are_kept_as_written() -> None:
    assert [n for n, _, _ in root_causes("3. A: a\n7. B: b\n")] == [3, 7]


def test_bullet_items_are_root_causes_numbered_by_order() -> None:
    assert root_causes("- Traffic Spike: More users.\n* Zombie Connections: Leaks.\n") == [
        (1, "Traffic Spike", "More users."),
        (2, "Zombie Connections", "Leaks."),
    ]


def test_sub_bullets_and_continuation_lines_belong_to_the_description() -> None:
    body = """\
1. Traffic Spike: Sudden increase in concurrent users
   exceeding `MAX_CONNECTIONS`.
   - Signs: request rate 3x normal.
   - Signs: pool saturates within minutes.
     and recovers when traffic drops.
2. Zombie Connections: Leaks.
"""
    assert root_causes(body) == [
        (
            1,
            "Traffic Spike",
            "Sudden increase in concurrent users\n"
            "exceeding `MAX_CONNECTIONS`.\n"
            "- Signs: request rate 3x normal.\n"
            "- Signs: pool saturates within minutes.\n"
            "  and recovers when traffic drops.",
        ),
        (2, "Zombie Connections", "Leaks."),
    ]


def test_a_bold_name_with_nothing_after_the_colon_takes_its_description_from_the_sub_bullets() -> None:
    body = "1.  **Application Service Restart:**\n    *   Restarted the `api-service` instances.\n"

    assert root_causes(body) == [(1, "Application Service Restart", "*   Restarted the `api-service` instances.")]


def test_an_unindented_paragraph_after_a_blank_line_ends_the_last_root_cause() -> None:
    runbook, _ = parse("# T\n## Error: E\n## Root Causes\n1. A: a\n\nThese are ordered by likelihood.\n")

    cause = runbook.errors[0].root_causes[0]
    section = runbook.errors[0].section("root_causes")
    assert cause.description == "a"
    assert section is not None
    assert section.body == "1. A: a\n\nThese are ordered by likelihood."


def test_the_name_ends_at_the_first_colon_outside_inline_code() -> None:
    assert root_causes("1. Wrong `host:port` setting: The DSN points elsewhere: a typo.\n") == [
        (1, "Wrong host:port setting", "The DSN points elsewhere: a typo.")
    ]


def test_root_causes_written_as_sub_headings_take_the_paragraph_below_as_description() -> None:
    runbook, problems = parse(
        """\
        # T
        ## Error: E
        ## Symptoms
        - s
        ## Root Causes
        ### 1. Traffic Spike
        Sudden increase in concurrent users.
        - Signs: 3x traffic.
        ### 2. Zombie Connections: Leaked connections
        Never returned.
        ## Remediation
        Restart.
        """
    )

    error = runbook.errors[0]
    assert [(c.number, c.name, c.description, c.line, c.item) for c in error.root_causes] == [
        (1, "Traffic Spike", "Sudden increase in concurrent users.\n- Signs: 3x traffic.", 6, "### 1. Traffic Spike"),
        (
            2,
            "Zombie Connections",
            "Leaked connections\nNever returned.",
            9,
            "### 2. Zombie Connections: Leaked connections",
        ),
    ]
    assert [s.kind for s in error.sections] == ["symptoms", "root_causes", "remediation"]
    assert problems == []


def test_a_notes_sub_heading_among_numbered_cause_headings_is_not_a_cause() -> None:
    body = "### 1. Traffic Spike\nMore users.\n### Notes\nOrdered by likelihood.\n"

    assert root_causes(body) == [(1, "Traffic Spike", "More users.")]


# --- code fences ------------------------------------------------------------------------------------------------


def test_lines_in_a_code_fence_are_neither_headings_nor_root_causes() -> None:
    runbook, problems = parse(
        """\
        # T
        ## Error: E
        ## Symptoms
        - s
        ## Root Causes
        1. A: a
           ```bash
           # Who holds the slots?
           1. not: a cause
           ```
        ```sql
        -- a query
        # Not a heading
        1. Not a cause: either
        ## Error: NotAnError
        ```
        2. B: b
        ## Remediation
        ```
        # restart
        sudo systemctl restart api
        ```
        """
    )

    error = runbook.errors[0]
    assert [e.name for e in runbook.errors] == ["E"]
    assert [(c.number, c.name) for c in error.root_causes] == [(1, "A"), (2, "B")]
    assert error.root_causes[0].description == "a\n```bash\n# Who holds the slots?\n1. not: a cause\n```"
    assert [s.kind for s in error.sections] == ["symptoms", "root_causes", "remediation"]
    remediation = error.section("remediation")
    assert remediation is not None
    assert remediation.body == "```\n# restart\nsudo systemctl restart api\n```"
    assert problems == []


def test_tilde_fences_hide_headings_too_and_close_only_on_tildes() -> None:
    runbook, problems = parse(
        """\
        # T
        ## Error: E
        ## Root Causes
        1. A: a
        ## Remediation
        ~~~sh
        ```
        # still code
        ## Verification
        ~~~
        ## Verification
        Done.
        """
    )

    error = runbook.errors[0]
    assert [(s.kind, s.line) for s in error.sections] == [("root_causes", 3), ("remediation", 5), ("verification", 11)]
    remediation = error.section("remediation")
    assert remediation is not None
    assert remediation.body == "~~~sh\n```\n# still code\n## Verification\n~~~"
    assert [p.severity for p in problems] == ["warning"]  # only: no Symptoms


def test_a_longer_closing_fence_closes_and_a_shorter_one_does_not() -> None:
    runbook, _ = parse("# T\n## Error: E\n## Root Causes\n1. A: a\n## Fix\n````\n```\n# x\n`````\n## Checks\nok\n")

    assert [s.kind for s in runbook.errors[0].sections] == ["root_causes", "remediation", "verification"]


def test_an_html_comment_hides_the_headings_inside_it() -> None:
    runbook, _ = parse("# T\n## Error: E\n## Root Causes\n1. A: a\n<!--\n## Error: Draft\n-->\n")

    assert [e.name for e in runbook.errors] == ["E"]


# --- front matter -----------------------------------------------------------------------------------------------


def test_front_matter_gives_services_and_keywords_and_lines_still_count_from_the_top() -> None:
    runbook, problems = parse(
        """\
        ---
        services: [user-service, api-service]
        keywords:
          - postgres
          - pgbouncer
        owner: platform
        ---
        # Runbook: DB
        ## Error: E
        ## Symptoms
        - s
        ## Root Causes
        1. A: a
        """
    )

    assert runbook.services == ("user-service", "api-service")
    assert runbook.keywords == ("postgres", "pgbouncer")
    assert runbook.errors[0].line == 9
    assert runbook.errors[0].root_causes[0].line == 13
    assert problems == []


def test_broken_front_matter_is_reported_at_its_line_and_the_rest_is_still_parsed() -> None:
    result = parse_runbook(
        "---\nservices: [a, b\nkeywords: [x]\n---\n# T\n## Error: E\n## Root Causes\n1. A: a\n", "rb.md"
    )

    assert result.runbook is not None
    assert result.runbook.services == ()
    assert [c.name for c in result.runbook.errors[0].root_causes] == ["A"]
    (problem,) = [p for p in result.problems if "front matter" in p.message]
    assert problem.severity == "error"
    assert problem.line == 3
    assert problem.message.startswith("front matter is not valid YAML")


@pytest.mark.parametrize("yaml_text", ["- a\n- b", "just a string"])
def test_front_matter_that_is_not_a_mapping_is_an_error(yaml_text: str) -> None:
    result = parse_runbook(f"---\n{yaml_text}\n---\n# T\n## Error: E\n## Root Causes\n1. A: a\n", "rb.md")

    assert result.runbook is not None
    assert [(p.line, p.severity, p.message) for p in result.problems if "front matter" in p.message] == [
        (1, "error", "front matter must be a mapping such as `services: [api]`; it is ignored")
    ]


def test_front_matter_services_that_are_not_a_list_of_strings_are_reported_at_their_key() -> None:
    result = parse_runbook(
        "---\nkeywords: [x]\nservices: {a: 1}\n---\n# T\n## Error: E\n## Root Causes\n1. A: a\n", "r"
    )

    assert result.runbook is not None
    assert result.runbook.keywords == ("x",)
    assert result.runbook.services == ()
    assert (3, "error", "front matter `services` must be a list of strings; it is ignored") in [
        (p.line, p.severity, p.message) for p in result.problems
    ]


# --- broken files -----------------------------------------------------------------------------------------------


def test_a_file_without_an_h1_is_unusable() -> None:
    result = parse_runbook("Some text\n## Error: E\n## Symptoms\n- s\n## Root Causes\n1. A: a\n", "rb.md")

    assert result.runbook is None
    assert [str(p) for p in result.problems] == ["rb.md:1: error: missing H1 title; start with `# Runbook: <title>`"]


def test_a_file_without_an_error_section_is_unusable_and_reported_at_the_h1() -> None:
    result = parse_runbook("\n# Runbook: T\n## Root Causes\n1. A: a\n", "rb.md")

    assert result.runbook is None
    assert [(p.line, p.severity, p.message) for p in result.problems] == [
        (2, "error", "no `Error:` section; add a heading such as `## Error: ConnectionPoolTimeoutError`"),
        (3, "warning", "`## Root Causes` is not under an `Error:` heading, so it belongs to no error"),
    ]


def test_an_error_heading_without_its_colon_is_pointed_out() -> None:
    result = parse_runbook("# T\n## Error ConnectionPoolTimeoutError\n## Root Causes\n1. A: a\n", "rb.md")

    assert result.runbook is None
    assert any("line 2, `## Error ConnectionPoolTimeoutError`, needs the colon" in p.message for p in result.problems)


def test_an_unterminated_code_fence_is_an_error_at_the_fence() -> None:
    problems = messages(
        """\
        # T
        ## Error: E
        ## Root Causes
        1. A: a
        ## Remediation
        ```bash
        sudo systemctl restart api
        ## Verification
        """
    )

    assert (6, "error", "code fence is never closed; the rest of the file is code") in problems


def test_a_root_cause_without_a_name_is_an_error_at_its_line_and_the_others_are_kept() -> None:
    text = "# T\n## Error: E\n## Symptoms\n- s\n## Root Causes\n1. A: a\n2. Restart the database\n3. C: c\n"

    result = parse_runbook(text, "rb.md")

    assert result.runbook is not None
    assert [c.name for c in result.runbook.errors[0].root_causes] == ["A", "C"]
    assert [str(p) for p in result.problems] == ["rb.md:7: error: root cause has no name; write `N. Name: description`"]


def test_an_empty_name_before_the_colon_is_an_error() -> None:
    assert messages("# T\n## Error: E\n## Symptoms\n- s\n## Root Causes\n1. **:** nothing\n") == [
        (6, "error", "root cause has no name; write `N. Name: description`")
    ]


def test_duplicate_error_names_in_a_runbook_are_an_error_at_the_second() -> None:
    problems = messages(
        """\
        # T
        ## Error: E
        ## Symptoms
        - s
        ## Root Causes
        1. A: a
        ## Error: e
        ## Symptoms
        - s
        ## Root Causes
        1. B: b
        """
    )

    assert problems == [(7, "error", "duplicate error `e` (also at line 2)")]


def test_an_error_without_root_causes_is_an_error_at_its_heading() -> None:
    problems = messages("# T\n## Error: E\n## Symptoms\n- s\n## Remediation\nRestart.\n")

    assert problems == [(2, "error", "error `E` has no root causes (no `Root Causes` section)")]


def test_a_root_causes_section_with_prose_but_no_items_is_an_error_at_its_heading() -> None:
    problems = messages("# T\n## Error: E\n## Symptoms\n- s\n## Root Causes\nUsually traffic.\n")

    assert problems == [(5, "error", "Root Causes of error `E` lists no root cause; write `1. Name: description`")]


def test_empty_sections_are_warnings_except_an_empty_root_causes_which_is_an_error() -> None:
    problems = messages(
        """\
        # T
        ## Error: E
        ### Symptoms
        - s
        ### Root Causes

        ### Remediation
        ### Verification

        ### Long-Term Fixes
        ## Error: F
        ### Symptoms
        - s
        ### Root Causes
        1. A: a
        """
    )

    assert problems == [
        (5, "error", "empty section `### Root Causes`: list the root causes"),
        (7, "warning", "empty section `### Remediation`"),
        (8, "warning", "empty section `### Verification`"),
        (10, "warning", "empty section `### Long-Term Fixes`"),
    ]


def test_a_section_heading_before_any_error_is_a_warning() -> None:
    problems = messages("# T\n## Symptoms\n- s\n## Error: E\n### Symptoms\n- s\n### Root Causes\n1. A: a\n")

    assert problems == [(2, "warning", "`## Symptoms` is not under an `Error:` heading, so it belongs to no error")]


def test_an_error_without_symptoms_is_a_warning() -> None:
    assert messages("# T\n## Error: E\n## Root Causes\n1. A: a\n") == [
        (2, "warning", "error `E` has no Symptoms section; matching relies on it")
    ]


def test_the_same_root_cause_twice_in_an_error_is_a_warning() -> None:
    problems = messages("# T\n## Error: E\n## Symptoms\n- s\n## Root Causes\n1. A: a\n2. **a**: again\n")

    assert problems == [(7, "warning", "root cause `a` appears twice in error `E` (also at line 6)")]


def test_windows_line_endings_and_a_byte_order_mark_are_read_like_plain_lines() -> None:
    runbook, problems = parse(
        "\ufeff# Runbook: T\r\n## Error: E\r\n## Symptoms\r\n- s\r\n## Root Causes\r\n1. A: a\r\n"
    )

    assert runbook.heading == "# Runbook: T"
    assert [(c.name, c.description, c.line) for c in runbook.errors[0].root_causes] == [("A", "a", 6)]
    assert problems == []


# --- folders ----------------------------------------------------------------------------------------------------

GOOD = "# Runbook: {title}\n## Error: {error}\n## Symptoms\n- s\n## Root Causes\n1. A: a\n"


def test_load_runbooks_reads_every_markdown_file_below_the_folder_except_readmes(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text(GOOD.format(title="B", error="EB"), encoding="utf-8")
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "a.md").write_text(GOOD.format(title="A", error="EA"), encoding="utf-8")
    (tmp_path / "README.md").write_text("# Runbook format\nNo errors here.\n", encoding="utf-8")
    (tmp_path / "team" / "README.md").write_text("# Team notes\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not markdown", encoding="utf-8")

    runbooks, problems = load_runbooks(tmp_path)

    assert [(r.path, r.title) for r in runbooks] == [("b.md", "B"), ("team/a.md", "A")]
    assert problems == []


def test_load_runbooks_reports_unusable_and_non_utf8_files_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(GOOD.format(title="G", error="E"), encoding="utf-8")
    (tmp_path / "latin1.md").write_bytes("# Runbook: T\n## Error: Caf\xe9\n".encode("latin-1"))
    (tmp_path / "no-errors.md").write_text("# Runbook: Nothing yet\n", encoding="utf-8")

    runbooks, problems = load_runbooks(tmp_path)

    assert [r.path for r in runbooks] == ["good.md"]
    assert [(p.path, p.line, p.severity) for p in problems] == [("latin1.md", 2, "error"), ("no-errors.md", 1, "error")]
    assert problems[0].message.startswith("not UTF-8 text")


def test_the_same_error_in_two_runbooks_is_a_warning_at_the_later_one(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(GOOD.format(title="A", error="OOMKilled"), encoding="utf-8")
    (tmp_path / "b.md").write_text("\n" + GOOD.format(title="B", error="oomkilled"), encoding="utf-8")

    runbooks, problems = load_runbooks(tmp_path)

    assert len(runbooks) == 2
    assert [str(p) for p in problems] == ["b.md:3: warning: error `oomkilled` is also in a.md:2"]


def test_load_runbooks_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_runbooks(tmp_path / "missing")


# --- the runbooks in the repository -----------------------------------------------------------------------------


def _shipped() -> list[Path]:
    if not SHIPPED.is_dir():
        return []
    return sorted(p for p in SHIPPED.rglob("*.md") if p.name.lower() != "readme.md")


@pytest.mark.skipif(not _shipped(), reason="no runbooks in runbooks/ yet")
def test_every_shipped_runbook_parses_with_no_errors() -> None:
    runbooks, problems = load_runbooks(SHIPPED)

    assert [str(p) for p in problems if p.severity == "error"] == []
    assert len(runbooks) == len(_shipped())
    assert all(error.root_causes for runbook in runbooks for error in runbook.errors)


def _readme_example() -> str | None:
    readme = SHIPPED / "README.md"
    if not readme.is_file():
        return None
    m = re.search(r"^````markdown\n(.*?)^````$", readme.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)
    return m.group(1) if m else None


@pytest.mark.skipif(_readme_example() is None, reason="runbooks/README.md has no complete example yet")
def test_the_complete_example_of_the_format_readme_parses_as_it_says() -> None:
    text = _readme_example()
    assert text is not None

    runbook, problems = parse(text)

    assert runbook.title == "Search Cluster Problems"
    assert [e.name for e in runbook.errors] == ["ClusterRedStatus", "SlowQueries"]
    error = runbook.errors[0]
    assert citation(runbook, error, error.root_causes[1]) == (
        "`# Runbook: Search Cluster Problems` -> `## Error: ClusterRedStatus` -> `### Root Causes` -> "
        "`2. Disk Watermark: Nodes passed the flood-stage watermark and indices became read-only.`"
    )
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_an_error_heading_without_a_name_is_an_error_and_is_left_out() -> None:
    result = parse_runbook(
        "# T\n## Error:\n## Root Causes\n1. A: a\n## Error: F\n## Symptoms\n- s\n## Root Causes\n1. B: b\n", "r"
    )

    assert result.runbook is not None
    assert [e.name for e in result.runbook.errors] == ["F"]
    assert [(p.line, p.message) for p in result.problems] == [
        (2, "error heading has no name; write `## Error: <name>`")
    ]


def test_front_matter_that_is_never_closed_is_an_error_at_line_1() -> None:
    result = parse_runbook("---\nservices: [a]\n# T\n## Error: E\n## Symptoms\n- s\n## Root Causes\n1. A: a\n", "r")

    assert result.runbook is not None
    assert result.runbook.services == ()
    assert [(p.line, p.severity, p.message) for p in result.problems] == [
        (1, "error", "front matter is never closed with a `---` line; it is ignored")
    ]
