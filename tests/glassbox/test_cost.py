"""glassbox.cost: a price only where the price list knows the model and the usage, and never a guess."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from glassbox import conventions as c
from glassbox import cost


def test_cost_never_guesses() -> None:
    assert cost.price("openai", "gpt-4o", cost.Usage()).status == c.COST_STATUS_MISSING_USAGE
    assert cost.price("someone", "gpt-4o", cost.Usage(input_tokens=1)).status == c.COST_STATUS_UNKNOWN_PROVIDER
    assert cost.price("openai", None, cost.Usage(input_tokens=1)).status == c.COST_STATUS_UNKNOWN_MODEL
    assert cost.price("openai", "gpt-4o", cost.Usage(input_tokens=1_000_000)).usd == pytest.approx(2.5)
    assert cost.Usage.from_attributes({c.GEN_AI_USAGE_INPUT_TOKENS: -5, c.GEN_AI_USAGE_OUTPUT_TOKENS: True}).empty
    # deprecated spellings are still read
    assert cost.Usage.from_attributes({"gen_ai.usage.prompt_tokens": 7}).input_tokens == 7


FLAT_MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "text-embedding-3-small"),
               ("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4.1-mini")]  # fmt: skip


@hyp_settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(FLAT_MODELS),
    tokens_in=st.integers(0, 2_000_000),
    tokens_out=st.integers(0, 500_000),
    cached=st.integers(0, 2_000_000),
    written=st.integers(0, 2_000_000),
)
def test_flat_price_shortcut_matches_genai_prices(
    model: tuple[str, str], tokens_in: int, tokens_out: int, cached: int, written: int
) -> None:
    provider, name = model
    usage = cost.Usage(input_tokens=tokens_in, output_tokens=tokens_out, cache_read_tokens=cached,
                       cache_write_tokens=written)  # fmt: skip
    cost.price(provider, name, cost.Usage(input_tokens=1))  # make sure the shortcut exists
    assert cost._cards[(c.PROVIDER_PRICE_IDS[provider], name, cost.datetime.now(cost.UTC).date())] is not None
    fast = cost.price(provider, name, usage)
    try:
        full = float(cost._calc(c.PROVIDER_PRICE_IDS[provider], name, usage, cost.datetime.now(cost.UTC)).total_price)
    except Exception:
        assert fast.status == c.COST_STATUS_ERROR
        return
    assert fast.status == c.COST_STATUS_PRICED
    assert fast.usd == pytest.approx(full, rel=1e-12, abs=1e-15)


def test_conditional_and_tiered_prices_take_the_full_path() -> None:
    cost.price("anthropic", "claude-sonnet-4-5", cost.Usage(input_tokens=1))  # tiered
    cost.price("deepseek", "deepseek-chat", cost.Usage(input_tokens=1))  # time-of-day prices
    today = cost.datetime.now(cost.UTC).date()
    assert cost._cards[("anthropic", "claude-sonnet-4-5", today)] is None
    assert cost._cards[("deepseek", "deepseek-chat", today)] is None
