"""A collector restart under load loses nothing the app produced.

An app (``benchmarks/chat_service.py``, one FastAPI route over the openai SDK, one log line per request) runs under
``opentelemetry-instrument`` at about 60 requests/s into the project's collector (``collector/config.yaml``, the
project's build), whose Tempo and Loki are this test's OTLP receiver. The collector is SIGKILLed and started again
20 s later. Every request the app served must have its server span and its log line in the backend: what the
app produced during the outage waited in its batch processors' queues (glassbox's defaults) and was retried.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from glassbox import conventions as c
from stack import collector_tiers
from tests.conftest import ROOT, free_port, instrumented_env, state_env, stop, wait_http
from tests.e2e.test_demo_subprocess import poll
from tests.stack.test_collector_tiers import Tier
from tests.support.otlp_receiver import OTLPReceiver

OUTAGE_S = 20
RATE = 60  # requests/s


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.timeout(300)
def test_a_collector_killed_and_back_after_20_s_loses_no_span_or_log_line(stub_url: str, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    with OTLPReceiver() as backend:
        port = backend.endpoint.rsplit(":", 1)[1]
        env = {"GLASSBOX_TEMPO_OTLP_HTTP_PORT": port, "GLASSBOX_LOKI_PORT": port}
        collector = Tier("collector", [collector_tiers.CONFIG], env, tmp_path)
        app_port = free_port()
        app_env = instrumented_env(
            **state_env(tmp_path),
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.http}",
            OTEL_SERVICE_NAME="chat-service",
            OTEL_BSP_SCHEDULE_DELAY="500",
            OTEL_BLRP_SCHEDULE_DELAY="500",
            LLM_BASE_URL=stub_url,
            CHAT_PORT=str(app_port),
        )
        command = [
            str(bin_dir / "opentelemetry-instrument"),
            sys.executable,
            str(ROOT / "benchmarks" / "chat_service.py"),
        ]
        served: list[str] = []
        with collector, open(tmp_path / "app.out", "wb") as out:
            app = subprocess.Popen(command, env=app_env, stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_http(f"http://127.0.0.1:{app_port}/healthz", timeout=60, process=app)
                stop_load = threading.Event()

                def load() -> None:
                    with httpx.Client(base_url=f"http://127.0.0.1:{app_port}", timeout=30) as client:
                        while not stop_load.is_set():
                            request_id = f"req-{uuid.uuid4().hex[:12]}"
                            response = client.post(
                                "/chat", json={"message": "hello"}, headers={"x-request-id": request_id}
                            )
                            if response.status_code == 200:
                                served.append(request_id)
                            time.sleep(4 / RATE)

                workers = [threading.Thread(target=load) for _ in range(4)]
                for worker in workers:
                    worker.start()
                time.sleep(5)
                rss_before = rss_kib(app.pid)
                collector.kill()
                time.sleep(OUTAGE_S)
                rss_outage = rss_kib(app.pid)
                collector.__enter__()
                time.sleep(5)
                stop_load.set()
                for worker in workers:
                    worker.join()

                def arrived() -> bool:
                    spans = {s["attributes"].get(c.REQUEST_ID) for s in backend.spans() if s["kind"] == 2}
                    lines = {r["attributes"].get(c.REQUEST_ID) for r in backend.logs() if r["body"] == "answered chat"}
                    return set(served) <= spans and set(served) <= lines

                done = poll(arrived, timeout=90)
                spans = {s["attributes"].get(c.REQUEST_ID) for s in backend.spans() if s["kind"] == 2}
                lines = {r["attributes"].get(c.REQUEST_ID) for r in backend.logs() if r["body"] == "answered chat"}
            finally:
                stop(app)
    missing_spans, missing_lines = set(served) - spans, set(served) - lines
    print(f"served {len(served)}; RSS before {rss_before} KiB, after {OUTAGE_S} s of outage {rss_outage} KiB")
    assert done, f"{len(missing_spans)} spans and {len(missing_lines)} log lines of {len(served)} requests missing"
