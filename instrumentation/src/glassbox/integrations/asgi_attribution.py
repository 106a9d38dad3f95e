"""The edge: attribution of incoming HTTP requests, and what a client may not bring in.

:class:`AttributionMiddleware` is an ASGI middleware. For each HTTP or websocket request it

* removes glassbox's keys (tenant, user, session, request id) from the client's ``baggage`` header, decoding
  the header with OpenTelemetry's own W3C propagator (:func:`glassbox.propagation.decode_baggage`), so a key
  written ``glassbox.tenant.id%20``, ``glassbox.tenant.id+`` or ``glassbox.tenant.id%09`` is removed too;
* under ``GLASSBOX_ATTRIBUTION_SOURCE=headers`` (the default), reads the tenant, user, session and request-id
  headers (names from ``GLASSBOX_*_HEADER``), validates them and adds them to that header, so the OpenTelemetry
  ASGI middleware (which extracts context from the headers) carries them; it also attaches them to the current
  context for apps without that middleware. Only a trusted proxy should set these headers (after
  authentication), and it must strip them from what clients send;
* under ``app``, ignores those headers: it opens an attribution slot for the request, with a request id of its
  own, that the app fills from its own authentication (:func:`glassbox.set_tenant`);
* notes the client's address (the socket peer, or the first address of ``GLASSBOX_CLIENT_ADDRESS_HEADER``
  behind a trusted proxy) for the audit events the request writes, and when the request arrived.

:class:`EdgeInstrumentor` is registered as the ``glassbox_edge`` instrumentor, so ``opentelemetry-instrument``
wraps every Starlette/FastAPI app with the middleware with no code change.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from glassbox import attribution, heap, propagation, settings
from glassbox import conventions as c
from glassbox import instruments as instruments_module

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

HEADER_SETTINGS = {
    c.TENANT_ID: settings.TENANT_HEADER,
    c.USER_ID: settings.USER_HEADER,
    c.SESSION_ID: settings.SESSION_HEADER,
    c.REQUEST_ID: settings.REQUEST_ID_HEADER,
}
_MAX_HEADER_BYTES = 1024


def header_names() -> dict[str, bytes]:
    return {key: setting.get().encode("latin-1") for key, setting in HEADER_SETTINGS.items()}


def attribution_from_headers(headers: list[tuple[bytes, bytes]], names: dict[str, bytes]) -> dict[str, str]:
    """Validated attribution values from raw ASGI headers (invalid ones become ``_invalid``, counted)."""
    wanted = {name: key for key, name in names.items()}
    values: dict[str, str] = {}
    instruments = instruments_module.get()
    for raw_name, raw_value in headers:
        key = wanted.get(raw_name.lower())
        if key is None or key in values:
            continue
        # An oversized header is certainly invalid: do not even decode it.
        value = "\x00" if len(raw_value) > _MAX_HEADER_BYTES else raw_value.decode("latin-1")
        values[key] = attribution.validate(key, value, instruments.count_invalid)
    return values


def client_address(scope: Scope, headers: list[tuple[bytes, bytes]], header: str) -> str | None:
    """The client's address: the first entry of ``header`` (set by a proxy you trust) when it holds a valid IP
    address, else the socket peer. A malformed header value is counted and the peer used."""
    if header:
        wanted = header.encode("latin-1")
        for name, value in headers:
            if name.lower() == wanted:
                first = value[:_MAX_HEADER_BYTES].decode("latin-1").split(",")[0].strip()
                try:
                    return str(ipaddress.ip_address(first))
                except ValueError:
                    instruments_module.get().count_invalid("client_address")
                break
    client = scope.get("client")
    return str(client[0]) if client else None


def rewrite_baggage(headers: list[tuple[bytes, bytes]], values: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """``headers`` with at most one ``baggage`` header: ``values``, then the entries of the client's first one (the
    only one the W3C propagator reads), decoded as that propagator decodes them, less glassbox's keys.

    ``values`` come first so that the propagator's limits (180 entries, 8192 bytes) never cut them off. A single
    client header with none of glassbox's keys, and no values to add, is left as it is.
    """
    kept: list[tuple[bytes, bytes]] = []
    client: bytes | None = None
    client_headers = 0
    for name, value in headers:
        if name.lower() != b"baggage":
            kept.append((name, value))
            continue
        client_headers += 1
        if client is None:
            client = value
    if client is None and not values:
        return headers
    entries: dict[str, object] = dict(values)
    if client is not None:
        decoded = propagation.decode_baggage(client.decode("latin-1"))
        smuggled = False
        for key, entry in decoded.items():
            if key in c.ATTRIBUTION_KEYS:
                smuggled = True
            elif key not in entries:
                entries[key] = entry
        if not smuggled and not values and client_headers == 1:
            return headers
    encoded = propagation.encode_baggage(entries) if entries else None
    if encoded:
        kept.append((b"baggage", encoded.encode("latin-1")))
    return kept


class AttributionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._names = header_names()
        self._address_header = settings.CLIENT_ADDRESS_HEADER.get()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not heap.frozen():
            heap.freeze_after_start()  # the first request: start-up is over
        request_token = None
        try:
            headers = list(scope.get("headers") or [])
            if attribution.source() == attribution.SOURCE_APP:
                values: dict[str, str] = {}
                # the client names none of it; the request gets an id of its own, which the app may replace
                request_token = attribution.open_request({c.REQUEST_ID: uuid.uuid4().hex})
            else:
                values = attribution_from_headers(headers, self._names)
            scope = dict(scope, headers=rewrite_baggage(headers, values))
            address = client_address(scope, headers, self._address_header)
            token = (
                otel_context.attach(attribution.with_attribution(values, otel_context.get_current()))
                if values
                else None
            )
            address_token = attribution.set_client_address(address)
            arrived_token = attribution.set_request_arrived(time.time())
        except Exception:
            instruments_module.count_dropped_quietly("traces", "attribution_error")
            if request_token is not None:
                attribution.close_request(request_token)
            # no attribution for this request, and none from the client's baggage either
            without_baggage = [(n, v) for n, v in scope.get("headers") or [] if n.lower() != b"baggage"]
            await self.app(dict(scope, headers=without_baggage), receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            attribution.reset_request_arrived(arrived_token)
            attribution.reset_client_address(address_token)
            if token is not None:
                otel_context.detach(token)
            if request_token is not None:
                attribution.close_request(request_token)


def _through_the_middleware(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``Starlette.__call__`` through the app's own middleware (made on its first request, kept on the app).

    Not itself a coroutine function: called with the wrong arguments it raises at once, as ``Starlette.__call__``
    does. uvicorn calls the app with none to tell an app factory from an app; an ``async`` wrapper would return a
    coroutine there and the app would be taken for a factory.
    """
    middleware = instance.__dict__.get("_glassbox_edge")
    if middleware is None:
        middleware = instance.__dict__["_glassbox_edge"] = AttributionMiddleware(wrapped)
    return middleware(*args, **kwargs)


class EdgeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Wraps ``starlette.applications.Starlette.__call__`` (FastAPI included) with the middleware (wrapt)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("starlette >= 0.13",)

    def _instrument(self, **kwargs: Any) -> None:
        wrapt.wrap_function_wrapper("starlette.applications", "Starlette.__call__", _through_the_middleware)

    def _uninstrument(self, **kwargs: Any) -> None:
        from starlette.applications import Starlette

        unwrap(Starlette, "__call__")
        # apps keep their middleware in __dict__; without the wrapper it is no longer called
