"""Online evaluators on real calls: the openai SDK against the stub, the guard in front, the GenAI
instrumentation making the span; results parented to the call's span, only scores exported, judges guarded and
counted under their own tenant and never judged, failures counted, and the request never waiting."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import context as otel_context

from glassbox import attribution
from glassbox import conventions as c
from glassbox.api import prompts
from glassbox.evaluators import calls
from glassbox.evaluators import worker as worker_module
from glassbox.evaluators.config import Evaluator, parse_entry
from glassbox.evaluators.rules import Answered, Verdict
from glassbox.evaluators.worker import Worker
from glassbox.guard import core as guard_core
from tests.conftest import Telemetry

SECRET_QUESTION = "What is the refund policy for order 7731-secret-question?"


@pytest.fixture
def oai(stub_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def worker_of(guarded: Any, telemetry: Telemetry) -> Iterator[Any]:
    """Start a worker on the given evaluators, observing the guard's calls; stopped after the test."""
    started: list[Worker] = []

    def start(evaluators: list[Evaluator], capacity: int = 100) -> Worker:
        worker = Worker(evaluators, capacity)
        guard_core.set_answer_observer(worker.observe)
        started.append(worker)
        return worker

    yield start
    guard_core.set_answer_observer(None)
    for worker in started:
        worker.close(10)


def entry(**fields: Any) -> Evaluator:
    return parse_entry(fields, "#1")


def results(telemetry: Telemetry) -> list[Any]:
    return [
        r.log_record for r in telemetry.logs.get_finished_logs() if r.log_record.event_name == c.GEN_AI_EVALUATION_EVENT
    ]


def ask(client: openai.OpenAI, tenant: str, text: str = SECRET_QUESTION) -> Any:
    token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: tenant}))
    try:
        return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    finally:
        otel_context.detach(token)


