"""What responders wrote goes into the report as text: it can neither ping anyone nor break the document."""

from __future__ import annotations

import re

from bot.reports import ReportInput, build_report, from_slack, render_html, render_markdown, slack_safe, summary_blocks
from bot.reports.text import ZWSP, code, md_inline, rich

from .test_report_build import entry, example_input, section

INJECTION = (
    "<!channel> <!here|here> <@U1> <@U2|bob> in <#C1|ops>: | broken | table\n"
    "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; </script> {{ 7*7 }} {% if true %}x{% endif %} "
    "[click](javascript:alert(1)) ![img](https://evil.example/x.png) @everyone &lt;!channel&gt; "
    "<https://status.example.com|status page> ```@here <@U9>```"
)


def injected_input() -> ReportInput:
    timeline = (
        entry(1, ("impact",), INJECTION),
        entry(2, ("finding",), INJECTION),
        entry(3, ("action_taken",), INJECTION),
        entry(4, ("verification",), INJECTION),
        entry(5, ("note",), INJECTION, source="note"),
    )
    return example_input(timeline=timeline, user_names={"U1": "Ann"})


def test_slack_markup_becomes_plain_text_with_names() -> None:
    converted = from_slack("<@U1> and <@U2|bob> in <#C1|ops> &amp; <#C2>, see <https://x.example/a?b=1&amp;c=2|docs>",
                           {"U1": "Ann"})  # fmt: skip

    assert converted == "@Ann and @bob in #ops & #C2, see docs (https://x.example/a?b=1&c=2)"


def test_broadcasts_and_group_mentions_become_plain_words() -> None:
    converted = from_slack("<!channel> <!here> <!everyone> <!subteam^S1|@oncall> <!date^1392734382^{date}|Feb 18>")

    assert converted == "@channel @here @everyone @oncall Feb 18"


def test_bare_links_keep_their_address_once() -> None:
    assert from_slack("<https://x.example> <https://y.example|y.example> <mailto:a@b.example|a@b.example>") == (
        "https://x.example https://y.example a@b.example"
    )


def test_nothing_in_the_markdown_report_can_ping_or_run() -> None:
    markdown = render_markdown(build_report(injected_input()))

    assert "<!" not in markdown
    assert "<@" not in markdown
    assert "<#" not in markdown
    assert "</script>" not in markdown
    assert "<script>" not in markdown
    assert re.search(r"@(here|channel|everyone)", markdown) is None
    assert f"@{ZWSP}channel @{ZWSP}here" in markdown
    assert f"@{ZWSP}everyone" in markdown
    assert "49" not in markdown
    assert "{{ 7\\*7 }}" in markdown  # shown as written, not evaluated
    assert re.search(r"(?<!\\)\]\(", markdown) is None  # no link or image can form
    assert "\\[click\\](javascript:alert(1))" in markdown
    assert "@Ann @bob in #ops" in markdown
    assert "status page (https://status.example.com)" in markdown


def test_pipes_and_newlines_cannot_break_the_timeline_table() -> None:
    timeline = section(render_markdown(build_report(injected_input())), "## 4. Timeline")

    rows = [line for line in timeline.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 5
    assert all(row.endswith("|") for row in rows)
    assert {len(re.findall(r"(?<!\\)\|", row)) for row in rows} == {5}
    assert "\\| broken \\| table<br>" in rows[2]


def test_nothing_in_the_html_report_can_ping_or_run() -> None:
    page = render_html(build_report(injected_input()))

    body = page[page.index("<body>") :]
    assert "<script" not in body
    assert "</script>" not in body
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;/script&gt;" in body
    assert "<!" not in body
    assert "<@" not in body
    assert re.search(r"@(here|channel|everyone)", body) is None
    assert "49" not in body
    assert "{{ 7*7 }}" in body
    assert "href=" not in body
    assert "<img" not in body


def test_the_slack_summary_cannot_ping_either() -> None:
    data = example_input(timeline=(entry(1, ("impact",), INJECTION), entry(3, ("action_taken",), INJECTION)))

    blocks = summary_blocks(build_report(data))

    texts = str(blocks)
    assert "<!" not in texts
    assert "<@" not in texts
    assert "<#" not in texts
    assert re.search(r"@(here|channel|everyone)", texts) is None


def test_slack_safe_escapes_what_slack_would_read_as_markup() -> None:
    assert slack_safe("a & b <!channel> <@U1> > @here @Channel") == (
        f"a &amp; b &lt;!channel&gt; &lt;@U1&gt; &gt; @{ZWSP}here @{ZWSP}Channel"
    )


def test_markdown_escaping_keeps_words_readable() -> None:
    assert md_inline("MAX_CONNECTIONS is _not_ *set* [x] ~y~ a\\b") == (
        "MAX_CONNECTIONS is \\_not\\_ \\*set\\* \\[x\\] \\~y\\~ a\\\\b"
    )
    assert md_inline(rich("run `a | b` now"), cell=True) == "run `a \\| b` now"
    assert md_inline((code("a`b"),)) == "``a`b``"
