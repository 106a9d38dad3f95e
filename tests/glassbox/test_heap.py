"""glassbox.heap: the heap an app built at start-up is frozen when it serves its first request, once per process,
so a full garbage collection no longer scans it; GLASSBOX_GC_FREEZE=false leaves the collector alone.

Each case runs in a process of its own: a frozen heap stays frozen for the life of the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SERVE_TWO_REQUESTS = """
import gc, json
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from glassbox.integrations.asgi_attribution import AttributionMiddleware

async def hello(request):
    return PlainTextResponse("hi")

app = Starlette(routes=[Route("/", hello)])
app.add_middleware(AttributionMiddleware)
client = TestClient(app)
before = gc.get_freeze_count()
client.get("/")
after_first = gc.get_freeze_count()
client.get("/")
print(json.dumps({"before": before, "after_first": after_first, "after_second": gc.get_freeze_count(),
                  "generation_2_left": len(gc.get_objects(generation=2))}))
"""


def serve(**env: str) -> dict[str, int]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-c", SERVE_TWO_REQUESTS], capture_output=True, text=True, env=environ, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_first_request_freezes_the_start_up_heap_once() -> None:
    counts = serve()
    assert counts["before"] == 0
    assert counts["after_first"] > 20_000  # the modules, classes and functions Starlette and glassbox loaded
    assert counts["after_second"] == counts["after_first"]  # once per process
    assert counts["generation_2_left"] < counts["after_first"] / 5  # what a full collection still scans


@pytest.mark.parametrize("value", ["false", "0"])
def test_gc_freeze_off_leaves_the_collector_alone(value: str) -> None:
    counts = serve(GLASSBOX_GC_FREEZE=value)
    assert counts["before"] == counts["after_first"] == counts["after_second"] == 0
