"""The guard's decision before every model call, and the accounting after it.

Before a call (:func:`admit`) it checks, in order:

1. the kill switch: ``GLASSBOX_KILL_SWITCH=true`` in this process, or a switch that is on in the shared state for
   every tenant or for the calling tenant (``glassbox kill-switch on [--tenant T]``, :func:`set_kill_switch`);
   read from what the process already knows, no I/O;
2. the tenant's budget and the total of every tenant (glassbox.guard.budgets): the call's most expensive outcome as
   far as it is known (its input, about one token per ``CHARS_PER_TOKEN`` characters of text, plus the output
   tokens it allows, at the model's prices) is reserved against the tenant's day and month budgets and the
   total's in one atomic step of the shared state, which refuses it when spend plus what is reserved would cross
   a budget (reasons ``budget_day``/``budget_month``, ``budget_total_day``/``budget_total_month``). A request
   that names no tenant is budgeted as ``_none``, an invalid one as ``_invalid``;
3. the request's limits per request id (0: no limit), counted in the shared state: ``GLASSBOX_REQUEST_MAX_LLM_CALLS``
   model calls, ``GLASSBOX_REQUEST_MAX_USD`` and ``GLASSBOX_REQUEST_MAX_TOKENS`` spent by the calls before, and
   ``GLASSBOX_REQUEST_MAX_SECONDS`` since the request arrived (the edge notes when).

A refused call is not made: it is audited (``ai.call_refused``), added as an event to the current span and counted
in ``glassbox.ai.calls_refused`` by reason; the fallback set with :func:`set_fallback` answers instead, or the
call raises :class:`AICallRefused`. After a call, the model-call span that took over its reservation settles it
with the real cost when it ends (:func:`account`); a call that never started a span releases it.

When the shared state cannot answer within ``GLASSBOX_STATE_TIMEOUT`` (or any other failure inside the guard),
``GLASSBOX_STATE_FAILURE`` decides: ``fail-open`` lets the call go on (with the last kill-switch state seen),
``fail-closed`` refuses it (reason ``state_unavailable``). Either way the failure is counted and logged once with
its traceback: observability never breaks the app.

The settings the hot path needs are read once into :class:`GuardConfig` (:func:`configure`); what may change
while the app runs lives in the shared state (the kill switch, budgets set with ``glassbox budgets``) and in
:func:`set_fallback`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from glassbox import attribution, instruments, settings
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.audit.events import AuditRefused, audit, build_event, record_chained_elsewhere
from glassbox.cost import Usage, price
from glassbox.guard import budgets, guardrail, spend_writer
from glassbox.guard.guardrail import detectors
from glassbox.guard.request import NON_TEXT_KEYS, field
from glassbox.integrations.litellm import provider_and_model
from glassbox.state import BudgetExceeded, RequestLimits, Reservation, StateUnavailable
from glassbox.version import __version__

_logger = logging.getLogger(__name__)

# Characters of prompt text per token, to estimate a call's input tokens before it is made (English text
# averages about four with the OpenAI and Anthropic tokenizers).
CHARS_PER_TOKEN = 4
# The request arguments that hold the input of each kind of call, and those that bound its output tokens.
INPUT_ARGUMENTS = ("messages", "system", "input", "instructions", "tools", "contents")
OUTPUT_LIMIT_ARGUMENTS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
# google-genai passes the output limit and the system instruction inside ``config``.
CONFIG_INPUT_FIELDS = ("system_instruction", "tools")
# Kinds of call: what answer a fallback must give (AICallRefused.call).
OPENAI_CHAT, OPENAI_CHAT_PARSE = "openai.chat", "openai.chat.parse"
OPENAI_RESPONSES, OPENAI_EMBEDDINGS = "openai.responses", "openai.embeddings"
ANTHROPIC_MESSAGES, ANTHROPIC_MESSAGES_STREAM = "anthropic.messages", "anthropic.messages.stream"
GEMINI_GENERATE, GEMINI_GENERATE_STREAM = "gemini.generate_content", "gemini.generate_content_stream"
BEDROCK_CONVERSE, BEDROCK_CONVERSE_STREAM = "aws.bedrock.converse", "aws.bedrock.converse_stream"
BEDROCK_INVOKE, BEDROCK_INVOKE_STREAM = "aws.bedrock.invoke_model", "aws.bedrock.invoke_model_with_response_stream"
# LiteLLM's completion and acompletion, to any provider: the request carries the provider it resolved.
LITELLM_COMPLETION = "litellm.completion"
# botocore sends every operation through one method: the Bedrock runtime's model calls among them.
BEDROCK_PROVIDER, BEDROCK_SERVICE = "aws.bedrock", "bedrock-runtime"
BEDROCK_OPERATIONS = {
    "Converse": BEDROCK_CONVERSE,
    "ConverseStream": BEDROCK_CONVERSE_STREAM,
    "InvokeModel": BEDROCK_INVOKE,
    "InvokeModelWithResponseStream": BEDROCK_INVOKE_STREAM,
}
# InvokeModel bodies are the model provider's own JSON: the fields that hold input text and bound the output
# (Anthropic and OpenAI-style messages, Amazon Titan's inputText, Meta's prompt and max_gen_len, ...).
BEDROCK_BODY_INPUT = ("messages", "system", "prompt", "inputText")
BEDROCK_BODY_OUTPUT_LIMIT = ("max_tokens", "max_gen_len", "maxTokenCount", "max_new_tokens")


class AICallRefused(RuntimeError):
    """A model call the guard did not let through; ``reason`` says why."""

    def __init__(self, reason: str, detail: str, call: str = "") -> None:
        super().__init__(f"AI call refused ({reason}): {detail}")
        self.reason = reason
        self.detail = detail
        # The kind of call refused (OPENAI_CHAT, ANTHROPIC_MESSAGES, ...): what answer its caller expects.
        self.call = call


Fallback = Callable[[AICallRefused, dict[str, Any]], Any]


@dataclass(frozen=True)
class GuardConfig:
    """The settings the guard reads, once, at :func:`configure`."""

    kill_switch: bool
    limits: RequestLimits
    fail_closed: bool

    @classmethod
    def from_settings(cls) -> GuardConfig:
        return cls(
            kill_switch=settings.KILL_SWITCH.get(),
            limits=RequestLimits(
                calls=settings.REQUEST_MAX_LLM_CALLS.get(),
                usd=settings.REQUEST_MAX_USD.get(),
                tokens=settings.REQUEST_MAX_TOKENS.get(),
                seconds=settings.REQUEST_MAX_SECONDS.get(),
            ),
            fail_closed=settings.STATE_FAILURE.get() == "fail-closed",
        )


_config: GuardConfig | None = None
_fallback: Fallback | None = None
_refused: metrics.Counter | None = None
# Set while a fallback runs: a model call it makes that is refused too raises instead of falling back again.
_in_fallback: ContextVar[bool] = ContextVar("glassbox_in_fallback", default=False)
# The reservation of the call being made, for the model-call span it starts to take over.
_pending: ContextVar[Reservation | None] = ContextVar("glassbox_pending_reservation", default=None)


def configure() -> GuardConfig:
    """Read the guard's settings and the budgets file now, and open the shared state (so that a state that
    cannot be used is reported at start-up, not at the first model call) as one of its watchers: this process
    is counted among those that obey the kill switch (what `glassbox kill-switch` reports)."""
    global _config
    _config = GuardConfig.from_settings()
    budgets.configure()
    state_module.watch()
    return _config


def config() -> GuardConfig:
    """The settings snapshot (read now if :func:`configure` has not run)."""
    global _config
    if _config is None:
        _config = GuardConfig.from_settings()
    return _config


def reset() -> None:
    """Forget the settings snapshot and the fallback (tests change the environment between cases)."""
    global _config, _fallback
    _config, _fallback = None, None


# Told of every model call that returned (the online evaluators install one; glassbox.evaluators): the call's kind,
# the request the guard read, what the SDK returned, and when the call started (time.time_ns()). Nothing when None.
AnswerObserver = Callable[[str, dict[str, Any], Any, int], None]
_answer_observer: AnswerObserver | None = None


def set_answer_observer(observer: AnswerObserver | None) -> None:
    global _answer_observer
    _answer_observer = observer


def observing() -> bool:
    """Whether anyone is told of returned calls (the online evaluators, when some are declared)."""
    return _answer_observer is not None


def call_started() -> int:
    """When a call starts, for observe_answer: 0 (no clock read) when nobody observes."""
    return time.time_ns() if _answer_observer is not None else 0


def observe_answer(call: str, request: dict[str, Any], answer: Any, started: int) -> None:
    """Tell the observer of a returned call; never raises into the app (a failure is counted)."""
    observer = _answer_observer
    if observer is None:
        return
    try:
        observer(call, request, answer, started)
    except Exception:
        _logger.debug("glassbox answer observer failed", exc_info=True)
        instruments.count_dropped_quietly("traces", "evaluation_offer_error")


def set_fallback(fallback: Fallback | None) -> None:
    """What answers a refused call: ``fallback(refusal, call_kwargs)`` (may be async); None: raise."""
    global _fallback
    _fallback = fallback


# --------------------------------------------------------------------------- before the call
def _characters(value: Any) -> int:
    """Characters of text in a request argument (strings inside any nesting of lists and dicts). Images, audio
    and files (base64 or URLs) are left out: the estimate stays a lower bound."""
    if isinstance(value, str):
        return 0 if value.startswith("data:") else len(value)
    if isinstance(value, dict):
        return sum(_characters(v) for k, v in value.items() if k not in NON_TEXT_KEYS)
    if isinstance(value, (list, tuple)):
        return sum(_characters(v) for v in value)
    if hasattr(value, "model_dump"):  # the SDKs' request types (google-genai's Content, Part, ...)
        return _characters(value.model_dump(exclude_none=True))
    return 0


def bedrock_request(params: dict[str, Any]) -> dict[str, Any]:
    """A Bedrock runtime call's parameters (``modelId``, ``messages``, ``inferenceConfig``, or an InvokeModel
    ``body``) as the arguments the guard reads for other SDKs: ``model``, the input, ``max_tokens``."""
    request: dict[str, Any] = {"model": str(params.get("modelId") or "")}
    for name in ("messages", "system"):
        if params.get(name) is not None:
            request[name] = params[name]
    limit = field(params.get("inferenceConfig") or {}, "maxTokens")
    body = params.get("body")
    if isinstance(body, (str, bytes, bytearray)):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            request["input"] = [parsed.get(name) for name in BEDROCK_BODY_INPUT if parsed.get(name) is not None]
            limit = next((parsed[name] for name in BEDROCK_BODY_OUTPUT_LIMIT if name in parsed), limit)
    if isinstance(limit, int) and not isinstance(limit, bool):
        request["max_tokens"] = limit
    return request


def litellm_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A ``litellm.completion(model, messages, ...)`` call as the arguments the guard reads: the provider's
    ``model`` id, the ``provider`` LiteLLM resolves it to (semconv spelling), the input and output limit."""
    provider, model = provider_and_model(args, kwargs)
    request = {name: kwargs[name] for name in (*INPUT_ARGUMENTS, *OUTPUT_LIMIT_ARGUMENTS, "stream") if name in kwargs}
    if "messages" not in request and len(args) > 1:
        request["messages"] = args[1]
    request.update(model=model, provider=provider)
    return request


