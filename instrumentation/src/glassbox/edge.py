"""The edge: attribution headers of incoming HTTP requests become validated W3C baggage.

:class:`AttributionMiddleware` is an ASGI middleware. For each HTTP request it reads the tenant, user,
session and request-id headers (names from ``GLASSBOX_*_HEADER``), validates them, removes any
attribution entries a client smuggled into its own ``baggage`` header, and adds the validated values to
that header, so the OpenTelemetry ASGI middleware (which extracts context from the headers) carries them;
it also attaches them to the current context for apps without that middleware. It also notes the client's
address (the socket peer, or the first address of ``GLASSBOX_CLIENT_ADDRESS_HEADER`` behind a trusted proxy)
for the audit events the request writes.

:class:`EdgeInstrumentor` is registered as the ``glassbox_edge`` instrumentor, so ``opentelemetry-instrument``
wraps every Starlette/FastAPI app with the middleware with no code change.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any
from urllib.parse import quote, unquote

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from glassbox import attribution, settings
from glassbox import conventions as c
from glassbox import instruments as instruments_module

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

HEADER_SETTINGS = {
    c.TENANT_ID: "GLASSBOX_TENANT_HEADER",
    c.USER_ID: "GLASSBOX_USER_HEADER",
    c.SESSION_ID: "GLASSBOX_SESSION_HEADER",
    c.REQUEST_ID: "GLASSBOX_REQUEST_ID_HEADER",
}
_MAX_HEADER_BYTES = 1024


def header_names() -> dict[str, bytes]:
    return {key: settings.get(env).encode("latin-1") for key, env in HEADER_SETTINGS.items()}


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


def _rewrite_baggage(headers: list[tuple[bytes, bytes]], values: dict[str, str]) -> list[tuple[bytes, bytes]]:
    kept: list[tuple[bytes, bytes]] = []
    members: list[str] = []
    for name, value in headers:
        if name.lower() != b"baggage":
            kept.append((name, value))
            continue
        for member in value.decode("latin-1").split(","):
            key = unquote(member.split("=", 1)[0].strip())
            if key and key not in c.ATTRIBUTION_KEYS:
                members.append(member.strip())
    members.extend(f"{key}={quote(value, safe='')}" for key, value in values.items())
    if members:
        kept.append((b"baggage", ",".join(members).encode("latin-1")))
    return kept


class AttributionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._names = header_names()
        self._address_header = str(settings.get("GLASSBOX_CLIENT_ADDRESS_HEADER"))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            headers = list(scope.get("headers") or [])
            values = attribution_from_headers(headers, self._names)
            scope = dict(scope, headers=_rewrite_baggage(headers, values))
            address = client_address(scope, headers, self._address_header)
            token = otel_context.attach(attribution.with_attribution(values, otel_context.get_current()))
            address_token = attribution.set_client_address(address)
            arrived_token = attribution.set_request_arrived(time.time())
        except Exception:
            instruments_module.get().count_dropped("traces", "attribution_error")
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            attribution.reset_request_arrived(arrived_token)
            attribution.reset_client_address(address_token)
            otel_context.detach(token)


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
