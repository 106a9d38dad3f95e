"""Who a request is for: tenant, user, session and business request id.

Where the values come from is ``GLASSBOX_ATTRIBUTION_SOURCE``:

* ``headers`` (the default): the edge (:mod:`glassbox.integrations.asgi_attribution`) reads them from request
  headers that a trusted proxy sets, e.g. after authentication, and strips from what clients send. They travel
  as W3C baggage and are read back from the baggage of a context, whichever instrumentation extracted it
  (HTTP, gRPC, messaging).
* ``app``: the app names them itself, from its own authentication, with :func:`set_tenant` or
  :func:`attributed_to`. Client headers and inbound baggage are then never read for these keys, anywhere: the
  values live under a context key of glassbox's own, which no propagator fills, and in a per-request slot that
  the edge opens, so metrics recorded after the handler returned (the server's request duration) see them too.

Either way, every value is validated where it is read or set. An invalid value (too long, control characters,
characters outside ``[A-Za-z0-9._:@+-]``) is never passed through: it becomes ``_invalid`` and
``glassbox.attribution.invalid{field=...}`` is incremented. :func:`current` runs at every span start and log
record, so the result of validating a baggage value is kept for the next reads of the same value (a bounded
cache): an invalid value is counted when it is first validated, not at every read.

The client's network address is kept apart, in a context variable of this process only (it never travels as
baggage): audit events record it as their source. Only the tenant becomes a metric label, through
:class:`glassbox.tenant_labels.TenantLimiter`, which caps the number of distinct values per process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from glassbox import conventions as c
from glassbox import instruments as instruments_module
from glassbox import settings
from glassbox.identifiers import validate as validate  # re-exported: the check every way in applies

SOURCE_HEADERS = "headers"
SOURCE_APP = "app"


def count_invalid(field: str) -> None:
    """Count an invalid ``field`` value on the process-wide instruments."""
    instruments_module.get().count_invalid(field)


# --------------------------------------------------------------------------- the source
_source: str | None = None


def source() -> str:
    """``headers`` or ``app`` (``GLASSBOX_ATTRIBUTION_SOURCE``, read once; :func:`reset` reads it again)."""
    global _source
    if _source is None:
        _source = settings.ATTRIBUTION_SOURCE.get()
    return _source


def reset() -> None:
    """Read ``GLASSBOX_ATTRIBUTION_SOURCE`` again at the next use (tests; a process sets it once)."""
    global _source
    _source = None
    for cache in _checked.values():
        cache.clear()


# --------------------------------------------------------------------------- reading
# The values the app set (app mode) or the edge validated, under a key no propagator writes: a mapping that is
# never mutated once in a context.
_OWN_KEY = otel_context.create_key("glassbox-attribution")
# App mode: the request being served, as the edge opened it; set_tenant fills it in place.
_request_values: ContextVar[dict[str, str] | None] = ContextVar("glassbox_request_attribution", default=None)

# Validation results of recent baggage values, per key. Cleared when full: a flood of distinct values costs
# their validation, never unbounded memory.
_CHECKED_MAX = 1024
_checked: dict[str, dict[str, str]] = {key: {} for key in c.ATTRIBUTION_KEYS}


def _checked_value(key: str, value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    cache = _checked[key]
    result = cache.get(text)
    if result is None:
        result = validate(key, text, count_invalid)
        if len(cache) >= _CHECKED_MAX:
            cache.clear()
        cache[text] = result
    return result


def current(context: Context | None = None) -> dict[str, str]:
    """The validated attribution of ``context`` (default: the current one), from the configured source.

    ``headers``: the glassbox keys of the context's baggage, each validated (``_invalid`` when not valid).
    ``app``: only what the app set (:func:`set_tenant`, :func:`attributed_to`); baggage is not read.
    """
    if (_source or source()) == SOURCE_APP:
        own = otel_context.get_value(_OWN_KEY, context)
        if isinstance(own, dict):
            return dict(own)
        request = _request_values.get()
        return dict(request) if request else {}
    entries = baggage.get_all(context)
    if not entries:
        return {}
    found: dict[str, str] = {}
    for key in c.ATTRIBUTION_KEYS:
        value = entries.get(key)
        if value is not None:
            found[key] = _checked_value(key, value)
    return found


def tenant(context: Context | None = None) -> str | None:
    """The validated tenant of ``context`` (default: the current one) from the configured source, or None: what
    a measurement's tenant label is made of (one key of :func:`current`, without building the others)."""
    if (_source or source()) == SOURCE_APP:
        own = otel_context.get_value(_OWN_KEY, context)
        values = own if isinstance(own, dict) else _request_values.get()
        return values.get(c.TENANT_ID) if values else None
    value = baggage.get_baggage(c.TENANT_ID, context)
    return None if value is None else _checked_value(c.TENANT_ID, value)


