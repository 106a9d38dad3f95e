"""The smallest AI service worth measuring: one FastAPI route that awaits one OpenAI chat completion.

``benchmarks/overhead.py --shape chat-service`` runs it bare, under upstream OpenTelemetry and under glassbox.
It has no glassbox code and no OpenTelemetry code: everything comes from ``opentelemetry-instrument``.

Its logging is what a service usually sets up: ``logging.basicConfig()`` (root at WARNING, one stderr
handler) and its own logger at INFO, so each request logs exactly one line, ``answered chat``, and the
third-party libraries (httpx, openai) stay at WARNING.

Configuration: ``CHAT_HOST`` (127.0.0.1), ``CHAT_PORT`` (8000), ``LLM_BASE_URL`` (the stub,
http://127.0.0.1:8900), ``CHAT_MODEL`` (gpt-4o-mini).
"""

from __future__ import annotations

import logging
import os

import openai
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

logging.basicConfig()
log = logging.getLogger("chat")
log.setLevel(logging.INFO)

LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8900")
MODEL = os.environ.get("CHAT_MODEL", "gpt-4o-mini")
client = openai.AsyncOpenAI(base_url=f"{LLM_BASE_URL}/v1", api_key="sk-bench-key-not-secret", max_retries=0)
app = FastAPI()


class Question(BaseModel):
    message: str


@app.post("/chat")
async def chat(question: Question) -> dict[str, str]:
    completion = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question.message}], max_tokens=64
    )
    answer = completion.choices[0].message.content or ""
    log.info("answered chat", extra={"model": MODEL, "answer_chars": len(answer)})
    return {"answer": answer}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    # uvicorn's defaults, access log included.
    uvicorn.run(app, host=os.environ.get("CHAT_HOST", "127.0.0.1"), port=int(os.environ.get("CHAT_PORT", "8000")))
