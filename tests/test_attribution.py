"""Edge attribution: headers -> validated baggage -> spans, logs and the tenant metric label (capped)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import baggage, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from glassbox import attribution, edge
from glassbox import conventions as c
from glassbox.attribution import TenantLimiter
from glassbox.instruments import Instruments

from .conftest import Telemetry


def build_app() -> tuple[Any, dict[str, Any]]:
    app = FastAPI()
    seen: dict[str, Any] = {}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        seen["baggage"] = dict(baggage.get_all())
        seen["trace_id"] = trace.get_current_span().get_span_context().trace_id
        seen["address"] = attribution.client_address()
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    FastAPIInstrumentor.instrument_app(app)
    return edge.AttributionMiddleware(app), seen


def call(app: Any, path: str, headers: dict[str, Any]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def server_span(telemetry: Telemetry) -> Any:
    (span,) = [s for s in telemetry.finished() if s.kind == trace.SpanKind.SERVER]
    return span


def test_headers_become_baggage_and_span_attributes(telemetry: Telemetry) -> None:
    app, seen = build_app()
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    response = call(
        app,
        "/items/7",
        {"x-tenant-id": tenant, "x-user-id": "u-1", "x-session-id": "s-1", "x-request-id": "req-9"},
    )
    assert response.status_code == 200
    assert seen["baggage"] == {c.TENANT_ID: tenant, c.USER_ID: "u-1", c.SESSION_ID: "s-1", c.REQUEST_ID: "req-9"}
    span = server_span(telemetry)
    assert span.attributes[c.TENANT_ID] == tenant
    assert span.attributes[c.USER_ID] == "u-1"
    assert span.attributes[c.REQUEST_ID] == "req-9"
    assert span.context.trace_id == seen["trace_id"]
    (point,) = telemetry.points(c.METRIC_HTTP_SERVER_DURATION, glassbox__tenant__id=tenant)
    assert point.attributes[c.HTTP_ROUTE] == "/items/{item_id}"
    assert point.attributes[c.HTTP_RESPONSE_STATUS_CODE] == 200
    # user, session and request ids are never metric labels
    assert not {c.USER_ID, c.SESSION_ID, c.REQUEST_ID} & set(point.attributes)


@pytest.mark.parametrize(
    "value",
    ["a" * 65, "acme\nadmin", "acme\x1b[31m", "acme corp", "acme;drop", "ténant", "acme=1,glassbox.tenant.id=x"],
)
def test_invalid_values_become_a_counted_placeholder(telemetry: Telemetry, value: str) -> None:
    app, seen = build_app()
    before = telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="tenant")
    call(app, "/items/1", {"x-tenant-id": value.encode("utf-8")})
    assert seen["baggage"][c.TENANT_ID] == c.PLACEHOLDER_INVALID
    assert server_span(telemetry).attributes[c.TENANT_ID] == c.PLACEHOLDER_INVALID
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="tenant") == before + 1


def test_oversized_header_is_rejected_without_decoding(telemetry: Telemetry) -> None:
    app, seen = build_app()
    call(app, "/items/1", {"x-request-id": "r" * 5000})
    assert seen["baggage"][c.REQUEST_ID] == c.PLACEHOLDER_INVALID


def test_client_cannot_smuggle_attribution_through_baggage(telemetry: Telemetry) -> None:
    app, seen = build_app()
    call(
        app,
        "/items/1",
        {"baggage": "glassbox.tenant.id=victim,user.id=admin,other=kept", "x-tenant-id": "acme"},
    )
    assert seen["baggage"] == {c.TENANT_ID: "acme", "other": "kept"}


def test_server_errors_are_measured_per_tenant(telemetry: Telemetry) -> None:
    app, _ = build_app()
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    assert call(app, "/boom", {"x-tenant-id": tenant}).status_code == 500
    (point,) = telemetry.points(c.METRIC_HTTP_SERVER_DURATION, glassbox__tenant__id=tenant)
    assert point.attributes[c.HTTP_RESPONSE_STATUS_CODE] == 500


def test_header_names_are_configurable(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_TENANT_HEADER", "X-Org")
    app, seen = build_app()
    call(app, "/items/1", {"x-org": "globex", "x-tenant-id": "ignored"})
    assert seen["baggage"][c.TENANT_ID] == "globex"


def test_the_client_address_is_the_peer_or_a_trusted_header_and_stays_in_the_request(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, seen = build_app()
    call(app, "/items/1", {"x-forwarded-for": "198.51.100.7"})
    assert seen["address"] == "127.0.0.1"  # no trusted header configured: the socket peer (httpx's test client)
    assert attribution.client_address() is None  # reset when the request ends
    monkeypatch.setenv("GLASSBOX_CLIENT_ADDRESS_HEADER", "X-Forwarded-For")
    app, seen = build_app()
    call(app, "/items/1", {"x-forwarded-for": "2001:db8::5, 10.0.0.1"})
    assert seen["address"] == "2001:db8::5"
    before = telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="client_address")
    call(app, "/items/1", {"x-forwarded-for": "evil\nvalue"})
    assert seen["address"] == "127.0.0.1"
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="client_address") == before + 1


def test_tenant_cardinality_cap() -> None:
    overflows: list[int] = []
    limiter = TenantLimiter(3, on_overflow=lambda: overflows.append(1))
    assert [limiter.label(t) for t in ("a", "b", "c", "a")] == ["a", "b", "c", "a"]
    assert limiter.label("d") == c.PLACEHOLDER_OVERFLOW
    assert limiter.label("e") == c.PLACEHOLDER_OVERFLOW
    assert limiter.label(None) == c.PLACEHOLDER_NONE
    assert limiter.label(c.PLACEHOLDER_INVALID) == c.PLACEHOLDER_INVALID
    assert len(overflows) == 2


def test_tenant_overflow_reaches_metrics(telemetry: Telemetry) -> None:
    # a limiter of its own, so the shared one keeps room for the other tests' tenants
    instruments = Instruments(meter_provider=telemetry.meter_provider, max_tenants=2)
    before = telemetry.total(c.METRIC_TENANT_OVERFLOW)
    labels = [instruments.tenants.label(f"flood-{i}") for i in range(7)]
    assert labels.count(c.PLACEHOLDER_OVERFLOW) == 5
    assert telemetry.total(c.METRIC_TENANT_OVERFLOW) == before + 5


def test_validate_accepts_ordinary_ids() -> None:
    for value in ("acme", "tenant_01", "org:42", "a.b-c", "jane@example.com"):
        assert attribution.validate(c.TENANT_ID, value) == value
