"""How many metric exemplars name a trace Tempo has, with the collector tiers sampling (docs/scale.md).

    GLASSBOX_BIN_DIR=/path/to/tempo/dir .venv/bin/python benchmarks/exemplar_resolution.py [--seconds 60]

Needs a Tempo binary (not installable from a registry here; docs/stack.md says how to get one). Two runs of the
native stack with two gateways (`make up GATEWAYS=2` on free ports: Prometheus, Tempo, the agent and the
gateways), the demo app under opentelemetry-instrument, and the demo's traffic for ``--seconds``:

* ``before``: what the tiers did before apps marked a kept share: the SDK's own exemplar filter (every sampled
  span, ``OTEL_METRICS_EXEMPLAR_FILTER=trace_based``), no marked traces (``GLASSBOX_TRACE_KEEP_PERCENT=0``) and the
  gateways keeping 10% of ordinary traces by themselves (``GLASSBOX_TAIL_SAMPLE_PERCENT=10``);
* ``after``: every default (apps mark 10% and take exemplars only from those; the gateways keep them).

After the traffic and the gateways' decisions, every exemplar Prometheus holds for the app's latency, model-call
and cost series in the run's window is looked up in Tempo by trace id. Printed per run: exemplars, and how many
Tempo has.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples import traffic  # noqa: E402
from stack.binaries import find_binary, missing_reason  # noqa: E402
from tests.e2e.test_alert_delivery import failing_stub  # noqa: E402
from tests.e2e.test_demo_subprocess import ADMIN_TOKEN, demo_app  # noqa: E402
from tests.support.stack_fixtures import new_stack, otlp_http, prometheus_url  # noqa: E402

SERIES = (
    "http_server_request_duration_seconds_bucket",
    "gen_ai_client_operation_duration_seconds_bucket",
    "glassbox_gen_ai_cost_usd_total",
)
MODES = {
    "before": (
        {"OTEL_METRICS_EXEMPLAR_FILTER": "trace_based", "GLASSBOX_TRACE_KEEP_PERCENT": "0"},
        {"GLASSBOX_TAIL_SAMPLE_PERCENT": "10"},
    ),
    "after": ({}, {}),
}


def exemplar_trace_ids(prometheus: str, start: float, end: float) -> dict[str, set[str]]:
    """Per series, the trace ids of the exemplars Prometheus holds between start and end."""
    found: dict[str, set[str]] = {}
    for series in SERIES:
        response = httpx.get(
            f"{prometheus}/api/v1/query_exemplars",
            params={"query": f'{series}{{job="demo-agent"}}', "start": start, "end": end},
            timeout=30,
        )
        response.raise_for_status()
        found[series] = {
            exemplar["labels"]["trace_id"]
            for result in response.json()["data"]
            for exemplar in result["exemplars"]
            if "trace_id" in exemplar["labels"]
        }
    return found


def in_tempo(tempo: str, trace_ids: set[str]) -> set[str]:
    return {t for t in trace_ids if httpx.get(f"{tempo}/api/traces/{t}", timeout=30).status_code == 200}


def run(mode: str, seconds: float, workdir: Path) -> dict[str, tuple[int, int]]:
    app_env, stack_env = MODES[mode]
    directory = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=workdir))
    stack = new_stack(directory, None, GLASSBOX_GATEWAY_COUNT="2", GLASSBOX_TAIL_DECISION_WAIT="5s", **stack_env)
    try:
        stack.up(["prometheus", "tempo", "collector"])
        tempo = f"http://127.0.0.1:{stack.env['GLASSBOX_TEMPO_PORT']}"
        with (
            failing_stub(directory, 0.02) as stub_url,
            demo_app(stub_url, otlp_http(stack), directory, **app_env) as app,
        ):
            start = time.time()
            asyncio.run(traffic.run(app["url"], seconds=seconds, concurrency=4, limit=None, seed=7))
            time.sleep(10)  # the last metric export
        end = time.time()
        time.sleep(20)  # the gateways' decisions (5 s) and Tempo's ingest
        found = exemplar_trace_ids(prometheus_url(stack), start, end)
        return {series: (len(ids), len(in_tempo(tempo, ids))) for series, ids in found.items()}
    finally:
        stack.down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    if find_binary("tempo") is None:
        print(f"no Tempo: {missing_reason('tempo')}")
        return 1
    os.environ["DEMO_ADMIN_TOKEN"] = ADMIN_TOKEN
    with tempfile.TemporaryDirectory() as workdir:
        for mode in MODES:
            counts = run(mode, args.seconds, Path(workdir))
            total = sum(n for n, _ in counts.values())
            resolved = sum(r for _, r in counts.values())
            print(f"{mode}: {resolved} of {total} exemplars name a trace Tempo has")
            for series, (n, r) in counts.items():
                print(f"  {series}: {r} of {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