def _provider_of(call: str, kwargs: dict[str, Any]) -> str:
    """The semconv provider name of a call: the one a kind of call starts with (``aws.bedrock.converse``:
    ``aws.bedrock``), or for LiteLLM the one its request resolved."""
    if call == LITELLM_COMPLETION:
        return str(kwargs.get("provider") or "")
    return BEDROCK_PROVIDER if call.startswith(BEDROCK_PROVIDER + ".") else call.split(".", 1)[0]


def estimated_cost(call: str, kwargs: dict[str, Any]) -> float:
    """The most a call can cost as far as its arguments tell: its input tokens (estimated from its text) and the
    output tokens it allows (``max_tokens`` and the like; none given: input only), at the model's prices."""
    provider = _provider_of(call, kwargs)
    config = kwargs.get("config")
    characters = sum(_characters(kwargs.get(name)) for name in INPUT_ARGUMENTS)
    characters += sum(_characters(field(config, name)) for name in CONFIG_INPUT_FIELDS) if config else 0
    tokens = characters // CHARS_PER_TOKEN
    limits = [kwargs.get(name) for name in OUTPUT_LIMIT_ARGUMENTS] + [field(config, "max_output_tokens")]
    allowed = next((limit for limit in limits if isinstance(limit, int) and not isinstance(limit, bool)), 0)
    cost = price(provider, str(kwargs.get("model", "")), Usage(input_tokens=tokens, output_tokens=max(allowed, 0)))
    return cost.usd or 0.0