def test_results_are_parented_to_the_call_s_span_and_carry_provenance_not_content(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry, stub_url: str
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    judge = entry(
        name="helpful", version="4", kind="judge", model="gpt-4o-mini", url=f"{stub_url}/v1",
        prompt="Rate the answer to {question}: {answer}",
    )  # fmt: skip
    worker = worker_of([entry(name="no-refusal", version="2", kind="refusal"), entry(name="no-pii", kind="pii"), judge])
    with prompts.prompt("support-answer", version="7"):
        ask(oai, tenant)
    assert worker.drain(20)
    (chat,) = [
        s for s in telemetry.finished() if s.name.startswith("chat ") and s.attributes.get(c.TENANT_ID) == tenant
    ]
    found = {r.attributes[c.GEN_AI_EVALUATION_NAME]: r for r in results(telemetry)}
    assert set(found) == {"no-refusal", "no-pii", "helpful"}
    for record in found.values():
        assert (record.trace_id, record.span_id) == (chat.context.trace_id, chat.context.span_id)
        assert record.attributes[c.EVALUATION_SOURCE] == c.EVALUATION_SOURCE_ONLINE
        assert record.attributes[c.TENANT_ID] == tenant
    assert (found["no-refusal"].attributes[c.EVALUATOR_VERSION], found["no-refusal"].attributes[c.EVALUATOR_KIND]) == (
        "2", "refusal"
    )  # fmt: skip
    assert found["helpful"].attributes[c.GEN_AI_EVALUATION_SCORE_VALUE] == 0.9
    assert found["helpful"].attributes[c.EVALUATION_OUTCOME] == c.EVALUATION_ACCEPTED
    # counted with the evaluator's version and the prompt version as labels
    assert telemetry.total(
        c.METRIC_EVALUATION_RESULTS, gen_ai__evaluation__name="no-refusal", glassbox__evaluator__version="2",
        glassbox__prompt__name="support-answer", glassbox__prompt__version="7",
    ) >= 1  # fmt: skip
    # no question or answer text in any exported record or span
    exported = json.dumps([dict(r.attributes or {}) for r in results(telemetry)]) + json.dumps(
        [str(r.log_record.body) for r in telemetry.logs.get_finished_logs()]
    )
    assert "7731-secret-question" not in exported and "generated locally by the stub" not in exported


def test_a_judge_is_guarded_priced_under_its_own_tenant_and_never_judged(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry, stub_url: str
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    judge = entry(
        name="judge-all", kind="judge", model="gpt-4o-mini", url=f"{stub_url}/v1", prompt="Rate the answer {answer}"
    )
    worker = worker_of([judge])
    ask(oai, tenant)
    assert worker.drain(20)
    chats = [s for s in telemetry.finished() if s.name.startswith("chat ")]
    judged = [s for s in chats if s.attributes.get(c.TENANT_ID) == tenant]
    judging = [s for s in chats if s.attributes.get(c.TENANT_ID) == "_glassbox_eval"]
    assert len(judged) == 1 and len(judging) == 1
    assert judging[0].attributes.get(c.COST_USD, 0) > 0  # priced like any call
    assert len(results(telemetry)) == 1  # the judge's own call was not evaluated
    assert results(telemetry)[0].span_id == judged[0].context.span_id


def test_the_judges_tenant_has_a_kill_switch_of_its_own(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry, stub_url: str
) -> None:
    """Switched off for the judges' tenant only: the app's calls go on, the judge's is refused (and counted)."""
    judge = entry(
        name="judge-k", kind="judge", model="gpt-4o-mini", url=f"{stub_url}/v1", prompt="Rate the answer {answer}"
    )
    worker = worker_of([judge])
    guard_core.set_kill_switch(True, actor="test", reason="judging off", tenant="_glassbox_eval")
    try:
        assert ask(oai, f"t-{uuid.uuid4().hex[:8]}").choices[0].message.content
        assert worker.drain(20)
    finally:
        guard_core.set_kill_switch(False, actor="test", reason="judging on", tenant="_glassbox_eval")
    assert results(telemetry) == []
    assert not [s for s in telemetry.finished() if s.attributes.get(c.TENANT_ID) == "_glassbox_eval"]
    assert telemetry.total(c.METRIC_EVALUATION_DROPPED, gen_ai__evaluation__name="judge-k") >= 1


def test_failures_are_counted_and_logged_once_and_never_raised(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry, stub_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(call: Answered) -> Verdict:
        raise RuntimeError("evaluator bug")

    crashing = Evaluator("crashes", "1", 1.0, {}, "code", {}, broken)
    chatty = entry(
        name="chatty-judge", kind="judge", model="gpt-4o-mini", url=f"{stub_url}/v1", prompt="Say hello {answer}"
    )
    worker = worker_of([crashing, chatty])
    for _ in range(2):
        ask(oai, f"t-{uuid.uuid4().hex[:8]}")
    assert worker.drain(20)
    assert (
        telemetry.total(c.METRIC_EVALUATION_DROPPED, gen_ai__evaluation__name="crashes", reason="evaluator_error") >= 2
    )
    assert (
        telemetry.total(
            c.METRIC_EVALUATION_DROPPED, gen_ai__evaluation__name="chatty-judge", reason="judge_out_of_format"
        )
        >= 2
    )
    logged = [r for r in caplog.records if "crashes" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None  # once, with its traceback


def test_a_full_queue_drops_and_counts_and_the_request_never_waits(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry
) -> None:
    release = threading.Event()

    def slow(call: Answered) -> Verdict:
        release.wait(30)
        return Verdict(1.0)

    worker = worker_of([Evaluator("slow", "1", 1.0, {}, "code", {}, slow)], capacity=1)
    before = telemetry.total(c.METRIC_EVALUATION_DROPPED, gen_ai__evaluation__name="slow", reason="queue_full")
    for _ in range(4):  # one evaluating, one queued, two dropped: the calls all returned meanwhile
        ask(oai, f"t-{uuid.uuid4().hex[:8]}")
    dropped = (
        telemetry.total(c.METRIC_EVALUATION_DROPPED, gen_ai__evaluation__name="slow", reason="queue_full") - before
    )
    release.set()
    assert worker.drain(20)
    assert dropped >= 2


def test_queuing_wakes_the_worker_only_when_the_queue_is_half_full(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's thread does not wake the worker for every call (each wake-up hands it the interpreter lock):
    calls wait for the next batch, unless the queue is half full, or someone drains it."""
    monkeypatch.setattr(worker_module, "BATCH_INTERVAL_S", 3600.0)
    seen = threading.Event()
    evaluated: list[str] = []

    def note(call: Answered) -> Verdict:
        evaluated.append(call.answer)
        if len(evaluated) >= 2:
            seen.set()
        return Verdict(1.0)

    worker = worker_of([Evaluator("noted", "1", 1.0, {}, "code", {}, note)], capacity=4)
    ask(oai, f"t-{uuid.uuid4().hex[:8]}")
    assert worker.queue.qsize() == 1 and not evaluated  # queued, the worker asleep
    ask(oai, f"t-{uuid.uuid4().hex[:8]}")  # half of 4: wakes it
    assert seen.wait(20)
    ask(oai, f"t-{uuid.uuid4().hex[:8]}")
    assert worker.drain(20)  # drain wakes it too
    assert len(evaluated) == 3


def test_filters_and_sampling_choose_the_calls(oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    worker = worker_of([
        entry(name="only-acme", kind="refusal", when={"tenant": ["acme-only"]}),
        entry(name="never", kind="refusal", sample_rate=0),
        entry(name="this-tenant", kind="refusal", when={"tenant": [tenant], "model": ["gpt-4o-mini"]}),
    ])  # fmt: skip
    ask(oai, tenant)
    assert worker.drain(20)
    assert [r.attributes[c.GEN_AI_EVALUATION_NAME] for r in results(telemetry)] == ["this-tenant"]


def test_the_question_is_the_last_user_turn_and_streams_have_no_answer_yet() -> None:
    request = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first"},
                            {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"}]}  # fmt: skip
    assert calls.question(request) == "second"
    assert calls.question({"input": "just text"}) == "just text"
    assert calls.answer(iter([])) is None


def test_a_judge_through_the_anthropic_sdk(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry, stub_url: str
) -> None:
    """A judge may be reached through another SDK Glassbox instruments: Anthropic's messages API (the stub)."""
    judge = entry(
        name="claude-judge", kind="judge", sdk="anthropic", model="claude-haiku-4-5", url=stub_url,
        prompt="Rate the answer {answer}",
    )  # fmt: skip
    worker = worker_of([judge])
    ask(oai, f"t-{uuid.uuid4().hex[:8]}")
    assert worker.drain(20)
    (result,) = results(telemetry)
    assert result.attributes[c.GEN_AI_EVALUATION_SCORE_VALUE] == 0.9
    judging = [s for s in telemetry.finished() if s.attributes.get(c.TENANT_ID) == "_glassbox_eval"]
    # the call's GenAI span (and, nested in it, the Anthropic SDK's own, left out of the counts)
    assert judging and {s.attributes.get(c.GEN_AI_PROVIDER_NAME) for s in judging} == {"anthropic"}


def test_a_result_carries_the_session_and_user_of_the_answer_it_judges(
    oai: openai.OpenAI, worker_of: Any, telemetry: Telemetry
) -> None:
    """Recorded on the worker thread, long after the request: the request's attribution is restored, so a session's
    evaluation outcomes can be counted per session in Loki."""
    tenant, session = f"t-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    worker = worker_of([entry(name="no-refusal-s", kind="refusal")])
    values = {c.TENANT_ID: tenant, c.USER_ID: "u-1", c.SESSION_ID: session, c.REQUEST_ID: "req-s1"}
    token = otel_context.attach(attribution.with_attribution(values))
    try:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    finally:
        otel_context.detach(token)
    assert worker.drain(20)
    (record,) = results(telemetry)
    assert record.attributes.get(c.SESSION_ID) == session and record.attributes.get(c.USER_ID) == "u-1"
    assert record.attributes.get(c.REQUEST_ID) == "req-s1"
