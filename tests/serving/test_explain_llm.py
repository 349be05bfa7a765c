"""LLM explanations through the real openai and anthropic clients against a local server:
grounded answers, every fallback path, the time budget, the cache, the monitor and secrecy of keys."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from recsys.explain.context import movie_label
from recsys.explain.build import build_explainer, build_monitor
from recsys.explain.monitor import cost_usd
from recsys.explain.template import TemplateExplainer
from recsys.serving.app import serve_config
from recsys.serving.bundle import ServingBundle
from recsys.serving.cache import MemoryCache, RedisCache
from tests.helpers_llm import Reply, grounded, movie_of, running_llm

KEY = "sk-test-7f3a9c-secret"
MODEL = "local_model"
PRICE = {"input": 2.0, "output": 8.0}


@pytest.fixture(scope="module")
def llm():
    with running_llm() as fake:
        yield fake


@pytest.fixture(scope="module")
def bundle(serving_bundle_path) -> ServingBundle:
    return ServingBundle.load(serving_bundle_path)


@pytest.fixture(scope="module")
def request_items(bundle):
    """A known user's ratings (oldest first) and ten unrated catalogue movies to explain."""
    history = bundle.history.sort_values("timestamp")
    mine = history[history["user_idx"] == 0]
    ratings = list(zip(mine["item_idx"].tolist(), mine["rating"].tolist()))
    unrated = [int(i) for i in bundle.catalog if i not in set(mine["item_idx"])][:10]
    return ratings, [(i, 1.0 - 0.01 * n) for n, i in enumerate(unrated)]


