"""`glassbox story`: every section present, partial when a backend is down, PII masked, and on the real stack
the whole request (traces by request id, model and tool calls with cost, logs, audit decisions)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassbox import conventions as c
from glassbox.audit.chain import AuditLog
from glassbox.cli import story
from glassbox.db import migrate
from glassbox.stack_addresses import Endpoints
from tests.conftest import free_port
from tests.e2e.test_demo_subprocess import demo_app, headers
from tests.support.binaries import requires
from tests.support.read_backends import ReadBackends
from tests.support.stack_fixtures import new_stack, otlp_http, wait_for

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PII = ("jane.doe@example.com", "+1 415-555-0132", "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2")


def nothing_listening() -> Endpoints:
    ports = {name: str(free_port()) for name in ("GLASSBOX_TEMPO_PORT", "GLASSBOX_LOKI_PORT")}
    return Endpoints.from_environ(ports)


def test_with_the_backends_down_the_bundle_is_partial_complete_and_masked(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    # Written straight to the log, unredacted, as an older writer might have: the story masks it anyway.
    log.append({"action": "ai.model_choice", "trace_id": TRACE, "time": "2026-11-22T10:00:00+00:00",
                "actor": {"type": "agent", "id": "planner"}, "outcome": {"status": "success",
                "reason": "user " + " / ".join(PII)}})  # fmt: skip
    log.append({"action": "login", "trace_id": "0" * 32, "time": "2026-11-22T10:00:01+00:00"})
    bundle = story.Story(nothing_listening(), timeout=2, since_seconds=3600, audit_log=log.path).bundle(TRACE)
    assert set(story.SECTIONS) <= set(bundle)
    assert bundle["traces"] == [TRACE] and bundle["spans"] == [] and bundle["logs"] == []
    assert [a["action"] for a in bundle["audit"]] == ["ai.model_choice"]
    assert [d["action"] for d in bundle["decisions"]] == ["ai.model_choice"]
    assert {note.split(":")[0] for note in bundle["missing"]} == {"tempo", "loki"}
    assert bundle["totals"]["model_calls"] == 0 and bundle["timeline"]
    text = json.dumps(bundle)
    assert not [value for value in PII if value in text], text


def test_a_request_id_with_tempo_down_finds_no_trace_and_says_why(tmp_path: Path) -> None:
    bundle = story.Story(nothing_listening(), 2, 3600, tmp_path / "none.jsonl").bundle("req-unknown")
    assert bundle["traces"] == [] and set(story.SECTIONS) <= set(bundle)
    assert any(note.startswith("tempo") for note in bundle["missing"])


def test_a_request_that_just_ended_is_found_through_the_fleet_audit_with_tempo_s_search_unavailable(
    pg_url: str, tmp_path: Path
) -> None:
    """Tempo's search lags a finished request by about a minute: its trace ids come from the audit trail."""
    from glassbox.audit.postgres import PostgresAuditLog
    from glassbox.db import Database

    central = PostgresAuditLog(Database(pg_url, 5.0), tmp_path / "key")
    with psycopg.connect(pg_url, autocommit=True) as connection:
        migrate(connection)
    first, second = "a" * 32, "b" * 32
    for trace_id, action in ((first, "ai.tool_call"), (second, "ai.model_choice"), ("c" * 32, "login")):
        request = "req-just-now" if action != "login" else "req-other"
        event = {"id": uuid.uuid4().hex, "time": "2026-11-30T10:00:00+00:00", "action": action}
        central.append({**event, "trace_id": trace_id, "request_id": request, "actor": {"type": "agent"}})
    teller = story.Story(nothing_listening(), timeout=2, since_seconds=3600, audit_log=None, central=central)
    bundle = teller.bundle("req-just-now")
    assert bundle["traces"] == [first, second]
    assert bundle["trace_sources"] == {first: ["audit"], second: ["audit"]}
    assert [a["action"] for a in bundle["audit"]] == ["ai.tool_call", "ai.model_choice"]
    assert {note.split(":")[0] for note in bundle["missing"]} >= {"tempo", "loki"}  # and it says why they gave none


def test_the_command_writes_the_bundle_and_exits_1_when_nothing_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GLASSBOX_TEMPO_PORT", str(free_port()))
    monkeypatch.setenv("GLASSBOX_LOKI_PORT", str(free_port()))
    out = tmp_path / "story.json"
    code = story.main(["req-nothing", "--json", str(out), "--timeout", "1", "--audit-log", str(tmp_path / "x")])
    assert code == 1
    assert set(story.SECTIONS) <= set(json.loads(out.read_text()))
    assert "missing: tempo" in capsys.readouterr().out


