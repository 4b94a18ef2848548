"""The web view's templates rendered alone (bot/web/templates), for what a browser test could only reach slowly."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader

from bot.storage.web import IncidentFilter, Page


def incidents_page(page: Page) -> str:
    templates = Environment(loader=PackageLoader("bot.web", "templates"), autoescape=True)
    templates.globals.update(prefix="/web", app_name="Incident bot")
    templates.filters["when"] = str
    return templates.get_template("incidents.html.j2").render(
        session=None,
        page=page,
        wanted=IncidentFilter(text="timeout"),
        filtered=True,
        statuses=[],
        status_label={},
        severities=[],
        root_causes=[],
        severity_label=str,
        older=None,
        newest="/web/incidents",
        first_page=True,
    )


def test_a_search_counted_to_its_cap_says_more_than_that_many_incidents_match() -> None:
    html = incidents_page(Page(items=(), next_cursor=None, total=500, total_capped=True))

    assert '<p class="meta" id="total">More than 500 incidents match</p>' in html


def test_a_search_counted_in_full_says_how_many_incidents_match() -> None:
    html = incidents_page(Page(items=(), next_cursor=None, total=1))

    assert '<p class="meta" id="total">1 incident matches</p>' in html
