"""The five raw signals, each on crafted events, and the text functions under them."""

from __future__ import annotations

import math

import pytest
from _vitals_events import Log, pressures, run

from soma_runtime.vitals import SIGNALS, ModelPrice, PressureUpdate, VitalsConfig, VitalsEngine, price_for
from soma_runtime.vitals import text as vtext


def last(log: Log, engine: VitalsEngine | None = None) -> PressureUpdate:
    return pressures(run(log.events, engine))[-1]


DRIFT = SIGNALS.index("drift")


def signal(update: PressureUpdate, name: str) -> float:
    return update.values[SIGNALS.index(name)]


def words(text: str) -> list[str]:
    return vtext.words(vtext.normalize(text))


# -- text ---------------------------------------------------------------------------------


def test_words_lower_case_split_on_punctuation_and_drop_apostrophes() -> None:
    assert words("Don't PANIC: the parser's tokenize() failed—again…") == [
        "dont", "panic", "the", "parsers", "tokenize", "failed", "again",
    ]  # fmt: skip
    assert words("café naïve 東京") == ["café", "naïve", "東京"]


@pytest.mark.parametrize(
    ("text", "hedges"),
    [
        ("The fix is in tokenize; the tests pass.", 0),
        ("Maybe the cache is stale.", 1),
        ("I think it might work, perhaps.", 3),
        ("I'm not sure. Try again, try again!", 3),
        ("It doesn't work and I have no idea why.", 2),
        ("Retry again with the notsure flag", 0),  # whole words and phrases only
        ("hmm hmm hmm", 3),
    ],
)
def test_hedge_lexicon(text: str, hedges: int) -> None:
    assert vtext.hedge_count(words(text)) == hedges


def test_features_are_stable_hashes_of_words_and_stems() -> None:
    parser, parsing = vtext.features(["parser"]), vtext.features(["parsing"])
    assert len(parser) == 2 and len(parser & parsing) == 1  # they share the stem "pars"
    assert vtext.features(["a", "b"]) == vtext.features(["b", "a", "a"])
    assert vtext.features(words("x " * 100)) == vtext.features(["x"])
    assert len(vtext.features([f"w{i}" for i in range(100)])) == vtext.VECTOR_WORDS


# -- uncertainty --------------------------------------------------------------------------


def test_uncertainty_is_weighted_hedge_density_over_at_least_fifty_words() -> None:
    long = "Maybe this works, I think. " + "The parser keeps the final token now. " * 8  # 61 words
    log = Log()
    log.llm(long)
    assert signal(last(log), "uncertainty") == 10.0 * 2 / 61
    short = Log()
    short.llm("Maybe this works, I think.")  # 5 words, 2 hedges: read as 2 in 50 words
    assert signal(last(short), "uncertainty") == 10.0 * 2 / 50


def test_uncertainty_counts_retried_failures_and_repeated_model_output() -> None:
    """Going round in circles: a call identical to one in the window whose last outcome was a
    failure, or the same model output again. Re-running what worked is how work is checked."""
    log = Log()
    log.tool("file_read", {"path": "a.py"})
    log.tool("file_read", {"path": "a.py"})  # re-read what worked: not a repeat
    assert signal(last(log), "uncertainty") == 0.0
    log.tool("pytest", {"k": "x"}, failed=True)
    log.tool("file_write", {"path": "a.py"})
    log.tool("pytest", {"k": "x"}, failed=True)  # retried what failed (an edit in between)
    assert signal(last(log), "uncertainty") == 1 / 10
    log.llm("Checking.")
    log.llm("Checking.")  # the same model output again
    assert signal(last(log), "uncertainty") == 2 / 10


def test_the_same_failing_call_again_and_again_counts_twice() -> None:
    """A stuck call — failed, identical to the agent's previous tool call, which failed —
    is a repeat and stuck: a retry storm reads 2.0 once it fills the window."""
    log = Log()
    log.command("install", {}, failed=True)
    log.llm("Running it once more.")  # model calls in between do not unstick it
    log.command("install", {}, failed=True)
    assert signal(last(log), "uncertainty") == 2 / 10
    for _ in range(12):
        log.command("install", {}, failed=True)
    assert signal(last(log), "uncertainty") == 2.0
    log.command("install", {})  # it works: a retry of what failed, not stuck
    assert signal(last(log), "uncertainty") == 1.9


def test_a_repeat_leaves_with_its_window() -> None:
    log = Log()
    log.tool("file_read", {"path": "a.py"}, failed=True)
    log.tool("file_read", {"path": "a.py"}, failed=True)
    for i in range(10):
        log.tool("file_read", {"path": f"other{i}.py"})
    assert signal(last(log), "uncertainty") == 0.0


