"""USD cost of one model call, computed offline with the prices compiled into ``genai-prices``.

No network is used and nothing is guessed: an unknown provider or model, or a call without usage, gives
no cost and a reason, which the caller counts in ``glassbox.gen_ai.cost.unpriced``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
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
    model: str | None = None


def price(provider: str | None, model: str | None, usage: Usage, when: datetime | None = None) -> Cost:
    """The cost of one call: ``status`` is ``priced`` with ``usd`` set, or one of ``UNPRICED_REASONS``."""
    if usage.empty:
        return Cost(c.COST_STATUS_MISSING_USAGE)
    provider_id = c.PROVIDER_PRICE_IDS.get(provider or "")
    if provider_id is None:
        return Cost(c.COST_STATUS_UNKNOWN_PROVIDER)
    if not model:
        return Cost(c.COST_STATUS_UNKNOWN_MODEL)
    when = when or datetime.now(UTC)
    try:
        from genai_prices import Usage as PriceUsage
        from genai_prices import calc_price

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calculation = calc_price(
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
    except LookupError:
        return Cost(c.COST_STATUS_UNKNOWN_MODEL)
    except Exception:  # a bug or bad data in the price table must not break the app
        return Cost(c.COST_STATUS_ERROR)
    return Cost(
        c.COST_STATUS_PRICED,
        usd=float(calculation.total_price),
        price_date=when.date().isoformat(),
        model=calculation.model.id,
    )
