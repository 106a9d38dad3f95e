"""An AI service built on frameworks, with no telemetry code: LangGraph, the OpenAI Agents SDK and google-genai.

Everything Glassbox adds comes from running it under ``opentelemetry-instrument`` with the package's extras
(``glassbox[langchain,agents,google]``)::

    opentelemetry-instrument python examples/frameworks_app/app.py

Endpoints (JSON body ``{"question": "..."}``):

* ``POST /graph``: a one-node LangGraph graph whose node asks a LangChain ``ChatOpenAI`` model;
* ``POST /agent``: an OpenAI Agents SDK agent with one function tool;
* ``POST /gemini``: one ``google-genai`` ``generate_content`` call (async client);
* ``GET /healthz``.

Configuration: ``FRAMEWORKS_HOST`` (127.0.0.1), ``FRAMEWORKS_PORT`` (8010), ``LLM_BASE_URL`` (the stub,
http://127.0.0.1:8900), ``OPENAI_KEY`` / ``GEMINI_KEY`` (any value for the stub). The key is given to the
clients directly: with no ``OPENAI_API_KEY`` in the environment the Agents SDK does not send its own traces to
OpenAI, and the OpenTelemetry spans are the only copy.
"""

from __future__ import annotations

import os
from typing import Any

import openai
import uvicorn
from agents import Agent, Runner, function_tool, set_default_openai_api, set_default_openai_client
from fastapi import FastAPI
from google import genai
from google.genai import types
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel

LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8900")
OPENAI_KEY = os.environ.get("OPENAI_KEY", "sk-frameworks-not-secret")
CHAT_MODEL = "gpt-4o-mini"
GEMINI_MODEL = "gemini-2.5-flash"

chat_model = ChatOpenAI(model=CHAT_MODEL, base_url=f"{LLM_BASE_URL}/v1", api_key=OPENAI_KEY, max_retries=0)  # type: ignore[arg-type]
set_default_openai_client(
    openai.AsyncOpenAI(base_url=f"{LLM_BASE_URL}/v1", api_key=OPENAI_KEY, max_retries=0), use_for_tracing=False
)
set_default_openai_api("chat_completions")
gemini = genai.Client(
    api_key=os.environ.get("GEMINI_KEY", "gemini-frameworks-not-secret"),
    http_options=types.HttpOptions(base_url=LLM_BASE_URL, retry_options=types.HttpRetryOptions(attempts=1)),
)


def answer(state: MessagesState) -> dict[str, Any]:
    return {"messages": [chat_model.invoke(state["messages"])]}


graph_builder = StateGraph(MessagesState)
graph_builder.add_node("answer", answer)
graph_builder.add_edge(START, "answer")
graph_builder.add_edge("answer", END)
graph = graph_builder.compile()


@function_tool
def order_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"order {order_id} shipped yesterday"


support = Agent(name="support", instructions="Answer briefly; use the tool for orders.", model=CHAT_MODEL,
                tools=[order_status])  # fmt: skip
app = FastAPI()


class Question(BaseModel):
    question: str


@app.post("/graph")
async def ask_graph(body: Question) -> dict[str, str]:
    state = await graph.ainvoke({"messages": [("user", body.question)]})
    return {"answer": str(state["messages"][-1].content)}


@app.post("/agent")
async def ask_agent(body: Question) -> dict[str, str]:
    result = await Runner.run(support, body.question)
    return {"answer": str(result.final_output)}


@app.post("/gemini")
async def ask_gemini(body: Question) -> dict[str, str]:
    response = await gemini.aio.models.generate_content(model=GEMINI_MODEL, contents=body.question)
    return {"answer": response.text or ""}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("FRAMEWORKS_HOST", "127.0.0.1"),
        port=int(os.environ.get("FRAMEWORKS_PORT", "8010")),
    )
