"""Edge attribution: headers -> validated baggage -> spans, logs and the tenant metric label (capped); baggage
parsed as OpenTelemetry parses it and sent only to allowed hosts; attribution the app sets itself."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

import glassbox
from glassbox import attribution, propagation
from glassbox import conventions as c
from glassbox.instruments import Instruments
from glassbox.integrations import asgi_attribution as edge
from glassbox.tenant_labels import TenantLimiter
from tests.conftest import Telemetry, run_instrumented


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


# ------------------------------------------------------------------ baggage parsing and propagation
@pytest.mark.parametrize(
    "header",
    [
        "glassbox.tenant.id%20=a,plan=gold",
        "glassbox.tenant.id+=a , other = b ;prop=1",
        "k=v%2Cw,%09user.id=x,bad key=1,=novalue,noequals",
        "ascii=ok,utf=\u00e9",
        "",
    ],
)
def test_baggage_is_decoded_as_the_w3c_propagator_decodes_it(header: str) -> None:
    expected = dict(baggage.get_all(W3CBaggagePropagator().extract({"baggage": header}, Context())))
    assert propagation.decode_baggage(header) == expected
    encoded = propagation.encode_baggage(expected)
    assert propagation.decode_baggage(encoded or "") == expected


def client_span_context(kind: trace.SpanKind, attributes: dict[str, Any], values: dict[str, str]) -> Any:
    """A context with ``values`` as baggage and a started span of ``kind`` with ``attributes`` current."""
    context = attribution.with_attribution(values, Context())
    context = baggage.set_baggage("plan", "gold", context)
    span = trace.get_tracer("test").start_span("POST", context=context, kind=kind, attributes=attributes)
    return trace.set_span_in_context(span, context), span


@pytest.mark.parametrize(
    ("allowed", "kind", "attributes", "sends"),
    [
        ("", trace.SpanKind.CLIENT, {"server.address": "orders.internal"}, False),
        ("orders.internal", trace.SpanKind.CLIENT, {"server.address": "orders.internal"}, True),
        ("orders.internal", trace.SpanKind.CLIENT, {"server.address": "ORDERS.internal."}, True),
        ("orders.internal", trace.SpanKind.CLIENT, {"server.address": "api.openai.com"}, False),
        ("*.internal", trace.SpanKind.CLIENT, {"server.address": "orders.internal"}, True),
        ("*.internal", trace.SpanKind.CLIENT, {"server.address": "internal"}, False),
        ("*.internal", trace.SpanKind.CLIENT, {"server.address": "orders.internal.example.com"}, False),
        ("orders.internal", trace.SpanKind.PRODUCER, {"server.address": "orders.internal"}, True),
        # old HTTP conventions: the host of the URL
        ("orders.internal", trace.SpanKind.CLIENT, {"http.url": "https://orders.internal:8443/x?q=1"}, True),
        ("orders.internal", trace.SpanKind.CLIENT, {"url.full": "https://api.openai.com/v1"}, False),
        # a server span's server.address is this service's own name, as the client sent it
        ("orders.internal", trace.SpanKind.SERVER, {"server.address": "orders.internal"}, False),
        # no known destination (an MCP request's _meta): nothing, unless every destination is allowed
        ("orders.internal", trace.SpanKind.CLIENT, {"mcp.method.name": "tools/call"}, False),
        ("*", trace.SpanKind.CLIENT, {"mcp.method.name": "tools/call"}, True),
        ("not a host/, *.*.x, orders.internal", trace.SpanKind.CLIENT, {"server.address": "orders.internal"}, True),
    ],
)
def test_baggage_goes_only_to_allowed_destinations(
    telemetry: Telemetry, allowed: str, kind: trace.SpanKind, attributes: dict[str, Any], sends: bool
) -> None:
    context, span = client_span_context(kind, attributes, {c.TENANT_ID: "acme"})
    carrier: dict[str, str] = {}
    propagation.AllowlistedBaggagePropagator(allowed).inject(carrier, context)
    span.end()
    if sends:
        sent = propagation.decode_baggage(carrier["baggage"])
        assert sent == {"plan": "gold", c.TENANT_ID: "acme"}
    else:
        assert carrier == {}


def test_trace_context_goes_everywhere_and_nothing_without_a_client_span(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_BAGGAGE_HOSTS", "*.internal")
    context, span = client_span_context(trace.SpanKind.CLIENT, {"server.address": "api.openai.com"}, {})
    carrier: dict[str, str] = {}
    propagation.default_propagator().inject(carrier, context)
    assert set(carrier) == {"traceparent"}
    carrier = {}
    propagation.AllowlistedBaggagePropagator().inject(carrier, baggage.set_baggage("plan", "gold", Context()))
    assert carrier == {}  # no span: no known destination
    span.end()


def test_sent_attribution_is_the_validated_one(telemetry: Telemetry) -> None:
    context, span = client_span_context(trace.SpanKind.CLIENT, {"server.address": "orders.internal"}, {})
    context = baggage.set_baggage(c.TENANT_ID, "evil\nvalue", context)
    carrier: dict[str, str] = {}
    propagation.AllowlistedBaggagePropagator("orders.internal").inject(carrier, context)
    span.end()
    assert propagation.decode_baggage(carrier["baggage"])[c.TENANT_ID] == c.PLACEHOLDER_INVALID


def test_extracted_glassbox_keys_are_validated_or_dropped(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    carrier = {"baggage": f"glassbox.tenant.id+=bad%0A{uuid.uuid4().hex},user.id=u-1,plan=gold"}
    before = telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="tenant")
    extracted = propagation.AllowlistedBaggagePropagator("").extract(carrier, Context())
    assert dict(baggage.get_all(extracted)) == {c.TENANT_ID: c.PLACEHOLDER_INVALID, c.USER_ID: "u-1", "plan": "gold"}
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="tenant") == before + 1
    monkeypatch.setenv("GLASSBOX_ATTRIBUTION_SOURCE", "app")
    attribution.reset()
    base = attribution.with_attribution({c.TENANT_ID: "acme"}, Context())
    extracted = propagation.AllowlistedBaggagePropagator("").extract(carrier, base)
    assert dict(baggage.get_all(extracted)) == {c.TENANT_ID: "acme", "plan": "gold"}
    assert attribution.current(extracted) == {c.TENANT_ID: "acme"}


def test_plain_baggage_is_recognised_for_warnings() -> None:
    assert propagation.plain_baggage_configured("tracecontext, Baggage")
    assert not propagation.plain_baggage_configured("tracecontext,glassbox_baggage")
    assert not propagation.plain_baggage_configured(None)


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (None, "AllowlistedBaggagePropagator"),
        ("tracecontext,glassbox_baggage", "AllowlistedBaggagePropagator"),  # loads through its entry point
        ("tracecontext,baggage", "W3CBaggagePropagator"),  # the user's choice wins
    ],
)
def test_the_distro_selects_the_allowlisted_propagator_unless_the_user_chose(chosen: str | None, expected: str) -> None:
    script = (
        "from opentelemetry import propagate\n"
        "print('propagators:', ','.join(type(p).__name__ for p in propagate.get_global_textmap()._propagators))\n"
    )
    result = run_instrumented(script, **({"OTEL_PROPAGATORS": chosen} if chosen else {}))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"propagators: TraceContextTextMapPropagator,{expected}" in result.stdout, result.stderr[-2000:]
    warned = "sends baggage (tenant, user id) to every host" in result.stderr
    assert warned == (expected == "W3CBaggagePropagator")


# ------------------------------------------------------------------ reading and setting attribution
def test_the_tenant_alone_is_read_from_the_configured_source(monkeypatch: pytest.MonkeyPatch) -> None:
    forged = baggage.set_baggage(c.TENANT_ID, "evil\nvalue", Context())
    assert attribution.tenant(forged) == c.PLACEHOLDER_INVALID
    assert attribution.tenant(baggage.set_baggage(c.TENANT_ID, "acme", Context())) == "acme"
    assert attribution.tenant(Context()) is None
    monkeypatch.setenv("GLASSBOX_ATTRIBUTION_SOURCE", "app")
    attribution.reset()
    assert attribution.tenant(baggage.set_baggage(c.TENANT_ID, "acme", Context())) is None
    assert attribution.tenant(attribution.with_attribution({c.TENANT_ID: "acme"}, Context())) == "acme"
    outer = otel_context.attach(Context())  # set_tenant's change to the current context ends with it
    request = attribution.open_request({c.REQUEST_ID: "r-1"})
    try:
        glassbox.set_tenant("globex")
        assert attribution.tenant(Context()) == "globex"  # the request's slot, whatever the context
    finally:
        attribution.close_request(request)
        otel_context.detach(outer)


def test_an_invalid_baggage_value_is_counted_when_first_validated(telemetry: Telemetry) -> None:
    context = baggage.set_baggage(c.SESSION_ID, f"s {uuid.uuid4().hex}", Context())
    before = telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="session")
    for _ in range(3):
        assert attribution.current(context) == {c.SESSION_ID: c.PLACEHOLDER_INVALID}
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="session") == before + 1


def test_the_app_sets_the_tenant_for_the_current_span_and_what_follows(telemetry: Telemetry) -> None:
    tracer = trace.get_tracer("test")
    before = telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="user")
    token = otel_context.attach(Context())
    try:
        with tracer.start_as_current_span("request") as request:
            glassbox.set_tenant("acme", user="bad user")
            with tracer.start_as_current_span("step"):
                pass
            with glassbox.attributed_to("globex"):
                assert attribution.current() == {c.TENANT_ID: "globex", c.USER_ID: c.PLACEHOLDER_INVALID}
                with tracer.start_as_current_span("batch item"):
                    pass
            assert attribution.current()[c.TENANT_ID] == "acme"
    finally:
        otel_context.detach(token)
    spans = {s.name: s.attributes for s in telemetry.finished()}
    assert spans["request"][c.TENANT_ID] == spans["step"][c.TENANT_ID] == "acme"
    assert spans["batch item"][c.TENANT_ID] == "globex"
    assert request.attributes[c.USER_ID] == c.PLACEHOLDER_INVALID
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="user") == before + 1


def test_kept_tenants_are_read_at_most_once_per_refresh_and_survive_an_error() -> None:
    calls: list[int] = []
    errors: list[int] = []
    kept: list[str] = ["acme"]

    def budgeted() -> list[str]:
        calls.append(1)
        if kept == ["fail"]:
            raise RuntimeError("state down")
        return kept

    limiter = TenantLimiter(3, always_label=budgeted, refresh_seconds=3600, on_error=lambda: errors.append(1))
    assert [limiter.label(t) for t in ("x", "y", "z")] == ["x", "y", c.PLACEHOLDER_OVERFLOW]
    assert limiter.label("acme") == "acme"
    assert len(calls) == 1  # within the refresh interval, the tenants read first are kept
    kept[:] = ["fail"]
    limiter.always_label_from(budgeted)  # read again at once: it fails, the last ones stay
    assert limiter.label("w") == c.PLACEHOLDER_OVERFLOW
    assert errors == [1] and limiter.label("acme") == "acme"
    assert limiter.label("bad tenant") == c.PLACEHOLDER_INVALID