def make(provider: str, llm, bundle, monkeypatch, cache=None, **settings):
    """(PairExplainer, monitor) for ``explain=<provider>`` pointed at the local server."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    base = f"{llm.url}/v1" if provider == "openai" else llm.url
    overrides = [f"explain={provider}", f"explain.provider.base_url={base}", f"explain.provider.model={MODEL}",
                 f"+explain.prices.{MODEL}={{input: {PRICE['input']}, output: {PRICE['output']}}}"]
    settings = {"budget_s": 10.0, **settings}  # a busy CI machine must not turn other tests into budget tests
    overrides += [f"explain.{k}={v}" for k, v in settings.items()]
    cfg = serve_config(overrides)
    monitor = build_monitor(cfg.explain, prometheus=False)
    return build_explainer(cfg.explain, bundle, cache, monitor), monitor


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_each_provider_words_grounded_explanations(provider, llm, bundle, request_items, monkeypatch) -> None:
    llm.reset()
    explain, monitor = make(provider, llm, bundle, monkeypatch)
    ratings, scored = request_items
    out = explain(ratings, scored, "personal")
    assert [e.source for e in out] == ["llm"] * 10 and all(e.fallback is None for e in out)
    labels = [movie_of(r) for r in llm.requests]
    assert sorted(labels) == sorted({e.text.split("enjoy ")[1].split(" tonight")[0] for e in out})
    sent = llm.requests[0]
    assert sent["path"] == ("/v1/chat/completions" if provider == "openai" else "/v1/messages")
    assert sent["body"]["model"] == MODEL
    auth = sent["headers"].get("authorization", "") + sent["headers"].get("x-api-key", "")
    assert KEY in auth  # the key goes to the server, and nowhere else (test_keys_never_reach_logs_or_errors)
    prompt = sent["body"]["messages"][-1]["content"]
    assert "Facts:" in prompt and "score" not in prompt.lower() and "personal" not in prompt
    snap = monitor.snapshot()
    assert snap["generated"] == snap["llm_calls"] == llm.answered == 10 and snap["fallbacks"] == {}
    assert snap["models"][MODEL]["tokens_in"] == llm.input_tokens and snap["models"][MODEL]["tokens_out"] == llm.output_tokens
    assert snap["cost_usd"] == pytest.approx(cost_usd({MODEL: PRICE}, MODEL, llm.input_tokens, llm.output_tokens))


HALLUCINATIONS = {
    "another movie": "If you liked Titanic (1997), {movie} will be right up your street.",
    "a catalogue title": "Fans of Forrest Gump will find a lot to like in {movie}.",
    "a person": "{movie} is directed by Steven Spielberg, whose touch you will recognise.",
    "a genre": "{movie} is a wonderful western for a quiet evening.",
    "a score": "{movie} scored highly for you, so give it a go.",
    "an algorithm": "Our algorithm matched {movie} to your taste.",
}


@pytest.mark.parametrize("what", sorted(HALLUCINATIONS))
def test_hallucinating_answers_are_rejected_for_the_template(what, llm, bundle, request_items, monkeypatch) -> None:
    text = HALLUCINATIONS[what]
    llm.reset(lambda r: Reply(text=text.format(movie=movie_of(r))))
    explain, monitor = make("openai", llm, bundle, monkeypatch)
    ratings, scored = request_items
    scored = [s for s in scored if "Western" not in bundle.items.at[s[0], "genres"]][:3]
    out = explain(ratings, scored, "personal")
    template = TemplateExplainer()
    for e in out:
        assert e.source == "template" and e.fallback.startswith("rejected: ")
    assert [e.text for e in out] == [e.text for e in template.explain_many(explain.contexts(ratings, scored, "personal"))]
    assert monitor.snapshot()["fallbacks"] == {"rejected": 3} and monitor.snapshot()["generated"] == 0


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (Reply(status=500, text="internal error"), "error"),
        (Reply(status=429, text="rate limited"), "error"),
        (Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": MODEL,
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}}), "malformed"),
        (Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": MODEL, "choices": []}), "malformed"),
        (Reply(text="  "), "malformed"),
        (Reply(delay=4.0, text="too late"), "timeout"),  # past the client's timeout (1 s), within the budget
    ],
)
def test_failing_malformed_and_slow_answers_fall_back(reply, cause, llm, bundle, request_items, monkeypatch) -> None:
    llm.reset(lambda r: reply)
    timeout = 1.0 if cause == "timeout" else 8.0  # the others must not time out on a busy machine
    explain, monitor = make("openai", llm, bundle, monkeypatch, budget_s=10.0, **{"provider.timeout_s": timeout})
    ratings, scored = request_items
    out = explain(ratings, scored[:2], "personal")
    assert [(e.source, e.fallback.split(":")[0]) for e in out] == [("template", cause)] * 2
    assert monitor.snapshot()["fallbacks"] == {cause: 2} and monitor.snapshot()["llm_calls"] == 2


def test_budget_bounds_the_response_and_late_answers_fill_the_cache(llm, bundle, request_items, monkeypatch) -> None:
    ratings, scored = request_items
    labels = [movie_label(bundle.items.at[i, "title"], bundle.items.at[i, "year"]) for i, _ in scored]
    slow = set(labels[::2])

    def half_slow(request):  # half the movies answer at once, half after 3 s
        return Reply(text=grounded(request).text, delay=3.0 if movie_of(request) in slow else 0.05)

    llm.reset(half_slow)
    cache = MemoryCache()
    explain, monitor = make("openai", llm, bundle, monkeypatch, cache=cache, budget_s=1.0, **{"provider.timeout_s": 10})
    start = time.perf_counter()
    out = explain(ratings, scored, "personal")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0 + 0.5, f"10 explanations took {elapsed:.2f} s with a 1 s budget"
    sources = [e.source if e.source == "llm" else e.fallback for e in out]
    assert sources.count("llm") == 5 and sources.count("budget") == 5  # concurrent: sequential calls would exceed the budget
    keys = [explain.explainer.key(c) for c in explain.contexts(ratings, scored, "personal")]
    deadline = time.monotonic() + 30
    while not all(cache.get(k) for k in keys) and time.monotonic() < deadline:
        time.sleep(0.2)  # the slow answers arrive, are checked and cached
    again = explain(ratings, scored, "personal")
    assert all(e.source == "llm" and e.cached for e in again) and len(llm.requests) == 10
    snap = monitor.snapshot()
    assert snap["requests"] == 20 and snap["cache_hits"] == 10 and snap["cache_hit_rate"] == 0.5
    assert snap["generated"] == 10 and snap["fallbacks"] == {"budget": 5}
    assert snap["latency_mean_s"] >= 1.5 and snap["latency_p95_s"] >= 3.0


def test_redis_caches_explanations_by_profile_movie_model_and_prompt(llm, bundle, request_items, monkeypatch, redis_url) -> None:
    llm.reset()
    cache = RedisCache.from_url(redis_url, prefix="explaintest").namespace("v1")
    explain, monitor = make("anthropic", llm, bundle, monkeypatch, cache=cache)
    ratings, scored = request_items
    first = explain(ratings, scored[:4], "personal")
    second = explain(ratings, scored[:4], "personal")
    assert [e.text for e in first] == [e.text for e in second] and all(e.cached for e in second) and len(llm.requests) == 4
    explain(ratings[:-1], scored[:4], "personal")  # another profile: other keys
    assert len(llm.requests) == 8
    other_prompt, _ = make("anthropic", llm, bundle, monkeypatch, cache=cache, **{"prompt.version": "v1b"})
    other_prompt(ratings, scored[:4], "personal")
    assert len(llm.requests) == 12
    assert monitor.snapshot()["cache_hits"] == 4
    cache.flush()


def test_keys_never_reach_logs_or_errors(llm, bundle, request_items, monkeypatch, caplog) -> None:
    llm.reset(lambda r: Reply(status=401, text=f"invalid api key {r['headers'].get('authorization', '')}"))
    caplog.set_level(logging.DEBUG)
    explain, monitor = make("openai", llm, bundle, monkeypatch)
    ratings, scored = request_items
    out = explain(ratings, scored[:2], "personal")
    assert all(e.fallback == "error" for e in out)
    assert "401" in caplog.text  # the failure is logged ...
    assert KEY not in caplog.text and KEY not in json.dumps(monitor.snapshot()) and KEY not in repr(out)  # ... without the key


def test_missing_key_is_refused_at_start(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        serve_config(["explain=openai"])
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(ValueError, match="budget_s"):
        serve_config(["explain=openai", "explain.budget_s=0"])
    with pytest.raises(ValueError, match="unknown fields"):
        serve_config(["explain=openai", "explain.prompt.user='{facts} {score}'"])


def test_close_stops_the_pool(llm, bundle, request_items, monkeypatch) -> None:
    llm.reset()
    explain, _ = make("openai", llm, bundle, monkeypatch)
    ratings, scored = request_items
    assert explain(ratings, scored[:1], "personal")[0].source == "llm"
    explain.close()
    with pytest.raises(RuntimeError, match="shutdown"):
        explain(ratings, scored[1:2], "personal")
