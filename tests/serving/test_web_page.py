"""The web page at ``/ui`` end to end: a real ``bentoml serve`` and headless Chromium.

Debian's ``chromium`` package driven by Playwright (the ``browser`` fixture of conftest.py);
``.ci/run`` installs it, and the tests fail, not skip, without it. What the page shows is compared
with the API's answer to the same request. ``RECSYS_UPDATE_SCREENSHOT=1`` rewrites
``experiments/serving_ui.png`` (the README's picture of the page).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

import recsys
from recsys.explain.context import display_title

SCREENSHOT = recsys.REPO_ROOT / "experiments" / "serving_ui.png"
FIRST, MORE = [5.0, 4.5, 4.0, 5.0, 3.5], [4.0, 2.5, 5.0, 3.0, 4.5]


@pytest.fixture
def page(browser: Browser, service_url: str) -> Iterator[Page]:
    """The page at /ui/ (1280x800) once its personas and onboarding movies are in; fails on a JS error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=service_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/ui/")
    expect(page.get_by_test_id("persona-list")).to_have_attribute("aria-busy", "false")
    expect(page.get_by_test_id("onboarding-list")).to_have_attribute("aria-busy", "false")
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def post(service_url: str, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = httpx.post(f"{service_url}{path}", json=body, timeout=60)
    assert response.status_code == status, response.text
    return response.json()


def settle(page: Page) -> None:
    """Wait for the request a click started (the page marks the results busy before it fetches)."""
    expect(page.get_by_test_id("results")).to_have_attribute("aria-busy", "false")


def shown(page: Page, item: str = "rec-item") -> list[int]:
    return [int(i) for i in page.get_by_test_id(item).evaluate_all("els => els.map(e => e.dataset.movieId)")]


def titles(page: Page, title: str = "rec-title") -> list[str]:
    return page.get_by_test_id(title).all_text_contents()


def expected_titles(answer: dict[str, Any]) -> list[str]:
    return [display_title(m["title"]) for m in answer["items"]]


def rate(page: Page, ratings: dict[int, float]) -> None:
    for movie_id, rating in ratings.items():
        page.get_by_test_id(f"rating-select-{movie_id}").select_option(f"{rating:.1f}")


def test_onboarding_ratings_give_recommendations(page: Page, service_url: str) -> None:
    onboarding = shown(page, "onboarding-movie")
    assert len(onboarding) == len(post(service_url, "/onboarding", {})["movies"]) >= 10
    first = dict(zip(onboarding[:5], FIRST))
    rate(page, dict(list(first.items())[:4]))
    last = onboarding[4]
    page.get_by_test_id(f"star-{last}-3.5").click()  # the stars set the same rating as the select
    expect(page.get_by_test_id(f"rating-select-{last}")).to_have_value("3.5")
    expect(page.get_by_test_id("rated-count")).to_have_text("5 rated")

    with page.expect_request("**/profile"):
        page.get_by_test_id("recommend-button").click()
    settle(page)
    body = {"ratings": [{"movie_id": m, "rating": r} for m, r in first.items()], "k": 10, "explain": True}
    answer = post(service_url, "/profile", body)
    assert len(shown(page)) == 10 and not set(shown(page)) & set(first)
    expect(page.get_by_test_id("tier-banner")).to_have_attribute("data-tier", answer["tier"])
    expect(page.get_by_test_id("tier")).to_have_text(answer["tier"])
    expect(page.get_by_test_id("n-ratings")).to_have_text("5")
    expect(page.get_by_test_id("tier-explanation")).to_contain_text("5 rating")
    assert titles(page)[:5] == expected_titles(answer)[:5]
    expect(page.get_by_test_id("rec-explanation")).to_have_count(10)
    assert all(text.strip() for text in page.get_by_test_id("rec-explanation").all_text_contents())
    assert all(text.strip() for text in page.get_by_test_id("rec-source").all_text_contents())

    more = dict(zip(onboarding[5:10], MORE))
    rate(page, more)
    with page.expect_request("**/profile/rate"):  # the page keeps its profile and adds the new ratings
        page.get_by_test_id("recommend-button").click()
    settle(page)
    body["ratings"] += [{"movie_id": m, "rating": r} for m, r in more.items()]
    answer = post(service_url, "/profile", body)
    expect(page.get_by_test_id("n-ratings")).to_have_text("10")
    expect(page.get_by_test_id("tier")).to_have_text(answer["tier"])
    assert len(shown(page)) == 10 and not set(shown(page)) & (set(first) | set(more))
    assert titles(page)[:5] == expected_titles(answer)[:5]

    page.get_by_test_id("similar-button").first.click()
    settle(page)
    expect(page.get_by_test_id("similar-item")).to_have_count(10)
    if os.environ.get("RECSYS_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_persona_shows_its_recommendations(page: Page, service_url: str) -> None:
    personas = post(service_url, "/personas", {})["personas"]
    assert len(personas) >= 2
    for persona in personas[:2]:
        page.get_by_test_id(f"persona-{persona['key']}").click()
        settle(page)
        answer = post(service_url, "/recommend", {"user_id": persona["user_id"], "k": 10, "explain": True})
        expect(page.get_by_test_id("persona-description")).to_have_text(persona["description"])
        expect(page.get_by_test_id(f"persona-{persona['key']}")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("tier")).to_have_text("personal")
        expect(page.get_by_test_id("n-ratings")).to_have_text(str(answer["n_ratings"]))
        assert shown(page) == [m["movie_id"] for m in answer["items"]]
        assert titles(page) == expected_titles(answer)


def test_clicking_a_recommendation_shows_similar_movies(page: Page, service_url: str) -> None:
    persona = post(service_url, "/personas", {})["personas"][0]
    page.get_by_test_id(f"persona-{persona['key']}").click()
    settle(page)
    movie_id = shown(page)[1]
    page.get_by_test_id("rec-open").nth(1).click()
    settle(page)
    answer = post(service_url, "/similar", {"movie_id": movie_id, "k": 10})
    expect(page.get_by_test_id("similar-panel")).to_be_visible()
    expect(page.get_by_test_id("similar-heading")).to_contain_text(titles(page)[1])
    assert shown(page, "similar-item") == [m["movie_id"] for m in answer["items"]]
    assert titles(page, "similar-title") == expected_titles(answer)

    following = shown(page, "similar-item")[0]  # a similar movie's own similar movies
    page.get_by_test_id("similar-title").first.click()
    settle(page)
    answer = post(service_url, "/similar", {"movie_id": following, "k": 10})
    assert shown(page, "similar-item") == [m["movie_id"] for m in answer["items"]]


def test_api_errors_are_shown(page: Page, service_url: str) -> None:
    persona = post(service_url, "/personas", {})["personas"][0]
    alert = page.get_by_role("alert")
    page.get_by_test_id("filter-year-min").fill("2000")
    page.get_by_test_id("filter-year-max").fill("1990")
    page.get_by_test_id(f"persona-{persona['key']}").click()
    settle(page)
    error = post(service_url, "/recommend", {"user_id": persona["user_id"], "year_min": 2000, "year_max": 1990}, status=400)
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(error[0]["error"])

    page.get_by_test_id("filter-year-min").fill("1800")  # a validation error: its detail is shown
    page.get_by_test_id("filter-apply").click()
    settle(page)
    expect(alert).to_contain_text("year_min: Input should be greater than or equal to 1870")

    page.get_by_test_id("filter-year-min").fill("")
    page.get_by_test_id("filter-year-max").fill("")
    page.route("**/recommend", lambda route: route.fulfill(status=404, json=[{"error": "unknown user_id 5"}]))
    page.get_by_test_id(f"persona-{persona['key']}").click()
    settle(page)
    expect(alert).to_have_text("unknown user_id 5 (HTTP 404)")

    page.unroute("**/recommend")
    page.get_by_test_id("filter-apply").click()  # the next answer clears the alert
    settle(page)
    expect(alert).to_be_hidden()
    assert len(shown(page)) == 10
