"""Attribution under attack: each test is a client's (or a careless operator's) move and the refusal expected.

The app is a real FastAPI app under the real ASGI instrumentation, behind the edge; model calls go through the
real openai SDK and the real httpx2 instrumentation to the stub LLM server, which records the headers it got.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import uvicorn
from fastapi import FastAPI
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor

import glassbox
from glassbox import attribution
from glassbox import conventions as c
from glassbox.instruments import Instruments
from glassbox.integrations import asgi_attribution as edge
from glassbox.sdk import distro
from tests.conftest import EXAMPLES, Telemetry, free_port
from tests.glassbox.test_attribution import call, server_span

FORGED = 'evil\n{"forged":1}'
FORGED_ENCODED = "evil%0A%7B%22forged%22%3A1%7D"


def build_app(model_url: str | None = None) -> tuple[Any, dict[str, Any]]:
    """A FastAPI app under the ASGI instrumentation and the edge; ``/ask`` calls the model at ``model_url``."""
    app = FastAPI()
    seen: dict[str, Any] = {}

    @app.get("/whoami")
    async def whoami() -> dict[str, Any]:
        seen["baggage"] = dict(baggage.get_all())
        seen["attribution"] = attribution.current()
        return {}

    @app.get("/signed-in")
    async def signed_in() -> dict[str, Any]:
        seen["before"] = attribution.current()
        glassbox.set_tenant("acme", user="u-1")  # what the app's own authentication found
        seen["after"] = attribution.current()
        with trace.get_tracer("test").start_as_current_span("work"):
            pass
        return {}

    @app.get("/ask")
    async def ask() -> dict[str, Any]:
        client = openai.AsyncOpenAI(base_url=f"{model_url}/v1", api_key="sk-test", max_retries=0)
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        return {}

    FastAPIInstrumentor.instrument_app(app)
    return edge.AttributionMiddleware(app), seen


def tenant_labels(telemetry: Telemetry) -> set[str]:
    return {str(p.attributes.get(c.TENANT_ID)) for p in telemetry.points(c.METRIC_HTTP_SERVER_DURATION)}


@pytest.mark.parametrize(
    "member",
    [
        f"glassbox.tenant.id%20={FORGED_ENCODED}",
        f"glassbox.tenant.id+={FORGED_ENCODED}",
        f"glassbox.tenant.id%09={FORGED_ENCODED}",
        f"%20glassbox.tenant.id={FORGED_ENCODED}",
        f"glassbox.tenant.id={FORGED_ENCODED}",
    ],
)
def test_an_encoded_baggage_key_cannot_name_the_tenant(telemetry: Telemetry, member: str) -> None:
    app, seen = build_app()
    # OpenTelemetry's W3C propagator decodes every one of these keys to glassbox.tenant.id
    decoded = W3CBaggagePropagator().extract({"baggage": member}, otel_context.Context())
    assert dict(baggage.get_all(decoded)) == {c.TENANT_ID: FORGED}
    call(app, "/whoami", {"baggage": f"plan=gold,{member}"})
    assert c.TENANT_ID not in seen["baggage"] and c.TENANT_ID not in seen["attribution"]
    assert seen["baggage"] == {"plan": "gold"}  # the client's other entries are kept
    assert c.TENANT_ID not in server_span(telemetry).attributes
    assert not [label for label in tenant_labels(telemetry) if "forged" in label]


def test_a_long_client_baggage_cannot_push_the_tenant_out(telemetry: Telemetry) -> None:
    app, seen = build_app()
    # the W3C propagator reads at most 180 entries: the proxy's tenant must not come after the client's
    flood = ",".join(f"k{i}=v" for i in range(300))
    call(app, "/whoami", {"x-tenant-id": "acme", "baggage": flood})
    assert seen["attribution"] == {c.TENANT_ID: "acme"}
    assert server_span(telemetry).attributes[c.TENANT_ID] == "acme"


def test_a_forged_tenant_another_instrumentation_extracted_becomes_invalid(telemetry: Telemetry) -> None:
    # a gRPC or messaging instrumentation extracts baggage with the plain W3C propagator, past the HTTP edge
    context = W3CBaggagePropagator().extract({"baggage": f"glassbox.tenant.id={FORGED_ENCODED},user.id=u%0A1"})
    value = f"{FORGED}-{uuid.uuid4().hex}"  # never validated before: counted now
    context = baggage.set_baggage(c.TENANT_ID, value, context)
    before = telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="tenant")
    assert attribution.current(context) == {c.TENANT_ID: c.PLACEHOLDER_INVALID, c.USER_ID: c.PLACEHOLDER_INVALID}
    with trace.get_tracer("test").start_as_current_span("consume", context=context) as span:
        pass
    assert span.attributes[c.TENANT_ID] == c.PLACEHOLDER_INVALID
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="tenant") == before + 1


def test_in_app_mode_the_client_names_neither_tenant_nor_request(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_ATTRIBUTION_SOURCE", "app")
    attribution.reset()
    app, seen = build_app()
    forged = {
        "x-tenant-id": "victim",
        "x-user-id": "admin",
        "x-request-id": "req-of-the-victim",
        "baggage": "glassbox.tenant.id=victim,user.id+=admin,glassbox.request.id=req-of-the-victim",
    }
    call(app, "/signed-in", forged)
    assert c.TENANT_ID not in seen["before"] and c.USER_ID not in seen["before"]
    assert seen["before"][c.REQUEST_ID] != "req-of-the-victim"  # the edge gave the request an id of its own
    assert seen["after"][c.TENANT_ID] == "acme" and seen["after"][c.USER_ID] == "u-1"
    server = server_span(telemetry)
    (work,) = [s for s in telemetry.finished() if s.name == "work"]
    assert server.attributes[c.TENANT_ID] == work.attributes[c.TENANT_ID] == "acme"
    assert work.attributes[c.REQUEST_ID] == seen["before"][c.REQUEST_ID]
    assert "victim" not in tenant_labels(telemetry)
    # the app's tenant, not the client's, labels the request's duration
    durations = telemetry.points(c.METRIC_HTTP_SERVER_DURATION, glassbox__tenant__id="acme")
    assert [p for p in durations if p.attributes.get("http.route") == "/signed-in"]
    # baggage another instrumentation extracted is not read for attribution either
    extracted = W3CBaggagePropagator().extract({"baggage": "glassbox.tenant.id=victim"})
    assert attribution.current(extracted) == {}


# ------------------------------------------------------------------ baggage to the model provider
class HeaderRecorder:
    """The stub LLM server, noting the headers of every request it gets."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.headers.append({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def recording_stub() -> Iterator[tuple[str, HeaderRecorder]]:
    spec = importlib.util.spec_from_file_location("stub_llm_server", EXAMPLES / "stub_llm" / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recorder = HeaderRecorder(module.build_app(module.StubConfig(1, 0, module.DEFAULT_MODELS, None)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(recorder, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the recording stub did not start"
    try:
        yield f"http://127.0.0.1:{port}", recorder
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def distro_propagation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The propagators the glassbox distro installs (OTEL_PROPAGATORS unset) and the httpx2 instrumentation that
    the openai SDK's requests go through, as under ``opentelemetry-instrument``."""
    monkeypatch.delenv("OTEL_PROPAGATORS", raising=False)
    previous = propagate.get_global_textmap()
    instrumentor = HTTPX2ClientInstrumentor()
    ours = not instrumentor.is_instrumented_by_opentelemetry
    if ours:
        instrumentor.instrument()
    try:
        yield
    finally:
        if ours:
            instrumentor.uninstrument()
        propagate.set_global_textmap(previous)


def test_the_model_provider_gets_no_baggage_from_a_client(
    telemetry: Telemetry,
    recording_stub: tuple[str, HeaderRecorder],
    distro_propagation: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, recorder = recording_stub
    monkeypatch.delenv("GLASSBOX_BAGGAGE_HOSTS", raising=False)  # the default: no host gets baggage
    assert distro.install_default_propagators()
    app, _ = build_app(url)
    recorder.headers.clear()
    headers = {"x-tenant-id": "acme", "x-user-id": "alice@example.com", "baggage": "user.id=alice@example.com,a=1"}
    assert call(app, "/ask", headers).status_code == 200
    (received,) = recorder.headers
    assert "baggage" not in received
    assert "alice" not in str(received)
    assert received["traceparent"].split("-")[1] == f"{server_span(telemetry).context.trace_id:032x}"


def test_a_host_on_the_allowlist_gets_validated_baggage_only(
    telemetry: Telemetry,
    recording_stub: tuple[str, HeaderRecorder],
    distro_propagation: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, recorder = recording_stub
    monkeypatch.setenv("GLASSBOX_BAGGAGE_HOSTS", "127.0.0.1")  # an operator names the (internal) host
    assert distro.install_default_propagators()
    app, _ = build_app(url)
    recorder.headers.clear()
    call(app, "/ask", {"x-user-id": "u-1", "baggage": f"glassbox.tenant.id+={FORGED_ENCODED},plan=gold"})
    (received,) = recorder.headers
    sent = W3CBaggagePropagator().extract({"baggage": received["baggage"]}, otel_context.Context())
    assert dict(baggage.get_all(sent)) == {"plan": "gold", c.USER_ID: "u-1"}


# ------------------------------------------------------------------ the tenant label
def test_a_flood_of_tenant_ids_does_not_take_a_budgeted_tenants_label(telemetry: Telemetry) -> None:
    instruments = Instruments(meter_provider=telemetry.meter_provider, max_tenants=10)
    instruments.tenants.always_label_from(lambda: ["acme", "globex"])
    before = telemetry.total(c.METRIC_TENANT_OVERFLOW)
    flood = [instruments.tenants.label(f"flood-{uuid.uuid4().hex[:8]}") for _ in range(200)]
    assert sum(label != c.PLACEHOLDER_OVERFLOW for label in flood) == 8  # the cap, less the budgeted tenants
    assert instruments.tenants.label("acme") == "acme"
    assert instruments.tenants.label("globex") == "globex"
    assert telemetry.total(c.METRIC_TENANT_OVERFLOW) == before + 192
