"""What the guard's check costs before each model call, against the model call itself, in one process.

    python benchmarks/guard.py --calls 2000 --rounds 3

It starts the stub LLM (``examples/stub_llm/server.py --latency-ms 0``) and, in this process, times:

* ``call``: one ``openai`` chat completion through the real SDK against the stub (no instrumentation): the
  client-side work of a model call plus a loopback round trip, the baseline;
* ``check``: ``glassbox.guard.core.check`` for that call with no budget for the tenant (the kill switch as the
  process last read it, the settings read once, and the prompt-injection guardrail scoring the 2,000-character
  user message, with its ``apply_guardrail`` span going to an SDK tracer provider and batch processor, as under
  ``opentelemetry-instrument``);
* ``check, guardrail off``: the same with ``GLASSBOX_GUARDRAIL_MODE=off``, so the difference is the guardrail (the
  ``check`` rows score every message anew, ``GLASSBOX_GUARDRAIL_CACHE=0``: what a message the process has not seen
  costs);
* ``check, seen message``: the same message again with the remembered scores on (the default): a hash and a lookup;
* ``check, 20 turns + 1 new``: a conversation of 20 earlier turns (user and assistant, 2,000 characters each) and a
  new user turn that differs on every call, with the remembered scores on: what a long conversation costs per call;
* ``check, 20 turns + 1 new, no cache``: the same with every turn scored on every call (what the cache saves);
* ``check+budget``: the same for a tenant with a day budget, so the guard estimates the call's cost (a
  2,000-character prompt) and reserves it in the host's SQLite file, then (``check`` returns the refusal only)
  releases it: two short transactions.

It prints the median per-call time of each over ``--rounds`` rounds and the ratios ``check/call`` and
``check+budget/call``: the share of a model call's own client-side time that the guard adds. A real provider
answers in hundreds of milliseconds, so the share of a real call is far smaller. It also prints the p99 of one
``check`` (the target: at most 5 ms with the guardrail on a 2 KB input) and of one guardrail-off check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from glassbox import attribution
from glassbox import conventions as c
from glassbox.guard import budgets
from glassbox.guard import core as guard

ROOT = Path(__file__).resolve().parent.parent
# A 2,000-character support question, ordinary text (the guardrail scores what a user really sends).
QUESTION = (
    "Hello, I have a question about the invoice for last month. The total does not match the plan we signed up "
    "for, and I think we were charged twice for the extra seats. Could you check the billing history of the "
    "workspace and tell me what happened? We also want to move the workspace to another region next quarter. "
) * 8
PROMPT: Any = [
    {"role": "system", "content": "You answer support questions."},
    {"role": "user", "content": QUESTION[:2000]},
]


def per_call(function: Callable[[], Any], calls: int, times: list[float] | None = None) -> float:
    """Mean seconds per call; each call's own time is appended to ``times`` when given."""
    start = time.perf_counter()
    for _ in range(calls):
        before = time.perf_counter()
        function()
        if times is not None:
            times.append(time.perf_counter() - before)
    return (time.perf_counter() - start) / calls


def p99(times: list[float]) -> float:
    return sorted(times)[int(len(times) * 0.99)]


class Discard(SpanExporter):  # type: ignore[misc]
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=18931)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="glassbox-bench-guard-"))
    os.environ["GLASSBOX_KILL_SWITCH_FILE"] = str(workdir / "kill-switch")
    os.environ["GLASSBOX_BUDGETS_STATE"] = str(workdir / "spend.sqlite")
    stub = subprocess.Popen(
        [sys.executable, str(ROOT / "examples/stub_llm/server.py"), "--port", str(args.port), "--latency-ms", "0"],
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-bench", max_retries=0)
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Discard()))
        trace.set_tracer_provider(provider)
        budgets.install(budgets.Budgets({"budgeted": {"day": 1000.0, "month": 10000.0}}))
        kwargs = {"model": "gpt-4o-mini", "messages": PROMPT}

        def call() -> Any:
            return client.chat.completions.create(**kwargs)

        history: list[dict[str, str]] = [
            {"role": "user" if turn % 2 == 0 else "assistant", "content": f"Turn {turn}. {QUESTION[:1990]}"}
            for turn in range(20)
        ]
        new_turns = iter(range(10**9))

        def conversation() -> dict[str, Any]:
            new = {"role": "user", "content": f"Question {next(new_turns)}: {QUESTION[:1980]}"}
            return {"model": "gpt-4o-mini", "messages": [PROMPT[0], *history, new]}

        def check_as(
            tenant: str,
            guardrail: str = "enforce",
            cache: str = "0",
            request: Callable[[], dict[str, Any]] | None = None,
        ) -> Callable[[], Any]:
            def check() -> Any:
                os.environ["GLASSBOX_GUARDRAIL_MODE"] = guardrail
                os.environ["GLASSBOX_GUARDRAIL_CACHE"] = cache
                token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: tenant}))
                try:
                    return guard.check(guard.OPENAI_CHAT, request() if request else kwargs)
                finally:
                    otel_context.detach(token)

            return check

        modes = {
            "call": call,
            "check": check_as("unbudgeted"),
            "check, guardrail off": check_as("unbudgeted", "off"),
            "check+budget": check_as("budgeted"),
            "check, seen message": check_as("unbudgeted", cache="4096"),
            "check, 20 turns + 1 new": check_as("unbudgeted", cache="4096", request=conversation),
            "check, 20 turns + 1 new, no cache": check_as("unbudgeted", request=conversation),
        }
        for function in modes.values():
            per_call(function, 50)  # warm-up: connections, price cards, SQLite
        results: dict[str, list[float]] = {name: [] for name in modes}
        times: dict[str, list[float]] = {name: [] for name in modes}
        for round_number in range(1, args.rounds + 1):
            for name, function in modes.items():
                calls = args.calls if name != "call" else max(100, args.calls // 10)
                results[name].append(per_call(function, calls, times[name]))
            line = ", ".join(f"{name} {results[name][-1] * 1e6:.1f} µs" for name in modes)
            print(f"round {round_number}: {line}")
        medians = {name: statistics.median(values) for name, values in results.items()}
        print(
            f"median: call {medians['call'] * 1e6:.0f} µs, check {medians['check'] * 1e6:.1f} µs "
            f"({medians['check'] / medians['call']:.2%} of the call), check+budget "
            f"{medians['check+budget'] * 1e6:.1f} µs ({medians['check+budget'] / medians['call']:.2%} of the call)"
        )
        off = medians["check, guardrail off"]
        worst, worst_off = p99(times["check"]), p99(times["check, guardrail off"])
        print(
            f"the guardrail: {(medians['check'] - off) * 1e6:.1f} µs of the check's {medians['check'] * 1e6:.1f} µs; "
            f"p99 of one check {worst * 1e3:.3f} ms (target <= 5 ms: {'met' if worst <= 0.005 else 'MISSED'}), "
            f"guardrail off {worst_off * 1e3:.3f} ms"
        )
        for name in ("check, seen message", "check, 20 turns + 1 new", "check, 20 turns + 1 new, no cache"):
            print(f"{name}: median {medians[name] * 1e6:.1f} µs, p99 {p99(times[name]) * 1e3:.3f} ms")
        provider.shutdown()
        return 0
    finally:
        budgets.install(None)
        stub.terminate()
        stub.wait(10)


if __name__ == "__main__":
    sys.exit(main())