def test_argument_order_does_not_make_a_different_call() -> None:
    log = Log()
    log.tool("text_grep", {"pattern": "x", "path": "a.py"}, failed=True)
    log.tool("text_grep", {"path": "a.py", "pattern": "x"}, failed=True)
    assert signal(last(log), "uncertainty") == 2 / 10  # a repeat, and stuck


# -- drift --------------------------------------------------------------------------------


def test_drift_has_a_reading_with_an_intent_and_three_different_calls() -> None:
    log = Log()
    log.llm("Something entirely unrelated to anything.")
    assert not last(log).measured[DRIFT]  # no intent: nothing to drift from
    log = Log()
    log.start_session("Fix the parser tokenizer")
    log.llm("Reading the parser.")
    for _ in range(6):
        log.tool("file_read", {"path": "parser.py"}, failed=True)
    assert not last(log).measured[DRIFT]  # two different calls, however many times
    log.tool("file_read", {"path": "tokenizer.py"})
    assert last(log).measured[DRIFT]


def test_function_words_and_argument_names_carry_no_meaning() -> None:
    log = Log()
    log.start_session("Fix the parser and the tokenizer")
    log.tool("lookup", {"path": "the and of"})  # shares only function words with the intent
    assert signal(last(log), "drift") == 1.0
    log = Log()
    log.start_session("the path of the pattern")
    log.tool("search", {"pattern": "weather", "path": "forecast"})  # argument names only
    assert signal(last(log), "drift") == 1.0


def test_drift_is_zero_on_intent_and_one_off_it() -> None:
    log = Log()
    log.start_session("Fix the parser tokenizer")
    log.llm("Fix the parser tokenizer")
    assert signal(last(log), "drift") == 0.0
    other = Log()
    other.start_session("Fix the parser tokenizer")
    other.llm("Quarterly revenue grew sharply")
    assert signal(last(other), "drift") == 1.0


def test_drift_is_one_minus_cosine_of_intent_and_window_vectors() -> None:
    intent, a, b = "fix parser tokenizer", "read parser", "read tests"
    log = Log()
    log.start_session(intent)
    log.llm(a)
    log.llm(b)
    i = vtext.features(words(intent))
    fa, fb = vtext.features(words(a)), vtext.features(words(b))
    window = {bucket: (bucket in fa) + (bucket in fb) for bucket in fa | fb}
    dot = sum(count for bucket, count in window.items() if bucket in i)
    cosine = dot / math.sqrt(len(i) * sum(c * c for c in window.values()))
    assert signal(last(log), "drift") == pytest.approx(1.0 - cosine, abs=1e-15)


def test_intent_falls_back_to_the_first_task_text() -> None:
    log = Log()
    log.start_session(None)
    log.add("actor.task.started", {"text": "Summarise the quarterly revenue report"})
    log.add("actor.task.started", {"text": "Something else entirely"})  # only the first one
    log.llm("Summarise the quarterly revenue report")
    assert signal(last(log), "drift") == 0.0


def test_drift_follows_the_window() -> None:
    log = Log()
    log.start_session("parser tokenizer")
    for _ in range(10):
        log.llm("weather forecast sunshine")
    assert signal(last(log), "drift") == 1.0
    for _ in range(10):
        log.llm("parser tokenizer")
    assert signal(last(log), "drift") == 0.0


# -- error_rate ---------------------------------------------------------------------------


def test_error_rate_is_failures_among_the_last_ten_calls() -> None:
    log = Log()
    log.tool("file_read", {"path": "a"}, failed=True)
    assert signal(last(log), "error_rate") == 0.1  # out of ten, even before ten calls
    log.llm("x", failed=True)  # a failed model call is a failed call too
    log.tool("file_read", {"path": "b"})
    assert signal(last(log), "error_rate") == 0.2
    for i in range(8):
        log.tool("file_read", {"path": f"c{i}"})
    assert signal(last(log), "error_rate") == 0.1
    log.tool("file_read", {"path": "d"})
    assert signal(last(log), "error_rate") == 0.0


def test_successful_model_calls_do_not_dilute_the_failure_ratio() -> None:
    """A storm in an agent loop: a model call, then the failing tool, ten times — every call
    that could fail failed, whatever the model calls in between."""
    log = Log()
    for _ in range(10):
        log.llm("Trying the build again.")
        log.command("build", {}, failed=True)
    assert signal(last(log), "error_rate") == 1.0


