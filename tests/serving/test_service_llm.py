"""The service with LLM explanations (explain=openai) against a local chat-completions server:
explanations over HTTP, the time budget, grounding fallbacks, the monitor endpoint, Prometheus
metrics, the daily log and the web page's source label."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from recsys.explain.monitor import cost_usd
from tests.helpers_llm import Reply, movie_of, running_llm

KEY = "sk-service-test-91b2"
MODEL = "local_model"
PRICE = {"input": 2.0, "output": 8.0}
BUDGET = 5.0  # generous: the CI machine may be busy; the slow server below takes 8 s


@pytest.fixture(scope="module")
def llm():
    with running_llm() as fake:
        yield fake


@pytest.fixture(scope="module")
def llm_service(bentoml_home, llm, tmp_path_factory: pytest.TempPathFactory):
    """``bentoml serve`` with ``explain=openai`` pointed at the local server; yields (url, log_dir)."""
    from tests.helpers_bentoml import running_service

    folder = tmp_path_factory.mktemp("llm_service")
    settings = (
        f"explain=openai explain.provider.base_url={llm.url}/v1 explain.provider.model={MODEL} explain.budget_s={BUDGET} "
        f"explain.log_dir={folder / 'explain_logs'} '+explain.prices.{MODEL}={{input:{PRICE['input']},output:{PRICE['output']}}}'"
    )
    with running_service(bentoml_home, folder / "serve.log", RECSYS_SERVE=settings, OPENAI_API_KEY=KEY) as url:
        yield url, folder / "explain_logs", folder / "serve.log"


def post(url: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{url}{path}", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_recommendations_are_explained_by_the_llm_and_monitored(llm_service, llm) -> None:
    url, log_dir, serve_log = llm_service
    llm.reset()
    before = post(url, "/explain/monitor", {})
    answer = post(url, "/recommend", {"user_id": 1, "k": 10, "explain": True})
    assert [m["explanation_source"] for m in answer["items"]] == ["llm"] * 10, [m["explanation_fallback"] for m in answer["items"]]
    assert all(m["explanation_fallback"] is None and m["explanation"].startswith("You might enjoy") for m in answer["items"])
    again = post(url, "/recommend", {"user_id": 1, "k": 10, "explain": True})
    assert again["cached"] and [m["explanation"] for m in again["items"]] == [m["explanation"] for m in answer["items"]]
    profile = post(url, "/profile", {"ratings": [{"movie_id": m["movie_id"], "rating": 5.0} for m in answer["items"][:3]], "k": 5, "explain": True})
    assert {m["explanation_source"] for m in profile["items"]} == {"llm"}

    monitor = post(url, "/explain/monitor", {})
    sent = len(llm.requests)
    assert sent == llm.answered == 15
    assert monitor["provider"] == MODEL and monitor["generated"] - before["generated"] == 15
    assert monitor["llm_calls"] - before["llm_calls"] == 15 and monitor["fallbacks"] == before["fallbacks"]
    usage = monitor["models"][MODEL]
    assert usage["tokens_in"] - before.get("models", {}).get(MODEL, {}).get("tokens_in", 0) == llm.input_tokens
    assert usage["tokens_out"] - before.get("models", {}).get(MODEL, {}).get("tokens_out", 0) == llm.output_tokens
    assert monitor["cost_usd"] - before["cost_usd"] == pytest.approx(cost_usd({MODEL: PRICE}, MODEL, llm.input_tokens, llm.output_tokens))

    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    generated = re.search(rf'recsys_explain_generated_total\{{[^}}]*model="{MODEL}"[^}}]*\}} ([0-9.e+]+)', metrics)
    assert generated and float(generated.group(1)) == monitor["generated"], metrics[-2000:]
    events = [json.loads(line) for f in sorted(log_dir.glob("explain-*.jsonl")) for line in f.read_text().splitlines()]
    assert sum(e["event"] == "call" and e["accepted"] for e in events) == monitor["generated"]
    assert KEY not in serve_log.read_text() and all(KEY not in f.read_text() for f in log_dir.iterdir())


def test_a_slow_llm_never_slows_a_recommendation_past_the_budget(llm_service, llm) -> None:
    url, _, _ = llm_service
    plain = post(url, "/recommend", {"user_id": 3, "k": 10, "explain": False})  # warm the path
    llm.reset(lambda r: Reply(text=f"You might enjoy {movie_of(r)}.", delay=8.0))
    start = time.perf_counter()
    answer = post(url, "/recommend", {"user_id": 3, "k": 10, "explain": True})
    elapsed = time.perf_counter() - start
    assert elapsed < BUDGET + 0.8, f"the response took {elapsed:.2f} s with a {BUDGET} s explanation budget"
    assert [m["movie_id"] for m in answer["items"]] == [m["movie_id"] for m in plain["items"]]
    assert {(m["explanation_source"], m["explanation_fallback"]) for m in answer["items"]} == {("template", "budget")}
    assert not post(url, "/recommend", {"user_id": 3, "k": 10, "explain": True})["cached"]  # budget fallbacks are not cached


def test_hallucinations_fall_back_over_http(llm_service, llm) -> None:
    url, _, _ = llm_service
    llm.reset(lambda r: Reply(text=f"Steven Spielberg made {movie_of(r)} just for you."))
    answer = post(url, "/recommend", {"user_id": 5, "k": 3, "explain": True})
    for movie in answer["items"]:
        assert movie["explanation_source"] == "template" and movie["explanation_fallback"].startswith("rejected: names 'Steven Spielberg'")
        assert "Spielberg" not in movie["explanation"]


def test_the_page_says_who_wrote_each_explanation(llm_service, llm, browser) -> None:
    url, _, _ = llm_service
    llm.reset()
    personas = post(url, "/personas", {})["personas"]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
    page = context.new_page()
    page.goto("/ui/")
    expect(page.get_by_test_id("persona-list")).to_have_attribute("aria-busy", "false")
    page.get_by_test_id(f"persona-{personas[1]['key']}").click()
    expect(page.get_by_test_id("rec-source")).to_have_count(10)
    expect(page.get_by_test_id("results")).to_have_attribute("aria-busy", "false")
    assert page.get_by_test_id("rec-source").all_text_contents() == ["AI-written"] * 10
    llm.reset(lambda r: Reply(status=500, text="down"))
    page.get_by_test_id(f"persona-{personas[0]['key']}").click()
    expect(page.get_by_test_id("rec-source").first).to_have_text("template (AI error)")
    context.close()