def _unavailable(operation: str, error: BaseException, guard: GuardConfig) -> AICallRefused | None:
    """A failure of the state (or of the guard itself): logged once, and refused when fail-closed."""
    state_module.report(f"the guard could not {operation}", error)
    if not isinstance(error, StateUnavailable):  # the state counts its own failures; this is the guard's
        state_module.count_failure("guard")
    if guard.fail_closed:
        return AICallRefused(c.REFUSED_STATE_UNAVAILABLE, f"the shared state could not {operation}: {error}")
    return None


def _admit(call: str, kwargs: dict[str, Any], guard: GuardConfig) -> tuple[AICallRefused | None, Reservation | None]:
    if guard.kill_switch:
        return AICallRefused("kill_switch", "the kill switch is on (GLASSBOX_KILL_SWITCH)"), None
    state = state_module.get()
    context = attribution.current()
    tenant = context.get(c.TENANT_ID)
    switch, current = state.kill_switch(tenant)
    if switch is not None:
        scope = f"for tenant {switch.tenant}" if switch.tenant else "for every tenant"
        reason = f": {switch.reason}" if switch.reason else ""
        return AICallRefused("kill_switch", f"the kill switch is on {scope}{reason}"), None
    if not current:
        state_module.count_failure("kill_switch")
        if guard.fail_closed:
            detail = "the shared state cannot be reached, so the kill switch cannot be read"
            return AICallRefused(c.REFUSED_STATE_UNAVAILABLE, detail), None
    injection_risk = guardrail.safe_check(call, kwargs)
    if injection_risk is not None:
        return AICallRefused(guardrail.REFUSED_PROMPT_INJECTION, injection_risk), None
    reservation = None
    budgeted = tenant or c.PLACEHOLDER_NONE  # a request that names no tenant is budgeted as _none
    limits, total = budgets.limits_for(budgeted), budgets.total_limits()
    if limits or total:
        spend_writer.flush_before_budget(budgeted, total=bool(total))
        estimate = estimated_cost(call, kwargs) if call else 0.0
        try:
            reservation = state.reserve(budgeted, limits, estimate, budgets.today(), total)
        except BudgetExceeded as over:
            reason = f"budget_total_{over.period}" if over.total else f"budget_{over.period}"
            return AICallRefused(reason, str(over)), None
        except StateUnavailable as error:
            refusal = _unavailable("reserve the budget", error, guard)
            if refusal is not None:
                return refusal, None
    request_id = context.get(c.REQUEST_ID)
    if request_id and guard.limits.any:
        now = time.time()
        try:
            limit = state.count_request_call(request_id, guard.limits, attribution.request_arrived() or now, now)
            refusal = None if limit is None else AICallRefused(*limit)
        except StateUnavailable as error:
            refusal = _unavailable("count the request's calls", error, guard)
        if refusal is not None:
            release(reservation)
            return refusal, None
    return None, reservation