def test_signals_without_a_reading() -> None:
    """Tokens and cost have readings once a model call reported them; error_rate once the
    agent made a call that could fail."""
    log = Log()
    log.tool("file_read", {"path": "a"})
    assert last(log).measured == (True, False, True, False, False)
    log = Log()
    log.llm("ok", input_tokens=100, output_tokens=10, cost_usd=0.0, model="house-model")  # unpriced
    assert last(log).measured == (True, False, False, True, False)
    log.llm("ok", input_tokens=100, output_tokens=10, cost_usd=0.01)
    log.tool("file_read", {"path": "a"})  # from now on a window of tool calls reads 0 tokens
    assert last(log).measured == (True, False, True, True, True)
    payload = last(log).payload()
    assert (
        set(payload["signal_pressures"])
        == set(payload["z"])
        == {"uncertainty", "error_rate", "token_usage", "cost"}
    )
    assert set(payload["signals"]) == set(SIGNALS)


# -- token_usage and cost -----------------------------------------------------------------


def test_token_usage_is_tokens_per_action_in_the_window() -> None:
    log = Log()
    log.add(
        "llm.succeeded",
        {
            "model": "m",
            "text": "ok",
            "usage": {
                "input_tokens": 1000,  # 50 of them read from the cache, 50 written to it
                "output_tokens": 200,
                "cache_read_tokens": 50,
                "cache_write_tokens": 50,
            },
        },
    )
    assert signal(last(log), "token_usage") == 1200.0
    log.tool("file_read", {"path": "a"})  # tool calls use no tokens
    assert signal(last(log), "token_usage") == 600.0


def test_malformed_usage_counts_nothing() -> None:
    log = Log()
    log.add("llm.succeeded", {"text": "ok", "usage": {"input_tokens": -5, "output_tokens": "many"}})
    log.add("llm.succeeded", {"text": "ok", "usage": "lots"})
    assert signal(last(log), "token_usage") == 0.0


def test_cost_from_the_price_table_when_none_is_reported() -> None:
    log = Log()
    log.llm("ok", model="claude-3-5-sonnet-20241022", input_tokens=10_000, output_tokens=2_000)
    # Longest-prefix entry "claude-3-5-sonnet": $3 in, $15 out per million tokens.
    assert signal(last(log), "cost") == pytest.approx(0.03 + 0.03)


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("claude-opus-4-5-20251101", ModelPrice(5.0, 25.0, 0.5, 6.25)),  # not claude-opus-4's $15
        ("claude-opus-4-1-20250805", ModelPrice(15.0, 75.0, 1.5, 18.75)),
        ("claude-sonnet-4-5-20250929", ModelPrice(3.0, 15.0, 0.3, 3.75)),
        ("claude-haiku-4-5-20251001", ModelPrice(1.0, 5.0, 0.1, 1.25)),
        ("gpt-5-mini-2025-08-07", ModelPrice(0.25, 2.0, 0.025)),  # not gpt-5's
        ("gpt-5-pro", ModelPrice(15.0, 120.0)),
        ("o3-pro-2025-06-10", ModelPrice(20.0, 80.0)),  # not o3's
        ("o3-2025-04-16", ModelPrice(2.0, 8.0, 0.5)),
    ],
)
def test_a_family_member_priced_differently_has_its_own_longer_prefix(model: str, price: ModelPrice) -> None:
    assert price_for(model) == price


def test_an_unknown_model_has_no_price() -> None:
    assert price_for("house-model") is None and price_for(None) is None


def test_a_reported_cost_wins() -> None:
    log = Log()
    log.llm("ok", model="claude-3-5-sonnet-20241022", input_tokens=10_000, cost_usd=0.5)
    log.tool("file_read", {"path": "a"})
    assert signal(last(log), "cost") == 0.25


def test_users_can_override_the_price_table() -> None:
    config = VitalsConfig(prices={"house-model": ModelPrice(input=1.0, output=2.0, cache_read=0.5)})
    log = Log()
    log.add(
        "llm.succeeded",
        {
            "model": "house-model-v2",
            "text": "ok",
            "usage": {"input_tokens": 3000, "output_tokens": 1000, "cache_read_tokens": 2000},
        },
    )
    log.llm("ok", model="claude-3-5-sonnet-20241022")  # not in this table: no cost
    update = last(log, VitalsEngine(config))
    assert signal(update, "cost") == pytest.approx((0.001 + 0.002 + 0.001) / 2)


def test_prices_and_config_are_validated() -> None:
    with pytest.raises(ValueError, match="input"):
        ModelPrice(-1.0, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        VitalsConfig(alpha=0.0)
    with pytest.raises(ValueError, match="baselines"):
        VitalsConfig(baselines={"drift": (0.5, 0.1)})
    with pytest.raises(ValueError, match="window"):
        VitalsConfig(window=0)