@requires("tempo")
@requires("loki")
def test_the_story_of_a_request_on_the_real_stack(stub_url: str, tmp_path: Path) -> None:
    stack = new_stack(tmp_path)
    try:
        stack.up(["prometheus", "loki", "tempo", "collector"])
        request_id = f"req-{uuid.uuid4().hex[:10]}"
        with demo_app(stub_url, otlp_http(stack), tmp_path) as app:
            client = httpx.Client(base_url=app["url"], timeout=30)
            for _ in range(2):  # one request id, two traces
                response = client.post("/agent", json={"task": "how do I export?"}, headers=headers("acme", request_id))
                assert response.status_code == 200
        endpoints = Endpoints.from_environ(stack.env)
        teller = story.Story(endpoints, timeout=10, since_seconds=3600, audit_log=tmp_path / "audit" / "audit.jsonl")

        def told() -> dict[str, Any] | None:
            bundle = teller.bundle(request_id)
            complete = len(bundle["traces"]) == 2 and len(bundle["llm_calls"]) == 8 and bundle["logs"]
            return bundle if complete else None

        bundle = wait_for(told, timeout=90, what=f"the story of {request_id}")
        assert bundle["missing"] == []
        starts = [min(s["start"] for s in bundle["spans"] if s["trace_id"] == t) for t in bundle["traces"]]
        assert starts == sorted(starts)
        assert all(call["usd"] and call["usd"] > 0 for call in bundle["llm_calls"])
        assert bundle["totals"]["usd"] == pytest.approx(sum(call["usd"] for call in bundle["llm_calls"]))
        assert {t["tool"] for t in bundle["tool_calls"]} == {"lookup_account", "search_docs"}
        assert {d["action"] for d in bundle["decisions"]} == {"ai.tool_call"}
        assert all(record["fields"].get(c.LOKI_TRACE_ID_FIELD) in bundle["traces"] for record in bundle["logs"])
    finally:
        stack.down()


@requires("tempo")
@requires("loki")
def test_the_story_of_a_session_on_the_real_stack(stub_url: str, tmp_path: Path) -> None:
    """Two turns of one session (x-session-id), each its own request: the story finds both traces through Loki's
    session_id field and Tempo's search on session.id, in the order they were asked."""
    stack = new_stack(tmp_path)
    try:
        stack.up(["prometheus", "loki", "tempo", "collector"])
        session_id = f"chat-{uuid.uuid4().hex[:10]}"
        request_ids = [f"req-{uuid.uuid4().hex[:10]}" for _ in range(2)]
        with demo_app(stub_url, otlp_http(stack), tmp_path) as app:
            client = httpx.Client(base_url=app["url"], timeout=30)
            for request_id in request_ids:
                sent = {**headers("acme", request_id), "x-session-id": session_id}
                assert client.post("/agent", json={"task": "how do I export?"}, headers=sent).status_code == 200
        teller = story.Story(Endpoints.from_environ(stack.env), 10, 3600, tmp_path / "audit" / "audit.jsonl")

        def told() -> dict[str, Any] | None:
            bundle = teller.bundle(session_id, session=True)
            found = {source for sources in bundle["trace_sources"].values() for source in sources}
            complete = len(bundle["turns"]) == 2 and len(bundle["llm_calls"]) == 8 and bundle["logs"]
            return bundle if complete and found == {"loki", "tempo search"} else None

        bundle = wait_for(told, timeout=120, what=f"the story of session {session_id}")
        assert bundle["missing"] == [] and bundle["kind"] == "session"
        assert [turn["request_id"] for turn in bundle["turns"]] == request_ids
        assert all(turn["in_tempo"] and turn["model_calls"] == 4 for turn in bundle["turns"])
        assert bundle["totals"]["usd"] == pytest.approx(sum(turn["usd"] for turn in bundle["turns"]))
        assert all(span["attributes"].get(c.SESSION_ID) == session_id for span in bundle["spans"])
        assert {d["action"] for d in bundle["decisions"]} == {"ai.tool_call"}
    finally:
        stack.down()


