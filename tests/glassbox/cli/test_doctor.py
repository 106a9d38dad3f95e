"""`glassbox doctor`'s reading of the collector's own metrics, and its --watch loop against nothing running (the
end-to-end runs are in test_stack_integration)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from glassbox.cli import doctor
from glassbox.cli.doctor import accepted, sum_samples
from glassbox.stack_addresses import PORT_DEFAULTS
from tests.conftest import free_port, stop

COLLECTOR_TEXT = """\
# HELP otelcol_receiver_accepted_spans Number of spans successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 5
otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 2
otelcol_receiver_accepted_log_records{receiver="otlp",transport="http"} 4
otelcol_exporter_queue_size{data_type="traces",exporter="otlp_http/tempo"} 3
otelcol_exporter_queue_size{data_type="logs",exporter="otlp_http/loki"} 1
otelcol_exporter_queue_size_extra{exporter="otlp_http/tempo"} 100
"""


def test_counters_are_summed_by_their_name_as_written_without_a_total_suffix() -> None:
    assert accepted(COLLECTOR_TEXT) == {"spans": 7.0, "log_records": 4.0, "metric_points": 0.0}


def test_label_filters_select_one_exporter_and_names_match_whole() -> None:
    assert sum_samples(COLLECTOR_TEXT, "otelcol_exporter_queue_size", exporter="otlp_http/tempo") == 3.0
    assert sum_samples(COLLECTOR_TEXT, "otelcol_exporter_queue_size") == 4.0
    assert sum_samples("", "otelcol_exporter_queue_size") == 0.0


# -- glassbox doctor --watch ----------------------------------------------------------------------------------
PASS_HEADER = re.compile(r"^=== \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ glassbox doctor pass (\d+) \(every 5s\) ===$")


def unused_ports_env(**overrides: str) -> dict[str, str]:
    """This environment with every GLASSBOX_* port on a free port nothing listens on (never the running stack)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLASSBOX_", "OTEL_"))}
    env.update({name: str(free_port()) for name in PORT_DEFAULTS})
    env.update(overrides)
    return env


class Lines:
    """A process's stdout, read line by line in a thread, so the test can wait for a line without blocking."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        self.thread = threading.Thread(target=lambda: self.lines.extend(line.rstrip("\n") for line in stdout))
        self.thread.start()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(bool(re.search(pattern, line)) for line in list(self.lines)) < count:
            assert time.monotonic() < deadline, f"{count}x {pattern!r} not printed within {timeout}s:\n" + self.text
            time.sleep(0.05)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def doctor_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "glassbox.cli", "doctor", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("value", ["4", "4.9", "0", "-5", "nan", "soon"])
def test_watch_takes_at_least_five_seconds(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        doctor.main(["--watch", value])
    assert exit_info.value.code == 2
    assert "argument --watch:" in capsys.readouterr().err


def test_watch_with_nothing_running_repeats_its_passes_and_exits_0_on_sigterm() -> None:
    process = doctor_process(unused_ports_env(), "--watch", "5", "--timeout", "2")
    try:
        output = Lines(process)
        output.wait_for(r"^doctor: FAILED \(collector, prometheus\)$", count=2, timeout=30)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0, output.text
        assert time.monotonic() - started < 10
        output.thread.join(5)
    finally:
        stop(process)
    headers = [PASS_HEADER.match(line) for line in output.lines if "glassbox doctor pass" in line]
    assert [int(m.group(1)) for m in headers if m] == list(range(1, len(headers) + 1)) and len(headers) >= 2
    assert output.text.count("FAIL  collector   not ready") >= 2
    assert output.text.count("SKIP  tempo") >= 2
    assert re.search(r"glassbox doctor stopped after \d+ passes ===$", output.lines[-1]), output.text


class AlwaysOK(BaseHTTPRequestHandler):
    """Answers 200 to everything: a "collector" that is ready and takes OTLP, but never counts a canary."""

    def _ok(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _ok

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_stop_request_abandons_a_pass_waiting_for_its_canary() -> None:
    """The canary confirmations wait up to --timeout: a SIGINT must not wait for them."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysOK)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    port = str(server.server_address[1])
    env = unused_ports_env(
        GLASSBOX_COLLECTOR_HEALTH_PORT=port, GLASSBOX_OTLP_HTTP_PORT=port, GLASSBOX_COLLECTOR_METRICS_PORT=port
    )
    process = doctor_process(env, "--watch", "5", "--timeout", "120")
    try:
        output = Lines(process)
        output.wait_for(r"^  canary [0-9a-f]{32} \(trace [0-9a-f]{32}\) sent at ")
        time.sleep(1.5)  # well into the wait for the collector to count it
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0, output.text
        assert time.monotonic() - started < 5, output.text
        output.thread.join(5)
    finally:
        stop(process)
        server.shutdown()
        server.server_close()
        thread.join()
    assert "doctor: stop requested, pass abandoned" in output.lines, output.text
    assert "Traceback" not in output.text


def test_a_pass_that_raises_is_printed_and_the_loop_goes_on() -> None:
    lines: list[str] = []
    stopper = doctor.Stop()

    def out(line: str) -> None:
        lines.append(line)
        if sum(line.startswith("ERROR") for line in lines) == 2:
            stopper.set()

    # A port that is no number: httpx raises InvalidURL, which no check expects.
    environ = unused_ports_env(GLASSBOX_COLLECTOR_HEALTH_PORT="no-port")
    assert doctor.watch(environ, 0.01, stopper, out=out) == 0
    errors = [line for line in lines if line.startswith("ERROR")]
    assert errors == [
        "ERROR  doctor pass 1 raised InvalidURL: Invalid port: 'no-port'",
        "ERROR  doctor pass 2 raised InvalidURL: Invalid port: 'no-port'",
    ], "\n".join(lines)
    assert lines[-1].endswith("glassbox doctor stopped after 2 passes ===")