def admit(call: str = "", kwargs: dict[str, Any] | None = None) -> tuple[AICallRefused | None, Reservation | None]:
    """Whether the next model call (of kind ``call``, with ``kwargs``) may be made: the refusal, or None and the
    reservation held for it (None when its tenant has no budget). Never raises."""
    guard = config()
    try:
        return _admit(call, kwargs or {}, guard)
    except Exception as error:  # a defect in the guard never breaks the app: the failure mode decides
        return _unavailable("check the call", error, guard), None


async def admit_async(
    call: str = "", kwargs: dict[str, Any] | None = None
) -> tuple[AICallRefused | None, Reservation | None]:
    """:func:`admit` for an async call: with a state across the network, or guardrail detectors that may wait on
    a service, on a worker thread (in this context), so the event loop serves other requests meanwhile."""
    if not state_module.get().remote and not detectors.names():
        return admit(call, kwargs)
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(None, context.run, admit, call, kwargs)


def check(call: str = "", kwargs: dict[str, Any] | None = None) -> AICallRefused | None:
    """Why the next model call must not be made, or None (any reservation is released at once)."""
    refusal, reservation = admit(call, kwargs)
    release(reservation)
    return refusal


# --------------------------------------------------------------------------- around and after the call
@contextlib.contextmanager
def holding(reservation: Reservation | None) -> Iterator[None]:
    """While the call runs, its model-call span can take the reservation over; one it did not take is released
    when the call returns (the call raised before starting a span, or no instrumentation made one)."""
    if reservation is None:
        yield
        return
    token = _pending.set(reservation)
    try:
        yield
    finally:
        _pending.reset(token)
        if not reservation.claimed:
            release(reservation)


