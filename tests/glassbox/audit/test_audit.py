"""glassbox.audit / glassbox.audited: the durable record, the OTel log event, the span event, both failure modes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import context as otel_context

import glassbox
from glassbox import attribution
from glassbox import conventions as c
from glassbox.audit import events as audit_module
from glassbox.audit.chain import AuditLog
from tests.conftest import Telemetry
from tests.glassbox.audit.test_audit_chain import check


def new_log(directory: Path) -> AuditLog:
    return AuditLog(directory / "log" / "audit.jsonl", directory / "cp" / "audit.checkpoints", directory / "key")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    log = new_log(tmp_path)
    audit_module.use_log(log)
    yield log
    audit_module.use_log(None)


def broken_log(tmp_path: Path) -> AuditLog:
    """A log whose directory is a regular file: every append fails."""
    (tmp_path / "not-a-directory").write_text("")
    return new_log(tmp_path / "not-a-directory")


def audit_logs(telemetry: Telemetry, action: str) -> list[dict[str, object]]:
    found = []
    for data in telemetry.logs.get_finished_logs():
        attributes = dict(data.log_record.attributes or {})
        if attributes.get(c.AUDIT_ACTION) == action:
            found.append(attributes)
    return found


def test_an_event_is_chained_emitted_and_attached_to_its_span(telemetry: Telemetry, log: AuditLog) -> None:
    token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: "acme", c.REQUEST_ID: "req-77"}))
    try:
        with telemetry.tracer_provider.get_tracer("t").start_as_current_span("admin change") as span:
            event = glassbox.audit(
                "role.change",
                actor={"type": "human", "id": "user-7", "name": "Jane"},
                resource={"type": "user", "id": "user-9"},
                before={"role": "viewer", "email": "jane.doe@example.com"},
                after={"role": "admin"},
                source="203.0.113.9",
            )
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        otel_context.detach(token)
    assert event["seq"] == 1 and event["trace_id"] == trace_id and event["tenant"] == "acme"
    assert event["request_id"] == "req-77" and event["source"] == "203.0.113.9"
    assert "jane.doe@example.com" not in str(event["before"]) and event["before"]["role"] == "viewer"
    assert check(log).ok
    (emitted,) = audit_logs(telemetry, "role.change")
    assert emitted["event.name"] == c.AUDIT_EVENT_NAME
    assert emitted[c.AUDIT_ACTOR_ID] == "user-7" and emitted[c.AUDIT_SEQUENCE] == 1
    assert emitted[c.TENANT_ID] == "acme"
    (finished,) = [s for s in telemetry.finished() if s.name == "admin change"]
    assert [e.name for e in finished.events] == [c.AUDIT_EVENT_NAME]


def test_audited_writes_an_attempt_and_its_outcome(telemetry: Telemetry, log: AuditLog) -> None:
    @glassbox.audited("refund.issue", resource_type="order")
    def refund(amount: int) -> int:
        if amount > 100:
            raise PermissionError("over the limit")
        return amount

    @glassbox.audited("refund.async", resource_type="order")
    async def refund_later() -> str:
        return "ok"

    assert refund(5) == 5
    with pytest.raises(PermissionError):
        refund(500)
    assert asyncio.run(refund_later()) == "ok"
    outcomes = [(e[c.AUDIT_ACTION], e[c.AUDIT_OUTCOME]) for e in audit_logs(telemetry, "refund.issue")]
    assert outcomes == [("refund.issue", s) for s in ("attempt", "success", "attempt", "failure")]
    assert [e[c.AUDIT_OUTCOME] for e in audit_logs(telemetry, "refund.async")] == ["attempt", "success"]
    assert check(log).records == 6


def test_fail_closed_refuses_the_action_when_the_log_cannot_be_written(
    telemetry: Telemetry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-closed")
    audit_module.use_log(broken_log(tmp_path))
    ran = []

    @glassbox.audited("config.change")
    def change() -> None:
        ran.append(True)

    try:
        before = telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES, glassbox__audit__mode="fail-closed")
        with pytest.raises(glassbox.AuditRefused, match=r"config\.change"):
            change()
        assert ran == []
        assert telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES, glassbox__audit__mode="fail-closed") == before + 1
    finally:
        audit_module.use_log(None)


def test_an_event_written_while_serving_a_request_records_the_client_address(
    telemetry: Telemetry, log: AuditLog
) -> None:
    from fastapi import FastAPI

    from glassbox.integrations import asgi_attribution as edge

    app = FastAPI()

    @app.post("/login")
    async def login() -> dict[str, str]:
        return {"seq": str(glassbox.audit("admin.login", actor="admin")["seq"])}

    app_with_edge = edge.AttributionMiddleware(app)

    async def post() -> None:
        import httpx

        transport = httpx.ASGITransport(app=app_with_edge, client=("203.0.113.40", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.post("/login", headers={"x-tenant-id": "acme"})).status_code == 200

    asyncio.run(post())
    outside = glassbox.audit("nightly.job")
    records = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [(r["action"], r["source"], r["tenant"]) for r in records] == [
        ("admin.login", "203.0.113.40", "acme"),
        ("nightly.job", None, None),
    ]
    assert outside["source"] is None


def test_each_copy_names_its_chain_and_each_checkpoint_goes_to_the_witness(telemetry: Telemetry, log: AuditLog) -> None:
    """The first record is always signed; its checkpoint is sent as an event of its own, on no trace."""
    from glassbox.audit.chain import key_id, signature_problem
    from glassbox.audit.witness import witnessed_checkpoint

    with telemetry.tracer_provider.get_tracer("t").start_as_current_span("request"):
        event = glassbox.audit("role.change", actor="admin-1")
    emitted = [data.log_record for data in telemetry.logs.get_finished_logs()]
    (copy,) = [r for r in emitted if r.event_name == c.AUDIT_EVENT_NAME]
    (witnessed,) = [r for r in emitted if r.event_name == c.AUDIT_CHECKPOINT_EVENT_NAME]
    assert copy.attributes[c.AUDIT_LOG] == "file" and copy.attributes[c.AUDIT_CHAIN] == event["hash"][:32]
    assert copy.trace_id and not witnessed.trace_id
    fields = {c.loki_field(name): str(value) for name, value in witnessed.attributes.items()}
    checkpoint = witnessed_checkpoint(fields, "now")
    assert checkpoint is not None and checkpoint.log == "file" and checkpoint.chain == event["hash"][:32]
    assert checkpoint.checkpoint["seq"] == 1 and checkpoint.checkpoint["hash"] == event["hash"]
    public = log.key().public_key()
    assert signature_problem(checkpoint.checkpoint, {key_id(public): public}) is None


def test_checkpoints_and_events_reach_the_audit_stream_through_the_collector(
    telemetry: Telemetry, log: AuditLog, tmp_path: Path
) -> None:
    """What glassbox emits, through the real collector: the audit event and the checkpoint land in the audit
    stream, whole, and nothing else does."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    from glassbox.audit.chain import key_id, signature_problem
    from glassbox.audit.witness import witnessed_checkpoint
    from tests.support.otlp_receiver import OTLPReceiver
    from tests.support.stack_fixtures import native_stack, otlp_http, wait_for

    glassbox.audit("role.change", actor="admin-1")
    telemetry.logger_provider.get_logger("app").emit(LogRecord(body="an app log line"))
    emitted = telemetry.logs.get_finished_logs()
    with OTLPReceiver() as sink, native_stack(tmp_path, sink.port) as stack:
        exporter = OTLPLogExporter(endpoint=f"{otlp_http(stack)}/v1/logs")
        assert exporter.export(emitted) == LogRecordExportResult.SUCCESS
        exporter.shutdown()
        arrived = wait_for(lambda: len(sink.logs()) >= 3 and sink.logs(), timeout=60, what="three log records")
    streams = {
        str(record["attributes"].get("event.name")): record["resource"].get(c.AUDIT_STREAM_ATTRIBUTE)
        for record in arrived
    }
    assert streams == {c.AUDIT_EVENT_NAME: "audit", c.AUDIT_CHECKPOINT_EVENT_NAME: "audit", "None": None}
    (sent,) = [r for r in arrived if r["attributes"].get("event.name") == c.AUDIT_CHECKPOINT_EVENT_NAME]
    witnessed = witnessed_checkpoint({c.loki_field(k): str(v) for k, v in sent["attributes"].items()}, "now")
    public = log.key().public_key()
    assert witnessed is not None and signature_problem(witnessed.checkpoint, {key_id(public): public}) is None


