"""The trends page's charts (bot/web/charts.py): SVG with a bar or a point per value, labels escaped."""

from __future__ import annotations

from xml.etree import ElementTree

from bot.web.charts import Series, bar_chart, duration_unit, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_a_bar_chart_has_one_bar_per_item_longest_for_the_largest() -> None:
    svg = ElementTree.fromstring(str(bar_chart("c", "Causes", [("Disk full", 4.0), ("DNS", 1.0)])))

    bars = svg.findall(f"{SVG}rect[@class='bar']")

    assert len(bars) == 2
    assert float(bars[0].get("width", "0")) > float(bars[1].get("width", "0"))


def test_labels_are_escaped_so_markup_in_them_stays_text() -> None:
    markup = str(bar_chart("c", "<b>t</b>", [("<script>alert(1)</script>", 1.0)]))

    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    assert "<b>" not in markup
    ElementTree.fromstring(markup)  # still well-formed SVG


def test_a_line_chart_breaks_where_a_month_has_no_value_and_marks_each_value() -> None:
    chart = line_chart(
        "l",
        "Resolve",
        ["2026-01", "2026-02", "2026-03", "2026-04"],
        [Series("median", "#000", (1.0, 2.0, None, 3.0))],
        unit="minutes",
    )
    svg = ElementTree.fromstring(str(chart))

    assert len(svg.findall(f"{SVG}circle[@class='point']")) == 3
    assert len(svg.findall(f"{SVG}polyline[@class='line']")) == 1  # the lone last point has no line
    assert "minutes" in "".join(svg.itertext())


def test_an_empty_range_says_so_instead_of_drawing() -> None:
    assert "Nothing in this range" in str(bar_chart("c", "Causes", []))
    assert "Nothing in this range" in str(
        line_chart("l", "Ack", ["2026-01"], [Series("p90", "#000", (None,))], unit="minutes")
    )


def test_durations_are_shown_in_hours_only_when_the_longest_is_over_two_hours() -> None:
    assert duration_unit([600.0, None]) == ("minutes", 60.0)
    assert duration_unit([3 * 3600.0]) == ("hours", 3600.0)