def recording_backend(trace: dict[str, Any] | None = None) -> ReadBackends:
    """Loki and Tempo that answer with ``trace`` (Tempo's OTLP JSON) for any trace id, a search hit for it, and
    no log records; ``queries`` keeps every query they were asked."""

    def answer(path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        if path.startswith("/api/traces/") and trace is not None:
            return 200, trace
        if path == "/api/search":
            return 200, {"traces": [{"traceID": TRACE, "startTimeUnixNano": "1"}] if trace else []}
        return 200, {"data": {"result": []}}

    return ReadBackends(answer)


WIDENING = 'x" or {service_name=~".+"} | glassbox_request_id=~".+'


def test_a_request_id_that_would_widen_the_logql_and_traceql_queries_is_refused_before_any_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with recording_backend() as backend:
        teller = story.Story(backend.endpoints(), timeout=2, since_seconds=3600, audit_log=tmp_path / "none.jsonl")
        bundle = teller.bundle(WIDENING)
        assert backend.queries == []
        assert bundle["traces"] == [] and bundle["query"] == "[REDACTED:invalid_identifier]"
        assert any(note.startswith("query: not a trace id") for note in bundle["missing"])
        assert story.main([WIDENING, "--audit-log", str(tmp_path / "none.jsonl")]) == 2
        assert "not a trace id" in capsys.readouterr().err
        assert backend.queries == []


def test_a_valid_request_id_reaches_each_query_as_one_string_literal(tmp_path: Path) -> None:
    with recording_backend() as backend:
        story.Story(backend.endpoints(), 2, 3600, tmp_path / "none.jsonl").bundle("req-42:a@b.c+d")
    traceql = [q for q in backend.queries if q.startswith("{ span.")]
    assert any(f'| {c.loki_field(c.REQUEST_ID)}="req-42:a@b.c+d" [3600s]' in q for q in backend.queries)
    assert traceql == [f'{{ span.{c.REQUEST_ID} = "req-42:a@b.c+d" }}']


def test_a_session_id_reaches_each_query_as_one_string_literal_on_the_session_field(tmp_path: Path) -> None:
    with recording_backend() as backend:
        bundle = story.Story(backend.endpoints(), 2, 3600, tmp_path / "none.jsonl").bundle("chat:7@b", session=True)
    logql = f'| {c.loki_field(c.SESSION_ID)}="chat:7@b" [3600s]'
    assert any(logql in q and q.startswith(f"sum by ({c.LOKI_TRACE_ID_FIELD})") for q in backend.queries)
    assert [q for q in backend.queries if q.startswith("{ span.")] == [f'{{ span.{c.SESSION_ID} = "chat:7@b" }}']
    assert not [q for q in backend.queries if c.loki_field(c.REQUEST_ID) in q or c.REQUEST_ID in q]
    assert bundle["kind"] == "session" and bundle["query"] == "chat:7@b"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_no_value_can_end_the_query_string_literal(value: str) -> None:
    literal = story.query_string(value)
    assert literal[0] == literal[-1] == '"'
    inner = literal[1:-1]
    # every quote inside is escaped, and the literal reads back as the value (Go's unquoting of these escapes)
    assert '"' not in inner.replace("\\\\", "").replace('\\"', "")
    assert json.loads(literal) == value


def test_the_bundle_masks_what_the_trace_carries(tmp_path: Path) -> None:
    """Tempo holds whatever an app exported (an app without glassbox, a collector without redaction): the bundle
    built from it is redacted anyway."""

    def value(text: str) -> dict[str, Any]:
        return {"stringValue": text}

    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    span = {
        "traceId": TRACE,
        "spanId": "00f067aa0ba902b7",
        "name": "GET",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000100000000",
        "attributes": [
            {"key": "url.full", "value": value("https://u:pw9x@api.example.com/x?access_token=tok123&page=1")},
            {"key": "db.password", "value": value("hunter2")},
            {"key": "user.id", "value": value("jane.doe@example.com")},
        ],
        "events": [{"name": "exception", "attributes": [{"key": "exception.message", "value": value(token)}]}],
    }
    trace = {"batches": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}
    with recording_backend(trace) as backend:
        bundle = story.Story(backend.endpoints(), 2, 3600, tmp_path / "none.jsonl").bundle(TRACE)
    (found,) = bundle["spans"]
    assert found["attributes"]["url.full"] == "https://REDACTED:REDACTED@api.example.com/x?access_token=REDACTED&page=1"
    text = json.dumps(bundle)
    for secret in ("pw9x", "tok123", "hunter2", "jane.doe@example.com", token):
        assert secret not in text, secret


@requires("loki")
def test_a_feedback_event_in_the_story_says_what_the_user_said_without_the_comment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's thumbs down goes from an app through the real collector into a real Loki; its body is removed by
    the content policy, and the story still tells its name, verdict, score, label and that a comment came with it
    (the comment itself only with content capture on)."""
    from tests.conftest import instrumented_env

    trace_id = uuid.uuid4().hex
    stack = new_stack(tmp_path)
    try:
        stack.up(["prometheus", "loki", "collector"])
        script = (
            "import glassbox\n"
            f"glassbox.feedback(trace_id={trace_id!r}, score=0, label='thumbs_down', comment='wrong invoice total')\n"
        )
        env = instrumented_env(OTEL_EXPORTER_OTLP_ENDPOINT=otlp_http(stack), OTEL_SERVICE_NAME="checkout")
        app = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, "-c", script]
        subprocess.run(app, env=env, check=True, timeout=120, cwd=tmp_path)
        teller = story.Story(Endpoints.from_environ(stack.env), 10, 3600, tmp_path / "none.jsonl")

        def told() -> dict[str, Any] | None:
            bundle = teller.bundle(trace_id)
            return bundle if bundle["logs"] else None

        bundle = wait_for(told, timeout=90, what=f"the feedback on {trace_id} in Loki")
        (line,) = [entry for entry in bundle["timeline"] if "user_feedback" in entry]
        assert "feedback checkout: user_feedback: rejected, score 0" in line, line
        assert "label thumbs_down" in line and "with a comment" in line, line
        assert "wrong invoice total" not in "\n".join(bundle["timeline"])
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        (line,) = [entry for entry in teller.bundle(trace_id)["timeline"] if "user_feedback" in entry]
        assert "comment 'wrong invoice total'" in line, line
    finally:
        stack.down()


def fake_tempo(searched: list[str], stored: list[str]) -> ReadBackends:
    """Tempo's two read endpoints: search answers with ``searched`` trace ids, by id only ``stored`` ones."""

    def answer(path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        if path.startswith("/api/search"):
            return 200, {"traces": [{"traceID": t, "startTimeUnixNano": "1"} for t in searched]}
        return (200, {"batches": []}) if path.rsplit("/", 1)[-1] in stored else (404, {})

    return ReadBackends(answer, loki=False)


def _audit_at(tmp_path: Path, trace_id: str, seconds_ago: float) -> Path:
    from datetime import UTC, datetime, timedelta

    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    when = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()
    log.append({"action": "ai.call_refused", "trace_id": trace_id, "request_id": "req-1", "time": when})
    return log.path


@pytest.mark.parametrize(("seconds_ago", "sampled_out"), [(300.0, True), (5.0, False)])
def test_a_trace_tempo_does_not_have_is_called_not_sampled_once_it_is_old_enough(
    tmp_path: Path, seconds_ago: float, sampled_out: bool
) -> None:
    """With the collector tiers, tail sampling drops most ordinary traces: the story says so (not "wait a few
    seconds") once the trace's last record is older than Tempo's delay, and still gives its audit events."""
    with fake_tempo(searched=[], stored=[]) as tempo:
        bundle = story.Story(tempo.endpoints(), 2, 3600, _audit_at(tmp_path, TRACE, seconds_ago)).bundle(TRACE)
    assert [a["action"] for a in bundle["audit"]] == ["ai.call_refused"]
    assert bundle["not_sampled"] == ([TRACE] if sampled_out else [])
    (note,) = [n for n in bundle["missing"] if n.startswith("tempo:")]
    assert ("not sampled" in note) is sampled_out and ("few seconds" in note) is not sampled_out
    assert bundle["totals"]["complete"] is False


def test_tempo_s_search_lag_is_a_note_not_a_missing_part(tmp_path: Path) -> None:
    """Tempo's search finds one of the request's two traces (its index lags); both are fetched by id: nothing
    is missing, and the lag is told as a note."""
    first, second = "a" * 32, "b" * 32
    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    for trace_id in (first, second):
        log.append(
            {
                "action": "ai.tool_call",
                "trace_id": trace_id,
                "request_id": "req-lag",
                "time": "2026-12-01T10:00:00+00:00",
            }
        )
    with fake_tempo(searched=[first], stored=[first, second]) as tempo:
        bundle = story.Story(tempo.endpoints(), 2, 3600, log.path).bundle("req-lag")
    assert bundle["traces"] == [first, second]
    assert [n for n in bundle["missing"] if n.startswith("tempo")] == []
    assert any(n.startswith("tempo search: found 1 of the 2") for n in bundle["notes"])
    assert bundle["totals"]["complete"] is True


def session_backends(
    in_loki: list[str],
    searched: list[str],
    stored: dict[str, list[dict[str, Any]]],
    records: dict[str, list[tuple[int, str, dict[str, str]]]],
) -> ReadBackends:
    """Loki and Tempo holding one session's turns: Loki's metric query finds ``in_loki``, Tempo's search
    ``searched``; by id Tempo has the traces of ``stored`` (trace id -> spans), Loki the log records of ``records``
    (trace id -> [(nanoseconds, line, fields)])."""

    def answer(path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        query = (params.get("query") or [""])[0]
        if path == "/loki/api/v1/query":
            result = [{"metric": {c.LOKI_TRACE_ID_FIELD: t}, "value": [1, "3"]} for t in in_loki]
            return 200, {"data": {"resultType": "vector", "result": result}}
        if path == "/loki/api/v1/query_range":
            wanted = query.rsplit("=", 1)[-1].strip('"')
            streams = [
                {"stream": {"service_name": "chat", **fields}, "values": [[str(ns), line]]}
                for ns, line, fields in records.get(wanted, [])
            ]
            return 200, {"data": {"resultType": "streams", "result": streams}}
        if path == "/api/search":
            return 200, {"traces": [{"traceID": t, "startTimeUnixNano": "1"} for t in searched]}
        spans = stored.get(path.rsplit("/", 1)[-1])
        if spans is None:
            return 404, {}
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "chat"}}]}
        return 200, {"batches": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}

    return ReadBackends(answer)