def claim_reservation() -> Reservation | None:
    """For the span processor, when a model-call span starts: the reservation of the call it belongs to, once."""
    reservation = _pending.get()
    if reservation is None or reservation.claimed:
        return None
    reservation.claimed = True
    return reservation


def release(reservation: Reservation | None) -> None:
    """Give back what ``reservation`` held (the call cost nothing). Never raises."""
    if reservation is not None and not reservation.done:
        try:
            state_module.get().settle(reservation, 0.0)
        except Exception as error:
            _unavailable("release a budget reservation", error, config())


def account(
    reservation: Reservation | None, tenant: str, usd: float | None, request_id: str | None, tokens: int
) -> None:
    """After a model call: settle its reservation with its real cost ``usd`` (None: not priced; the reservation
    is released), or add the cost to its tenant's spend (budget or not: a budget set later counts the period's
    spend so far, and `glassbox budgets list` shows it; with no budget at all, written behind by
    :mod:`~glassbox.guard.spend_writer`); write the budget thresholds it crossed; add the cost and tokens to its
    request. Never raises."""
    guard = config()
    try:
        budgeted = tenant or c.PLACEHOLDER_NONE
        total = budgets.total_limits()
        if reservation is not None:
            change = state_module.get().settle(reservation, usd or 0.0)
        elif usd and total is None and not budgets.limits_for(budgeted):
            spend_writer.add(budgeted, usd, budgets.today())
            change = None
        elif usd:
            change = state_module.get().add_spend(budgeted, usd, budgets.today(), total=total is not None)
        else:
            change = None
        if change is not None and usd:
            budgets.crossed(change, budgets.limits_for(change.tenant), total)
    except Exception as error:
        _unavailable("record the call's spend", error, guard)
    if request_id and guard.limits.on_spend and (usd or tokens):
        try:
            state_module.get().add_request_spend(request_id, usd or 0.0, tokens)
        except Exception as error:
            _unavailable("record the request's spend", error, guard)


