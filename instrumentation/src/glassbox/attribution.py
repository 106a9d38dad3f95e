"""Who a request is for: tenant, user, session and business request id.

Values enter at the edge (HTTP headers, see :mod:`glassbox.edge`), are validated here, travel as W3C
baggage, and are copied onto spans, log records and audit events. The client's network address is kept apart,
in a context variable of this process only (it never travels as baggage): audit events record it as their
source. Only the tenant becomes a metric label,
through :class:`TenantLimiter`, which caps the number of distinct values per process.

An invalid value (too long, control characters, characters outside ``[A-Za-z0-9._:@+-]``) is never passed
through: it becomes ``_invalid`` and ``glassbox.attribution.invalid{field=...}`` is incremented.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token

from opentelemetry import baggage
from opentelemetry.context import Context

from glassbox import conventions as c

MAX_LENGTH: Mapping[str, int] = {c.TENANT_ID: 64, c.USER_ID: 128, c.SESSION_ID: 128, c.REQUEST_ID: 128}
_VALID = re.compile(r"[A-Za-z0-9._:@+\-]+")

# Short field names used in the invalid-value counter and in log lines.
FIELD_NAMES: Mapping[str, str] = {
    c.TENANT_ID: "tenant",
    c.USER_ID: "user",
    c.SESSION_ID: "session",
    c.REQUEST_ID: "request_id",
}


def validate(key: str, value: str, on_invalid: Callable[[str], None] | None = None) -> str:
    """``value`` if it is a safe identifier for ``key``, else the ``_invalid`` placeholder (counted)."""
    if len(value) <= MAX_LENGTH.get(key, 128) and _VALID.fullmatch(value):
        return value
    if on_invalid is not None:
        on_invalid(FIELD_NAMES.get(key, key))
    return c.PLACEHOLDER_INVALID


def current(context: Context | None = None) -> dict[str, str]:
    """The attribution entries carried in the baggage of ``context`` (default: the current one)."""
    entries = baggage.get_all(context)
    if not entries:
        return {}
    return {key: str(entries[key]) for key in c.ATTRIBUTION_KEYS if key in entries}


_client_address: ContextVar[str | None] = ContextVar("glassbox_client_address", default=None)
# Wall-clock time the request being served arrived (set by the edge): per-request time limits count from it.
_arrived: ContextVar[float | None] = ContextVar("glassbox_request_arrived", default=None)


def request_arrived() -> float | None:
    """When the request being served arrived (seconds since the epoch), or None outside a request."""
    return _arrived.get()


def set_request_arrived(when: float | None) -> Token[float | None]:
    return _arrived.set(when)


def reset_request_arrived(token: Token[float | None]) -> None:
    _arrived.reset(token)


def client_address() -> str | None:
    """The network address of the client whose request is being served (set by the edge), or None."""
    return _client_address.get()


def set_client_address(address: str | None) -> Token[str | None]:
    return _client_address.set(address)


def reset_client_address(token: Token[str | None]) -> None:
    _client_address.reset(token)


def with_attribution(values: Mapping[str, str], context: Context | None = None) -> Context:
    """A context whose baggage carries ``values`` (already validated)."""
    ctx = context
    for key, value in values.items():
        ctx = baggage.set_baggage(key, value, ctx)
    return ctx if ctx is not None else Context()


class TenantLimiter:
    """Maps tenant ids to metric label values, with at most ``limit`` distinct values per process.

    The first ``limit`` tenants seen keep their own label; later ones share ``_other``, and each such
    mapping increments ``glassbox.attribution.tenant_overflow``. A missing tenant is ``_none``.
    """

    def __init__(self, limit: int, on_overflow: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._on_overflow = on_overflow

    def label(self, tenant: object) -> str:
        if not tenant:
            return c.PLACEHOLDER_NONE
        tenant = str(tenant)
        if tenant in self._seen or tenant in (c.PLACEHOLDER_INVALID, c.PLACEHOLDER_OVERFLOW):
            return tenant
        with self._lock:
            if tenant in self._seen:
                return tenant
            if len(self._seen) < self.limit:
                self._seen.add(tenant)
                return tenant
        if self._on_overflow is not None:
            self._on_overflow()
        return c.PLACEHOLDER_OVERFLOW
