"""A second shape of AI service: one FastAPI route, one AsyncOpenAI call, and an app logger with its own handler.

``benchmarks/overhead.py --shape app-logger`` runs it bare, under upstream OpenTelemetry and under glassbox. Where
``chat_service.py`` logs through the root logger's handler, this one is set up the way many services are: the
app's own logger ``app`` at INFO with a ``StreamHandler`` of its own to stderr (the root logger left alone), one
line per request; ``max_tokens`` 32 and no retries. It has no glassbox code and no OpenTelemetry code.

Configuration: ``CHAT_HOST`` (127.0.0.1), ``CHAT_PORT`` (8000), ``LLM_BASE_URL`` (the stub,
http://127.0.0.1:8900), ``CHAT_MODEL`` (gpt-4o-mini).
"""

from __future__ import annotations

import logging
import os
import sys

import openai
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

log = logging.getLogger("app")
log.setLevel(logging.INFO)
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
log.addHandler(_handler)

LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8900")
MODEL = os.environ.get("CHAT_MODEL", "gpt-4o-mini")
client = openai.AsyncOpenAI(base_url=f"{LLM_BASE_URL}/v1", api_key="sk-bench-key-not-secret", max_retries=0)
app = FastAPI()


class Question(BaseModel):
    message: str


@app.post("/chat")
async def chat(question: Question) -> dict[str, str]:
    completion = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question.message}], max_tokens=32
    )
    answer = completion.choices[0].message.content or ""
    log.info("chat answered with %d characters", len(answer))
    return {"answer": answer}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    # uvicorn's defaults, access log included.
    uvicorn.run(app, host=os.environ.get("CHAT_HOST", "127.0.0.1"), port=int(os.environ.get("CHAT_PORT", "8000")))