# --------------------------------------------------------------------------- refusals
def refused_counter() -> metrics.Counter:
    """The guard's instruments, made once on the global provider: the kill-switch gauge (observed on its own)
    and the refused-calls counter, returned."""
    global _refused
    if _refused is None:
        meter = metrics.get_meter("glassbox", __version__)
        _refused = meter.create_counter(
            c.METRIC_AI_CALLS_REFUSED, unit="{call}", description="Model calls the guard did not make, by reason."
        )
        meter.create_observable_gauge(
            c.METRIC_AI_KILL_SWITCH,
            callbacks=[_observe_kill_switch],
            unit="{state}",  # not "1": the Prometheus translation would add a _ratio suffix
            description="1 while the kill switch is on for every tenant in this process, else 0.",
        )
    return _refused


def _observe_kill_switch(_options: CallbackOptions) -> Iterable[Observation]:
    guard = _config
    state = state_module.current()
    on = bool(guard and guard.kill_switch) or (state is not None and state.kill_switch(None)[0] is not None)
    yield Observation(1 if on else 0)


def refuse(refusal: AICallRefused, call: str, kwargs: dict[str, Any]) -> None:
    """Note the kind of call on the refusal; audit, span event and metric for it. Never raises."""
    refusal.call = call
    attributes = {c.LABEL_REASON: refusal.reason, c.GEN_AI_REQUEST_MODEL: str(kwargs.get("model", ""))}
    try:
        refused_counter().add(1, {c.LABEL_REASON: refusal.reason})
        trace.get_current_span().add_event(c.AI_CALL_REFUSED_EVENT, attributes)
        audit("ai.call_refused", actor={"type": "system", "id": "glassbox.guard"}, outcome="refused",
              reason=refusal.detail, resource={"type": "model", "id": str(kwargs.get("model", ""))})  # fmt: skip
    except Exception:
        instruments.get().count_dropped("logs", "guard_record_error")


@contextlib.contextmanager
def falling_back(refusal: AICallRefused) -> Iterator[Fallback]:
    """The fallback that answers ``refusal``, or the refusal raised when there is none or when a fallback is
    already running (a model call it makes that is refused too raises instead of falling back again)."""
    answer = _fallback
    if answer is None or _in_fallback.get():
        raise refusal
    token = _in_fallback.set(True)
    try:
        yield answer
    finally:
        _in_fallback.reset(token)


# --------------------------------------------------------------------------- the kill switch
def set_kill_switch(
    on: bool, actor: dict[str, Any] | str | None = None, reason: str | None = None, tenant: str | None = None
) -> None:
    """Turn AI calls off (or back on) for every process sharing the state, for every tenant or for ``tenant``;
    audited as an attempt and its outcome.

    Turning the switch on is a safety action: it happens even when fail-closed audit cannot record it (the
    failure is counted like any other). Turning it off is refused then, and the switch stays on. With the fleet's
    PostgreSQL state the change and its success event are one transaction: neither happens without the other.
    """
    action = "kill_switch.on" if on else "kill_switch.off"
    fields: dict[str, Any] = {
        "actor": actor,
        "resource": {"type": "kill_switch", "id": tenant or state_module.EVERY_TENANT},
        "tenant": tenant,
    }
    try:
        audit(action, outcome="attempt", reason=reason, **fields)
    except AuditRefused:
        if not on:
            raise
    actor_id = actor if isinstance(actor, str) else (actor or {}).get("id")
    state = state_module.get()
    try:
        if state.audits_changes:  # the state chains the success event in the change's own transaction
            success = build_event(action, outcome="success", reason=reason, **fields)
            state.set_kill_switch(on, tenant, reason, None if actor_id is None else str(actor_id), success)
            record_chained_elsewhere(success)
            return
        state.set_kill_switch(on, tenant, reason, None if actor_id is None else str(actor_id))
    except (StateUnavailable, OSError) as error:
        audit(action, outcome="failure", reason=f"{type(error).__name__}: {error}", **fields)
        raise
    try:
        audit(action, outcome="success", reason=reason, **fields)
    except AuditRefused:
        if not on:
            raise
