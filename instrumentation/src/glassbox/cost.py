"""USD cost of one model call, computed offline with the prices compiled into ``genai-prices``.

No network is used and nothing is guessed: an unknown provider or model, or a call without usage, gives
no cost and a reason, which the caller counts in ``glassbox.gen_ai.cost.unpriced``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.metadata import version
from typing import Any

from glassbox import conventions as c

PRICE_SOURCE = f"genai-prices=={version('genai-prices')}"


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None

    @property
    def empty(self) -> bool:
        return self.input_tokens is None and self.output_tokens is None

    def with_cache_in_input(self) -> Usage:
        """This usage with the cached input tokens counted in the input (for a report that left them out)."""
        cached = (self.cache_read_tokens or 0) + (self.cache_write_tokens or 0)
        if not cached:
            return self
        return replace(self, input_tokens=(self.input_tokens or 0) + cached)

    @classmethod
    def from_attributes(cls, attributes: Any) -> Usage:
        def read(name: str) -> int | None:
            value = c.attribute(attributes, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                return None
            return int(value)

        return cls(
            input_tokens=read(c.GEN_AI_USAGE_INPUT_TOKENS),
            output_tokens=read(c.GEN_AI_USAGE_OUTPUT_TOKENS),
            cache_read_tokens=read(c.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
            cache_write_tokens=read(c.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        )


@dataclass(frozen=True)
class Cost:
    status: str
    usd: float | None = None
    price_date: str | None = None


@dataclass(frozen=True)
class _FlatCard:
    """Per-million-token prices of a model whose prices do not depend on volume (no tiers)."""

    input: Decimal
    output: Decimal | None
    cache_read: Decimal | None
    cache_write: Decimal | None

    def total(self, usage: Usage) -> Decimal | None:
        tokens_in = usage.input_tokens or 0
        cache_read = usage.cache_read_tokens or 0
        cache_write = usage.cache_write_tokens or 0
        if cache_read + cache_write > tokens_in:
            return None  # invalid usage: genai-prices decides what to say
        total = (tokens_in - cache_read - cache_write) * self.input
        if self.output is not None:
            total += (usage.output_tokens or 0) * self.output
        total += cache_read * (self.cache_read if self.cache_read is not None else self.input)
        total += cache_write * (self.cache_write if self.cache_write is not None else self.input)
        return total / _MILLION


_MILLION = Decimal(1_000_000)
_TOKEN_PRICES = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
# (provider id, model ref, day) -> the flat card, or None when the model's prices have tiers or conditions
_cards: dict[tuple[str, str, date], _FlatCard | None] = {}
_MAX_CARDS = 4096


def _calc(provider_id: str, model: str, usage: Usage, when: datetime) -> Any:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calc_price(
            PriceUsage(
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_tokens=usage.cache_read_tokens or 0,
                cache_write_tokens=usage.cache_write_tokens or 0,
            ),
            model_ref=model,
            provider_id=provider_id,
            genai_request_timestamp=when,
        )


def _card_from(calculation: Any) -> _FlatCard | None:
    if isinstance(getattr(calculation.model, "prices", None), list):
        return None  # prices that change by date or time of day: always the full path
    prices = {name: getattr(calculation.model_price, name, None) for name in _TOKEN_PRICES}
    if not all(value is None or isinstance(value, Decimal) for value in prices.values()):
        return None
    if prices["input_mtok"] is None:
        return None
    return _FlatCard(
        prices["input_mtok"],
        prices["output_mtok"],
        prices["cache_read_mtok"],
        prices["cache_write_mtok"],
    )


def price(provider: str | None, model: str | None, usage: Usage, when: datetime | None = None) -> Cost:
    """The cost of one call: ``status`` is ``priced`` with ``usd`` set, or one of ``UNPRICED_REASONS``.

    genai-prices does the pricing. Its full calculation takes about 0.1 ms of CPU, so for models whose
    prices are flat per token, the per-token prices it returned are kept (per model and day) and applied
    directly; a property test checks that both ways give the same figure. Tiered and conditional prices,
    and invalid usage, always take the full path.
    """
    if usage.empty:
        return Cost(c.COST_STATUS_MISSING_USAGE)
    provider_id = c.PROVIDER_PRICE_IDS.get(provider or "")
    if provider_id is None:
        return Cost(c.COST_STATUS_UNKNOWN_PROVIDER)
    if not model:
        return Cost(c.COST_STATUS_UNKNOWN_MODEL)
    when = when or datetime.now(UTC)
    day = when.date()
    key = (provider_id, model, day)
    card = _cards.get(key)
    if card is not None:
        total = card.total(usage)
        if total is not None:
            return Cost(c.COST_STATUS_PRICED, usd=float(total), price_date=day.isoformat())
    try:
        calculation = _calc(provider_id, model, usage, when)
    except LookupError:
        return Cost(c.COST_STATUS_UNKNOWN_MODEL)
    except Exception:  # a bug or bad data in the price table must not break the app
        return Cost(c.COST_STATUS_ERROR)
    if key not in _cards:
        if len(_cards) >= _MAX_CARDS:
            _cards.clear()
        _cards[key] = _card_from(calculation)
    return Cost(
        c.COST_STATUS_PRICED,
        usd=float(calculation.total_price),
        price_date=day.isoformat(),
    )
