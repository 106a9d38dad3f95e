"""The demo "agent" service: a FastAPI app that calls LLMs through the real openai and anthropic SDKs.

Its telemetry code is two glassbox decorators for its home-made agent and tools, an activity and a job queue
for the pipeline dashboard, and ``glassbox.audit`` calls for admin logins (and failed ones), configuration
changes, approvals and AI decisions (a tool the planner chose, a model the caller chose); everything else
comes from running it under ``opentelemetry-instrument``::

    opentelemetry-instrument python examples/demo_app/app.py

Endpoints:

* ``POST /chat``: one chat completion (OpenAI), optionally streamed; a rule (``glassbox.evaluation``) scores
  whether it answered.
* ``POST /feedback`` ``{"request_id": ..., "score": 0|1}``: a user's thumbs on an earlier answer
  (``glassbox.feedback``).
* ``POST /agent``: an agent that plans with Anthropic, calls two tools, and writes the answer with OpenAI; it
  records whether it completed the task as an evaluation.
* ``POST /search``: embeds the query and ranks a small in-memory corpus.
* ``POST /summarize``: one LangChain ``ChatOpenAI`` call (the framework path: its span comes from the LangChain
  instrumentation, and the guard on the openai SDK underneath applies to it).
* ``GET/POST /admin/config``: reads or changes the app's settings (needs the admin token).
* ``POST /admin/kill-switch`` ``{"on": true}``: turns every AI call off for every process sharing the state: the
  host's, or with ``GLASSBOX_STATE_URL`` every replica (admin).

A model call glassbox refuses (the kill switch, a tenant over its budget in ``budgets.yaml``, a request limit)
gets a canned answer (``glassbox.canned_answer``; the reply says ``"fallback": true``); a search, which has no
canned answer, gets a 503 with the reason.
* ``GET /healthz``.

Configuration: ``DEMO_PORT`` (8000), ``DEMO_HOST`` (127.0.0.1), ``LLM_BASE_URL`` (the stub,
http://127.0.0.1:8900), ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` (any value for the stub),
``DEMO_ADMIN_TOKEN`` (the admin endpoint is closed when unset), ``DEMO_LOG_LEVEL`` (root log level, if set).
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import logging
import math
import os
from collections import OrderedDict, deque
from typing import Any

import anthropic
import openai
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

import glassbox

log = logging.getLogger("demo")
log.setLevel(logging.INFO)  # the demo's own lines; third-party libraries stay at the root's level
if os.environ.get("DEMO_LOG_LEVEL"):
    logging.getLogger().setLevel(os.environ["DEMO_LOG_LEVEL"].upper())

LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8900")
CHAT_MODEL = os.environ.get("DEMO_CHAT_MODEL", "gpt-4o-mini")
PLANNER_MODEL = os.environ.get("DEMO_PLANNER_MODEL", "claude-haiku-4-5")
EMBEDDING_MODEL = "text-embedding-3-small"

openai_client = openai.AsyncOpenAI(
    base_url=f"{LLM_BASE_URL}/v1", api_key=os.environ.get("OPENAI_API_KEY", "sk-demo-key-not-secret"), max_retries=1
)
summarizer = ChatOpenAI(
    model=CHAT_MODEL,
    base_url=f"{LLM_BASE_URL}/v1",
    api_key=os.environ.get("OPENAI_API_KEY", "sk-demo-key-not-secret"),  # type: ignore[arg-type]
    max_retries=1,
)
anthropic_client = anthropic.AsyncAnthropic(
    base_url=LLM_BASE_URL, api_key=os.environ.get("ANTHROPIC_API_KEY", "sk-ant-demo-key-not-secret"), max_retries=1
)

CORPUS = [
    "Invoices are sent on the first business day of each month.",
    "Refunds take five to seven days to reach the card.",
    "The API rate limit is 600 requests per minute per tenant.",
    "Support is available around the clock for enterprise plans.",
    "Data is kept in the region chosen when the workspace was created.",
]
SETTINGS: dict[str, Any] = {"chat_model": CHAT_MODEL, "max_tokens": 256}
FALLBACK_ANSWER = "The assistant cannot answer right now (paused or over budget). A person will follow up."
glassbox.set_fallback(glassbox.canned_answer(FALLBACK_ANSWER))

# Answers about money wait for a human approval; past 20 waiting, the oldest is approved (a reviewer at work).
PENDING_APPROVALS: dict[str, glassbox.Activity] = {}
MAX_PENDING = 20
# Follow-up jobs queued by the agent and worked off by chat requests; every 25th one fails to a dead letter.
FOLLOWUPS: deque[str] = deque(maxlen=1000)
DEAD_LETTERS: deque[str] = deque(maxlen=1000)
followups_done = 0
glassbox.track_queue("followups", depth=lambda: len(FOLLOWUPS), dead_letters=lambda: len(DEAD_LETTERS))
# The model that answered each recent chat request, so users' feedback on it is counted against that model.
ANSWERED_BY: OrderedDict[str, str] = OrderedDict()
MAX_ANSWERED = 1000

app = FastAPI(title="glassbox demo agent")


class ChatRequest(BaseModel):
    message: str
    stream: bool = False
    model: str | None = None


class AgentRequest(BaseModel):
    task: str
    # The model for the final answer; an unknown one makes the run fail (the pipeline dashboard shows it).
    model: str | None = None


class FeedbackRequest(BaseModel):
    request_id: str
    score: float
    label: str | None = None
    comment: str | None = None


class SearchRequest(BaseModel):
    query: str
    top_k: int = 3


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _llm_error(exc: Exception) -> HTTPException:
    if isinstance(exc, (openai.NotFoundError, anthropic.NotFoundError)):
        return HTTPException(status_code=400, detail="unknown model")
    if isinstance(exc, (openai.RateLimitError, anthropic.RateLimitError)):
        return HTTPException(status_code=429, detail="model provider is rate limiting")
    return HTTPException(status_code=502, detail="model provider failed")


def work_off_a_followup() -> None:
    global followups_done
    if FOLLOWUPS:
        job = FOLLOWUPS.popleft()
        followups_done += 1
        if followups_done % 25 == 0:
            DEAD_LETTERS.append(job)


# Two versions of the chat prompt, when DEMO_PROMPT_VERSIONS=1 (`make demo` sets it): requests alternate between
# them. Version 2 asks for a first draft marked "[draft]", which the stub LLM echoes: the online evaluators of
# examples/evaluators.yaml reject such answers (a rule, and the stub's judge), so version 2 reads worse on the
# "Prompt versions" dashboard.
PROMPT_NAME = "support-answer"
PROMPT_TEMPLATES = {"1": "{message}", "2": "{message}\n(Write it as a first draft and mark it [draft].)"}
_prompt_turn = itertools.count()


def prompt_version(message: str) -> tuple[str | None, str]:
    """(version, text to send) of the chat prompt; no version when the demo runs one prompt only."""
    if os.environ.get("DEMO_PROMPT_VERSIONS") != "1":
        return None, message
    version = "1" if next(_prompt_turn) % 2 == 0 else "2"
    return version, PROMPT_TEMPLATES[version].format(message=message)


@app.post("/chat")
async def chat(request: ChatRequest, x_request_id: str | None = Header(default=None)) -> Any:
    work_off_a_followup()
    model = request.model or SETTINGS["chat_model"]
    if request.model:
        # An AI decision made by the caller: a model other than the configured one.
        glassbox.audit("ai.model_choice", resource={"type": "model", "id": model},
                       after={"model": model, "default": SETTINGS["chat_model"]})  # fmt: skip
    version, text = prompt_version(request.message)
    messages: Any = [{"role": "user", "content": text}]
    try:
        if request.stream:
            stream = await openai_client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options={"include_usage": True}
            )

            async def body() -> Any:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content

            return StreamingResponse(body(), media_type="text/plain")
        with glassbox.prompt(PROMPT_NAME, version=version) if version else contextlib.nullcontext():
            completion = await openai_client.chat.completions.create(
                model=model, messages=messages, max_tokens=SETTINGS["max_tokens"]
            )
    except openai.APIError as exc:
        log.warning("chat failed", extra={"model": model, "error": type(exc).__name__})
        raise _llm_error(exc) from exc
    fallback = glassbox.is_fallback(completion)
    log.info("chat answered", extra={"model": model, "fallback": fallback})
    answer = completion.choices[0].message.content
    # A rule-based evaluation inside the request: a canned or empty answer did not answer the question.
    glassbox.evaluation("answered", score=0.0 if fallback or not answer else 1.0, model=model)
    if x_request_id:
        ANSWERED_BY[x_request_id] = model
        while len(ANSWERED_BY) > MAX_ANSWERED:
            ANSWERED_BY.popitem(last=False)
    return {"answer": answer, "fallback": fallback}


@app.post("/feedback")
async def feedback(request: FeedbackRequest) -> dict[str, bool]:
    """A user's thumbs up (score 1) or down (0) on an earlier answer, by that answer's request id."""
    glassbox.feedback(
        request.request_id,
        score=request.score,
        label=request.label,
        comment=request.comment,
        model=ANSWERED_BY.get(request.request_id),
    )
    return {"recorded": True}


@glassbox.tool("lookup_account")
async def lookup_account(query: str) -> dict[str, Any]:
    return {"plan": "enterprise", "open_tickets": 2, "query": query[:40]}


@glassbox.tool("search_docs")
async def search_docs(query: str) -> list[str]:
    ranked = await rank(query, 2)
    return [text for text, _ in ranked]


PLANNER_TOOLS: Any = [
    {"name": "lookup_account", "description": "Look up the customer's account", "input_schema": {"type": "object"}},
    {"name": "search_docs", "description": "Search the documentation", "input_schema": {"type": "object"}},
]


@glassbox.agent("support_agent")
async def run_agent(task: str, final_model: str | None = None) -> dict[str, Any]:
    plan = await anthropic_client.messages.create(
        model=PLANNER_MODEL,
        max_tokens=200,
        system="You plan the steps to answer a support request.",
        messages=[{"role": "user", "content": task}],
        tools=PLANNER_TOOLS,
    )
    if glassbox.is_fallback(plan):  # no model to plan with: the canned answer is the answer
        return {"answer": plan.content[0].text if plan.content[0].type == "text" else "", "steps": 1, "fallback": True}
    tool_use = next((block for block in plan.content if block.type == "tool_use"), None)
    if tool_use is not None:
        # An AI decision: the planner chose a tool.
        glassbox.audit("ai.tool_call", actor={"type": "agent", "id": "support_agent", "name": PLANNER_MODEL},
                       resource={"type": "tool", "id": tool_use.name})  # fmt: skip
    account = await lookup_account(task)
    docs = await search_docs(task)
    log.info("agent tools done", extra={"tool": tool_use.name if tool_use else None, "docs": len(docs)})
    review = await anthropic_client.messages.create(
        model=PLANNER_MODEL,
        max_tokens=200,
        messages=[
            {"role": "user", "content": task},
            {"role": "assistant", "content": [{"type": "text", "text": "I looked up the account and the docs."}]},
            {"role": "user", "content": f"Account: {json.dumps(account)}. Docs: {' '.join(docs)}"},
        ],
    )
    draft = review.content[0].text if review.content and review.content[0].type == "text" else ""
    final = await openai_client.chat.completions.create(
        model=final_model or SETTINGS["chat_model"],
        messages=[{"role": "system", "content": "Write the final answer."}, {"role": "user", "content": draft}],
    )
    return {"answer": final.choices[0].message.content, "steps": 5, "fallback": glassbox.is_fallback(final)}


@app.post("/agent")
async def agent(request: AgentRequest) -> Any:
    task = glassbox.activity(role="support_agent", deliverable="answer")
    task.start()
    try:
        result = await run_agent(request.task, request.model)
    except (openai.APIError, anthropic.APIError) as exc:
        task.fail(type(exc).__name__)
        log.warning("agent failed", extra={"error": type(exc).__name__})
        raise _llm_error(exc) from exc
    except glassbox.AICallRefused as exc:
        task.fail(exc.reason)  # a refused call without a canned answer (the docs search): answered 503 below
        raise
    # The agent's own check of its work: a canned answer is a task not done.
    glassbox.evaluation("task_completed", rejected=bool(result["fallback"]), agent="support_agent",
                        model=request.model or SETTINGS["chat_model"])  # fmt: skip
    if result["fallback"]:
        task.fail("fallback")  # the kill switch, a budget or a request limit: the answer is the canned one
        return result
    FOLLOWUPS.append(task.id)
    if any(word in request.task.lower() for word in ("refund", "charged", "invoice")):
        task.await_approval()
        PENDING_APPROVALS[task.id] = task
        result["approval"] = task.id
        while len(PENDING_APPROVALS) > MAX_PENDING:
            approve(PENDING_APPROVALS.pop(next(iter(PENDING_APPROVALS))))
    else:
        task.complete()
    return result


def approve(task: glassbox.Activity) -> None:
    task.approve()
    task.complete()


@app.post("/admin/approvals/{activity_id}")
async def approve_answer(activity_id: str, x_admin_token: str | None = Header(default=None)) -> dict[str, str]:
    _check_admin(x_admin_token)
    task = PENDING_APPROVALS.pop(activity_id, None)
    if task is None:
        raise HTTPException(status_code=404, detail="no answer waits for that approval")
    approve(task)
    glassbox.audit("approval.grant", actor={"type": "human", "id": "admin"},
                   resource={"type": "activity", "id": activity_id})  # fmt: skip
    return {"approved": activity_id}


async def rank(query: str, top_k: int) -> list[tuple[str, float]]:
    result = await openai_client.embeddings.create(model=EMBEDDING_MODEL, input=[query, *CORPUS])
    vectors = [item.embedding for item in result.data]
    query_vector, doc_vectors = vectors[0], vectors[1:]

    def cosine(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)) or 1.0)

    pairs = zip(CORPUS, doc_vectors, strict=True)
    scored = sorted(((text, cosine(query_vector, v)) for text, v in pairs), key=lambda p: -p[1])
    return scored[:top_k]


@app.post("/search")
async def search(request: SearchRequest) -> Any:
    try:
        ranked = await rank(request.query, max(1, min(request.top_k, len(CORPUS))))
    except openai.APIError as exc:
        raise _llm_error(exc) from exc
    return {"results": [{"text": text, "score": round(score, 4)} for text, score in ranked]}


class SummarizeRequest(BaseModel):
    text: str


@app.post("/summarize")
async def summarize(request: SummarizeRequest) -> Any:
    try:
        message = await summarizer.ainvoke([("system", "Summarize in one sentence."), ("user", request.text)])
    except openai.APIError as exc:
        raise _llm_error(exc) from exc
    return {"summary": str(message.content)}


def _check_admin(token: str | None) -> None:
    expected = os.environ.get("DEMO_ADMIN_TOKEN", "")
    if not expected or not token or not hmac.compare_digest(token, expected):
        log.warning("admin access refused")
        glassbox.audit("admin.login", actor={"type": "human", "id": "admin"}, outcome="failure",
                       reason="wrong admin token")  # fmt: skip
        raise HTTPException(status_code=403, detail="admin token required")
    glassbox.audit("admin.login", actor={"type": "human", "id": "admin"})  # the source address comes from the edge


@app.get("/admin/config")
async def get_config(x_admin_token: str | None = Header(default=None)) -> dict[str, Any]:
    _check_admin(x_admin_token)
    return SETTINGS


@app.post("/admin/config")
async def set_config(changes: dict[str, Any], x_admin_token: str | None = Header(default=None)) -> dict[str, Any]:
    _check_admin(x_admin_token)
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise HTTPException(status_code=400, detail=f"unknown settings: {sorted(unknown)}")
    before = dict(SETTINGS)
    change = {"actor": {"type": "human", "id": "admin"}, "resource": {"type": "config", "id": "demo-settings"}}
    glassbox.audit("config.change", outcome="attempt", before=before, after={**before, **changes}, **change)
    SETTINGS.update(changes)
    log.info("config changed", extra={"before": json.dumps(before), "after": json.dumps(SETTINGS)})
    glassbox.audit("config.change", before=before, after=dict(SETTINGS), **change)
    return SETTINGS


class KillSwitchChange(BaseModel):
    on: bool
    reason: str | None = None


@app.post("/admin/kill-switch")
async def kill_switch(change: KillSwitchChange, x_admin_token: str | None = Header(default=None)) -> dict[str, bool]:
    """Turns every AI call of every process on the host off (or back on); audited by glassbox."""
    _check_admin(x_admin_token)
    glassbox.set_kill_switch(change.on, actor={"type": "human", "id": "admin"}, reason=change.reason)
    return {"on": change.on}


@app.exception_handler(glassbox.AICallRefused)
async def refused(_request: Request, error: glassbox.AICallRefused) -> Any:
    """A model call the guard refused that has no canned answer (embeddings): 503 with the reason."""
    return JSONResponse({"detail": str(error), "reason": error.reason}, status_code=503)


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("DEMO_HOST", "127.0.0.1"),
        port=int(os.environ.get("DEMO_PORT", "8000")),
        log_config=None,
        access_log=False,
    )
