"""An AI service built on frameworks, with no telemetry code: LangGraph, the OpenAI Agents SDK, google-genai,
LlamaIndex and a tool reached over MCP.

Everything Glassbox adds comes from running it under ``opentelemetry-instrument`` with the package's extras
(``glassbox-otel[langchain,agents,google,llama-index,mcp]``)::

    opentelemetry-instrument python examples/frameworks_app/tools_server.py &
    opentelemetry-instrument python examples/frameworks_app/app.py

Endpoints (JSON body ``{"question": "..."}``):

* ``POST /graph``: a one-node LangGraph graph whose node asks a LangChain ``ChatOpenAI`` model;
* ``POST /agent``: an OpenAI Agents SDK agent with one function tool;
* ``POST /gemini``: one ``google-genai`` ``generate_content`` call (async client);
* ``POST /llama``: a LlamaIndex ``FunctionAgent`` over Gemini with one tool;
* ``POST /order``: asks the MCP tool server (``tools_server.py``) for an order's status, then Gemini to phrase it;
* ``GET /healthz``.

Configuration: ``FRAMEWORKS_HOST`` (127.0.0.1), ``FRAMEWORKS_PORT`` (8010), ``LLM_BASE_URL`` (the stub,
http://127.0.0.1:8900), ``TOOLS_URL`` (http://127.0.0.1:8011/mcp), ``OPENAI_KEY`` / ``GEMINI_KEY`` (any value
for the stub). The key is given to the clients directly: with no ``OPENAI_API_KEY`` in the environment the Agents
SDK does not send its own traces to OpenAI, and the OpenTelemetry spans are the only copy.
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
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.llms.google_genai import GoogleGenAI
from mcp import Client as MCPClient
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
GEMINI_KEY = os.environ.get("GEMINI_KEY", "gemini-frameworks-not-secret")
GEMINI_OPTIONS = types.HttpOptions(base_url=LLM_BASE_URL, retry_options=types.HttpRetryOptions(attempts=1))
TOOLS_URL = os.environ.get("TOOLS_URL", "http://127.0.0.1:8011/mcp")
gemini = genai.Client(api_key=GEMINI_KEY, http_options=GEMINI_OPTIONS)
# max_tokens and context_window given, so the LLM does not ask the API for the model's metadata first
llama_llm = GoogleGenAI(model=GEMINI_MODEL, api_key=GEMINI_KEY, http_options=GEMINI_OPTIONS, max_retries=0,
                        max_tokens=512, context_window=1_000_000)  # fmt: skip


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


def shipping_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"order {order_id} shipped yesterday"


librarian = FunctionAgent(name="librarian", description="Answers order questions.", tools=[shipping_status],
                          llm=llama_llm)  # fmt: skip
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


@app.post("/llama")
async def ask_llama(body: Question) -> dict[str, str]:
    return {"answer": str(await librarian.run(body.question))}


@app.post("/order")
async def ask_order(body: Question) -> dict[str, str]:
    async with MCPClient(TOOLS_URL) as tools:
        status = await tools.call_tool("order_status", {"order_id": "42"})
    found = " ".join(getattr(block, "text", "") for block in status.content)
    response = await gemini.aio.models.generate_content(model=GEMINI_MODEL, contents=f"{body.question}: {found}")
    return {"answer": response.text or "", "tool": found}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("FRAMEWORKS_HOST", "127.0.0.1"),
        port=int(os.environ.get("FRAMEWORKS_PORT", "8010")),
    )