def _span(trace_id: str, span_id: str, start_ns: int, parent: str | None = None, **attributes: Any) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "POST /chat" if parent is None else "chat gpt-4o",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 2_000_000_000),
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }
    return {**span, "parentSpanId": parent} if parent else span


def _turn(trace_id: str, start_ns: int, request_id: str, input_tokens: int, usd: float) -> list[dict[str, Any]]:
    root = _span(trace_id, trace_id[:16], start_ns, **{c.SESSION_ID: "chat-1", c.REQUEST_ID: request_id})
    call = _span(trace_id, trace_id[16:], start_ns + 1000, parent=trace_id[:16], **{
        c.SESSION_ID: "chat-1", c.GEN_AI_OPERATION_NAME: "chat", c.GEN_AI_REQUEST_MODEL: "gpt-4o",
        c.GEN_AI_USAGE_INPUT_TOKENS: input_tokens, c.GEN_AI_USAGE_OUTPUT_TOKENS: 5, c.COST_USD: usd})  # fmt: skip
    return [root, call]


def test_the_story_of_a_session_tells_its_turns_in_order_from_loki_and_tempo(tmp_path: Path) -> None:
    """Three turns: the first found in Loki and by Tempo's search, the second only by the search (its process
    logged nothing), the third only in Loki and not kept by Tempo. Turns come in the order they started, each
    with its request id, model calls and USD; the audit events are those of the turns' traces."""
    import time

    first, second, third = "1" * 32, "2" * 32, "3" * 32
    t0 = time.time_ns() - 600 * 10**9
    session = {c.loki_field(c.SESSION_ID): "chat-1", c.LOKI_TRACE_ID_FIELD: ""}
    evaluation = {
        c.loki_field(c.GEN_AI_EVALUATION_NAME): "user_feedback",
        c.loki_field(c.EVALUATION_OUTCOME): "rejected",
        c.loki_field(c.GEN_AI_EVALUATION_SCORE_VALUE): "0",
    }
    records = {
        first: [
            (t0 + 10**9, "answering " + PII[0], {**session, c.LOKI_TRACE_ID_FIELD: first}),
            (t0 + 5 * 10**9, "user_feedback: rejected", {c.LOKI_TRACE_ID_FIELD: first, **evaluation}),
        ],
        third: [
            (
                t0 + 20 * 10**9,
                "answering again",
                {**session, c.LOKI_TRACE_ID_FIELD: third, c.loki_field(c.REQUEST_ID): "req-3"},
            )
        ],
    }
    stored = {first: _turn(first, t0, "req-1", 10, 0.01), second: _turn(second, t0 + 10 * 10**9, "req-2", 20, 0.02)}
    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    log.append({"action": "ai.tool_call", "trace_id": second, "request_id": "req-2", "time": "2026-12-01T10:00:00Z"})
    log.append({"action": "ai.tool_call", "trace_id": "9" * 32, "request_id": "req-9", "time": "2026-12-01T10:00:00Z"})
    with session_backends([third, first], [second, first], stored, records) as backends:
        bundle = story.Story(backends.endpoints(), 2, 3600, log.path).bundle("chat-1", session=True)
    assert set(story.SECTIONS) <= set(bundle)
    assert bundle["traces"] == [first, second, third]
    assert bundle["trace_sources"] == {third: ["loki"], first: ["loki", "tempo search"], second: ["tempo search"]}
    assert [(t["trace_id"], t["request_id"], t["in_tempo"]) for t in bundle["turns"]] == [
        (first, "req-1", True),
        (second, "req-2", True),
        (third, "req-3", False),
    ]
    assert [(t["model_calls"], t["input_tokens"], t["usd"]) for t in bundle["turns"]] == [
        (1, 10, 0.01),
        (1, 20, 0.02),
        (0, 0, 0),
    ]
    assert bundle["turns"][0]["evaluations"] == [{"name": "user_feedback", "outcome": "rejected", "score": "0"}]
    assert bundle["totals"]["usd"] == pytest.approx(0.03) and bundle["totals"]["input_tokens"] == 30
    assert bundle["totals"]["complete"] is False and bundle["not_sampled"] == [third]
    assert [a["trace_id"] for a in bundle["audit"]] == [second]
    assert [n for n in bundle["missing"] if not n.startswith(f"tempo: trace {third}")] == [], bundle["missing"]
    assert any(n.startswith("tempo search: found 2 of the 3 traces of session chat-1") for n in bundle["notes"])
    turn_lines = [line.split("  ", 1)[1] for line in bundle["timeline"] if "turn " in line]
    assert turn_lines == [
        f"turn   1: trace {first} request req-1",
        f"turn   2: trace {second} request req-2",
        f"turn   3: trace {third} request req-3",
    ]
    assert PII[0] not in json.dumps(bundle)