def test_an_actor_named_only_by_a_string_is_recorded_as_given_with_a_type_nobody_claimed(
    log: AuditLog, telemetry: Telemetry
) -> None:
    glassbox.audit("config.change", actor="ops-1")
    glassbox.audit("config.change", actor={"id": "svc-9"})  # a mapping without a type says no more
    glassbox.audit("config.change", actor={"type": "agent", "id": "planner"})
    glassbox.audit("service.start")  # no actor: the app itself
    token = otel_context.attach(attribution.with_attribution({c.USER_ID: "user-7"}))
    try:
        glassbox.audit("profile.view")  # no actor, a user in the baggage: that user, a human
    finally:
        otel_context.detach(token)
    glassbox.set_kill_switch(True, actor="ops-1", reason="drill")
    glassbox.set_kill_switch(False, actor="ops-1")
    actors = [json.loads(line)["actor"] for line in log.path.read_text().splitlines()]
    assert actors[:5] == [
        {"type": "unknown", "id": "ops-1"},
        {"type": "unknown", "id": "svc-9"},
        {"type": "agent", "id": "planner"},
        {"type": "system"},
        {"type": "human", "id": "user-7"},
    ]
    assert actors[5:] and all(actor == {"type": "unknown", "id": "ops-1"} for actor in actors[5:]), actors
    copies = audit_logs(telemetry, "config.change")
    assert copies[0][c.AUDIT_ACTOR_TYPE] == "unknown" and copies[0][c.AUDIT_ACTOR_ID] == "ops-1"