# --------------------------------------------------------------------------- setting
def with_attribution(values: Mapping[str, str], context: Context | None = None) -> Context:
    """A context that carries ``values`` (already validated) on top of ``context``'s attribution: in the
    baggage (what travels to allowed hosts, see :mod:`glassbox.propagation`) and under glassbox's own key."""
    own = otel_context.get_value(_OWN_KEY, context)
    merged = {**own, **values} if isinstance(own, dict) else dict(values)
    ctx = otel_context.set_value(_OWN_KEY, merged, context)
    for key, value in values.items():
        ctx = baggage.set_baggage(key, value, ctx)
    return ctx


def _validated(tenant: str | None, user: str | None, session: str | None, request_id: str | None) -> dict[str, str]:
    given = {c.TENANT_ID: tenant, c.USER_ID: user, c.SESSION_ID: session, c.REQUEST_ID: request_id}
    return {key: validate(key, str(value), count_invalid) for key, value in given.items() if value is not None}


def _base_context(values: Mapping[str, str]) -> Context:
    """The current context with the current attribution under glassbox's own key, then ``values`` on top."""
    return with_attribution({**current(), **values}, otel_context.get_current())


def set_tenant(
    tenant: str | None,
    *,
    user: str | None = None,
    session: str | None = None,
    request_id: str | None = None,
) -> None:
    """Name who the rest of the current request (or task) is for, from the app's own authentication.

    Each value given is validated (an invalid one becomes ``_invalid``, counted); one left as None keeps its
    current value. The values go on the current span (the server span has started before the handler runs),
    on every span and log record after it in this context, and, under the edge in ``app`` mode, on the metrics
    the server records when the request ends. Never raises into the app.
    """
    try:
        values = _validated(tenant, user, session, request_id)
        if not values:
            return
        otel_context.attach(_base_context(values))
        request = _request_values.get()
        if request is not None:
            request.update(values)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(values)
    except Exception:
        _count_error()


@contextmanager
def attributed_to(
    tenant: str | None,
    *,
    user: str | None = None,
    session: str | None = None,
    request_id: str | None = None,
) -> Iterator[None]:
    """Within the block, attribute work to ``tenant`` (and the others given), as :func:`set_tenant` does, then
    go back to the attribution before it. Spans started in the block carry the values; the span current when
    the block starts does not (it may span several tenants, as a batch job does)."""
    token: Token[Context] | None = None
    try:
        values = _validated(tenant, user, session, request_id)
        token = otel_context.attach(_base_context(values))
    except Exception:
        _count_error()
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)


def _count_error() -> None:
    instruments_module.count_dropped_quietly("traces", "attribution_error")


def open_request(values: Mapping[str, str]) -> Token[dict[str, str] | None]:
    """App mode, at the edge: a fresh attribution slot for the request being served, holding ``values``."""
    return _request_values.set(dict(values))


def close_request(token: Token[dict[str, str] | None]) -> None:
    _request_values.reset(token)


# --------------------------------------------------------------------------- the request being served
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