def test_a_session_with_the_backends_down_is_partial_and_says_why(tmp_path: Path) -> None:
    bundle = story.Story(nothing_listening(), 2, 3600, tmp_path / "none.jsonl").bundle("chat-1", session=True)
    assert set(story.SECTIONS) <= set(bundle) and bundle["traces"] == bundle["turns"] == []
    assert {note.split(":")[0] for note in bundle["missing"]} >= {"tempo", "loki", "session chat-1"}


def test_a_session_id_that_would_widen_the_queries_is_refused_before_any_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with recording_backend() as backend:
        bundle = story.Story(backend.endpoints(), 2, 3600, tmp_path / "none.jsonl").bundle(WIDENING, session=True)
        assert bundle["query"] == "[REDACTED:invalid_identifier]" and bundle["traces"] == []
        assert any(note.startswith("query: not a valid session id") for note in bundle["missing"])
        assert story.main(["--session", WIDENING, "--audit-log", str(tmp_path / "none.jsonl")]) == 2
        assert "not a valid session id" in capsys.readouterr().err
        assert story.main(["--session", "x" * 129, "--audit-log", str(tmp_path / "none.jsonl")]) == 2
        assert backend.queries == []


@pytest.mark.parametrize("argv", [[], ["req-1", "--session", "chat-1"]])
def test_the_command_wants_either_an_id_or_a_session(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        story.main(argv)
    assert exit.value.code == 2
    assert "one of them" in capsys.readouterr().err


def test_the_session_command_writes_the_bundle_and_exits_1_when_nothing_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GLASSBOX_TEMPO_PORT", str(free_port()))
    monkeypatch.setenv("GLASSBOX_LOKI_PORT", str(free_port()))
    out = tmp_path / "story.json"
    argv = ["--session", "chat-none", "--json", str(out), "--timeout", "1", "--audit-log", str(tmp_path / "x")]
    assert story.main(argv) == 1
    written = json.loads(out.read_text())
    assert written["kind"] == "session" and written["query"] == "chat-none"
    printed = capsys.readouterr().out
    assert "0 turn(s)" in printed and "missing: session chat-none: no trace found in Loki" in printed
