"""The native runner's promises: it reports what is missing, and `down` stops only what `up` started."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry.trace import Status, StatusCode

from glassbox.cli.doctor import sum_samples
from glassbox.stack_addresses import PORT_DEFAULTS
from stack.binaries import find_binary, missing_reason
from stack.components import COMPONENTS, command, component_env, settings
from stack.native import NativeStack, StackError, main, out_of_order_window, set_aside_stale_wal
from stack.processes import free_port as distinct_free_port
from tests.conftest import free_port, stop
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.stack_fixtures import new_stack, otlp_http, otlp_providers, prometheus_url, wait_for


def started(command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """A process whose command line is visible in /proc (Popen can return a moment before it is)."""
    process = subprocess.Popen(command, **kwargs)  # type: ignore[call-overload]
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 5
    while not cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    return process


@pytest.fixture
def no_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GLASSBOX_BIN_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("stack.binaries.COLLECTOR_BUILD_DIR", tmp_path / "no-build")


def test_a_missing_optional_component_is_reported_not_fatal(no_binaries: None, tmp_path: Path) -> None:
    outcomes = NativeStack(tmp_path / "state", {}).up(["loki", "tempo", "grafana"])
    assert {(o.name, o.status) for o in outcomes} == {("loki", "missing"), ("tempo", "missing"), ("grafana", "missing")}
    assert all("GLASSBOX_BIN_DIR" in o.detail for o in outcomes)


def test_a_missing_collector_is_an_error_that_says_how_to_build_it(no_binaries: None, tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"collector/build\.sh"):
        NativeStack(tmp_path / "state", {}).up(["collector"])


def test_down_leaves_alone_a_process_it_did_not_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    stranger = started([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A stale pid file whose pid now belongs to another program: its command line does not match.
        (state / "prometheus.pid").write_text(json.dumps({"pid": stranger.pid, "command": ["/usr/bin/prometheus"]}))
        stack = NativeStack(state, {})
        assert stack.running_pid("prometheus") is None
        assert stack.down() == []
        assert stranger.poll() is None, "down killed a process it did not start"
        assert not (state / "prometheus.pid").exists(), "the stale pid file is cleaned up"
    finally:
        stop(stranger)


def test_down_stops_what_up_recorded(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = started(command, start_new_session=True)
    try:
        (state / "loki.pid").write_text(json.dumps({"pid": ours.pid, "command": command}))
        assert NativeStack(state, {}).down() == ["loki"]
        assert ours.wait(5) is not None
    finally:
        stop(ours)


def test_status_and_down_with_nothing_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLASSBOX_STATE_DIR", str(state))
        assert main(["status"]) == 0
        assert main(["down"]) == 0
    out = capsys.readouterr().out
    assert "collector  stopped" in out and "nothing was running" in out


def test_the_collector_gets_a_go_memory_limit_at_its_memory_limiter_limit(tmp_path: Path) -> None:
    env = component_env("collector", settings({"GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB": "300"}), tmp_path)
    assert env["GOMEMLIMIT"] == "300MiB"


def test_a_remote_write_wal_older_than_prometheus_accepts_is_set_aside(tmp_path: Path) -> None:
    """Points Prometheus 2.42 refuses with a retried 500 would block every fresh point behind them."""
    segment = tmp_path / "prometheus_wal" / "prom_remotewrite" / "00000000"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"old points")
    window = out_of_order_window()
    assert window == 7 * 86400  # prometheus/prometheus.yml
    written = segment.stat().st_mtime
    assert set_aside_stale_wal(tmp_path, window, now=written + window - 1) is None
    assert segment.exists()
    stale = set_aside_stale_wal(tmp_path, window, now=written + window + 1)
    assert stale is not None and stale.name.startswith("prometheus_wal.stale-")
    assert (stale / "prom_remotewrite" / "00000000").read_bytes() == b"old points"
    assert not (tmp_path / "prometheus_wal").exists()
    assert set_aside_stale_wal(tmp_path, window) is None  # nothing left to move


def test_a_wal_whose_oldest_segment_is_stale_is_set_aside_though_it_is_still_written(tmp_path: Path) -> None:
    """Old unsent points at the head block the fresh ones written behind them."""
    segments = tmp_path / "prometheus_wal" / "prom_remotewrite"
    segments.mkdir(parents=True)
    (segments / "00000001").write_bytes(b"old")
    (segments / "00000002").write_bytes(b"fresh")
    now = time.time()
    os.utime(segments / "00000001", (now - 3600, now - 3600))
    stale = set_aside_stale_wal(tmp_path, 30 * 60, now=now)
    assert stale is not None and (stale / "prom_remotewrite" / "00000002").read_bytes() == b"fresh"


# -- the canary: `glassbox doctor --watch` as one more process of the native stack ----------------------------
def test_the_canary_is_started_listed_and_stopped_like_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing else runs: its doctor, pointed at this stack's (free, unused) ports, fails every pass but runs on."""
    state = tmp_path / "state"
    monkeypatch.setenv("GLASSBOX_STATE_DIR", str(state))
    monkeypatch.setenv("GLASSBOX_CANARY_INTERVAL", "5")
    for variable in PORT_DEFAULTS:
        monkeypatch.setenv(variable, str(free_port()))
    assert COMPONENTS[-1].name == "canary", "started last, stopped first, and in the default set"
    try:
        assert main(["up", "--no-docker", "--only", "canary"]) == 0
        assert "canary     started          glassbox doctor every 5s" in capsys.readouterr().out
        record = json.loads((state / "canary.pid").read_text())
        assert record["command"] == [sys.executable, "-m", "glassbox.cli", "doctor", "--watch", "5"]
        pid = record["pid"]

        assert main(["status"]) == 0
        assert f"canary     running pid {pid}, log {state / 'canary.log'}" in capsys.readouterr().out
        assert main(["up", "--no-docker", "--only", "canary"]) == 0
        assert f"canary     already running  pid {pid}" in capsys.readouterr().out

        log = state / "canary.log"
        wait_for(lambda: log.read_text().count("FAIL  collector   not ready") >= 1, 30, "the canary's first pass")
        assert f"http://127.0.0.1:{os.environ['GLASSBOX_COLLECTOR_HEALTH_PORT']}" in log.read_text()

        assert main(["down"]) == 0
        assert capsys.readouterr().out.strip() == "stopped: canary"
        assert not Path(f"/proc/{pid}").exists()
        assert not (state / "canary.pid").exists()
        assert "glassbox doctor stopped after" in log.read_text(), "SIGTERM ends it cleanly"
    finally:
        NativeStack(state, {}).down()


def test_a_canary_that_cannot_start_is_reported_and_stops_nothing(no_binaries: None, tmp_path: Path) -> None:
    stack = NativeStack(tmp_path / "state", {"GLASSBOX_CANARY_INTERVAL": "2"})
    outcomes = {o.name: o for o in stack.up(["loki", "canary"])}
    assert outcomes["loki"].status == "missing"
    assert outcomes["canary"].status == "failed"
    assert "GLASSBOX_CANARY_INTERVAL='2' must be a number of seconds, at least 5" in outcomes["canary"].detail
    assert not (tmp_path / "state" / "canary.pid").exists()


def test_unknown_only_components_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--no-docker", "--only", "collector,canery"])
    assert "unknown components canery" in capsys.readouterr().err


# -- scrape targets: only what starts or runs --------------------------------------------------------------
def targets(state: Path) -> dict[str, object]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in (state / "prometheus" / "targets").glob("*.yml")}


def test_scrape_targets_are_written_only_for_components_that_start_or_run(tmp_path: Path) -> None:
    stack = NativeStack(tmp_path, {"GLASSBOX_PROMETHEUS_PORT": "19090", "GLASSBOX_COLLECTOR_METRICS_PORT": "18888"})
    stack.write_prometheus_config({"collector", "canary"})
    assert targets(tmp_path) == {
        "prometheus": [{"targets": ["127.0.0.1:19090"]}],
        "otelcol": [{"targets": ["127.0.0.1:18888"]}],
        "loki": [],
        "tempo": [],
        "grafana": [],
    }
    # Debian's Prometheus (as promtool checks it) takes a job with an empty target list.
    promtool = find_binary("promtool")
    if promtool is None:
        pytest.fail(f"{missing_reason('promtool')}: `make test` installs Debian's prometheus package")
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus" / "prometheus.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr

    stack.write_prometheus_targets({"collector", "loki"})
    assert targets(tmp_path)["loki"] == [{"targets": [f"127.0.0.1:{stack.env['GLASSBOX_LOKI_PORT']}"]}]
    assert targets(tmp_path)["tempo"] == []
    assert not list((tmp_path / "prometheus" / "targets").glob(".*")), "no partial file left behind"

    # With gateways, their own metrics are scraped under the collector's job, one instance each.
    tiers = NativeStack(tmp_path, {"GLASSBOX_COLLECTOR_METRICS_PORT": "18888", "GLASSBOX_GATEWAY_COUNT": "2"})
    tiers.write_prometheus_targets({"collector", "gateway-1", "gateway-2"})
    assert targets(tmp_path)["otelcol"] == [{"targets": ["127.0.0.1:18888", "127.0.0.1:8898", "127.0.0.1:8908"]}]


def test_prometheus_scrapes_what_runs_and_a_later_up_adds_its_components(tmp_path: Path) -> None:
    for component in ("prometheus", "collector"):
        if find_binary(component) is None:
            pytest.fail(f"{missing_reason(component)}; `make test` installs it (see the Makefile)")
    stack = new_stack(tmp_path)

    def active_jobs() -> set[str]:
        response = httpx.get(f"{prometheus_url(stack)}/api/v1/targets", timeout=5).json()
        return {target["labels"]["job"] for target in response["data"]["activeTargets"]}

    try:
        stack.up(["prometheus"])
        assert targets(stack.state)["otelcol"] == []
        assert wait_for(active_jobs, 30, "Prometheus' first targets") == {"prometheus"}
        stack.up(["collector"])
        port = stack.env["GLASSBOX_COLLECTOR_METRICS_PORT"]
        assert targets(stack.state)["otelcol"] == [{"targets": [f"127.0.0.1:{port}"]}]
        # Prometheus re-reads the file_sd files by itself: the collector becomes a target without a restart.
        wait_for(lambda: active_jobs() == {"prometheus", "otelcol"}, 60, "the collector as a scrape target")
    finally:
        stack.down()


def test_postgres_is_started_with_a_database_and_a_url_for_the_apps_and_stopped(tmp_path: Path) -> None:
    import psycopg

    from glassbox.db import check_role
    from glassbox.db.schema import LATEST

    stack = new_stack(tmp_path)
    try:
        (outcome,) = stack.up(["postgres"])
        assert outcome.status == "started" and str(stack.state_url_file()) in outcome.detail
        url = stack.state_url_file().read_text().strip()
        admin = stack.admin_url_file().read_text().strip()
        for path in (stack.state_url_file(), stack.admin_url_file(), stack.reader_url_file()):
            assert path.stat().st_mode & 0o077 == 0  # each holds a password
        suffix = f":{stack.env['GLASSBOX_POSTGRES_PORT']}/glassbox"
        assert url.startswith("postgresql://glassbox_app:") and url.endswith(suffix)
        assert admin.startswith("postgresql://glassbox:") and admin.endswith(suffix)
        with psycopg.connect(url) as connection:  # the apps' role: glassbox's schema, a writer and no more
            assert connection.execute("SELECT current_database()").fetchone() == ("glassbox",)
            assert connection.execute("SELECT max(version) FROM glassbox.schema_version").fetchone() == (LATEST,)
            assert not check_role(connection).privileged
        with psycopg.connect(stack.reader_url_file().read_text().strip()) as connection:
            assert connection.execute("SELECT pg_has_role('glassbox_reader', 'MEMBER')").fetchone() == (True,)
        assert [o.status for o in stack.status() if o.name == "postgres"] == ["running"]
        wrong = admin.replace("postgresql://glassbox:", "postgresql://glassbox:not-it-", 1)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong).close()
    finally:
        assert stack.down() == ["postgres"]
    stack.up(["postgres"])  # the cluster and its password are kept
    try:
        with psycopg.connect(stack.state_url_file().read_text().strip()) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        stack.down()
        shutil.rmtree(stack.postgres().directory, ignore_errors=True)  # moved under ~postgres when root


def test_postgres_takes_its_password_from_the_environment_when_set(tmp_path: Path) -> None:
    import psycopg

    stack = new_stack(tmp_path, GLASSBOX_POSTGRES_PASSWORD="from-the-env-not-a-secret")
    try:
        stack.up(["postgres"])
        url = stack.admin_url_file().read_text().strip()
        assert url.startswith("postgresql://glassbox:from-the-env-not-a-secret@")
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
        assert not (stack.postgres().directory / "glassbox-password").exists()  # no random one made
    finally:
        stack.down()
        shutil.rmtree(stack.postgres().directory, ignore_errors=True)


# -- the collector tiers natively: `make up GATEWAYS=2` --------------------------------------------------
def two_gateways_ports() -> dict[str, str]:
    """Distinct free ports for two gateways' OTLP gRPC and HTTP, health and metrics endpoints, as settings."""
    taken: set[int] = set()
    return {
        f"GLASSBOX_GATEWAY_{n}_{suffix}": str(distinct_free_port(taken))
        for n in (1, 2)
        for suffix in ("OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "COLLECTOR_HEALTH_PORT", "COLLECTOR_METRICS_PORT")
    }


def test_with_gateways_the_collector_is_their_agent_and_down_stops_them_all(tmp_path: Path) -> None:
    """The agent keeps the collector's ports; each gateway has its own; every trace is whole at one gateway."""
    if find_binary("collector") is None:
        pytest.fail(f"{missing_reason('collector')}; `make test` builds it (see the Makefile)")
    gateway_ports = two_gateways_ports()
    with OTLPReceiver() as backend:
        stack = new_stack(
            tmp_path, backend.port, GLASSBOX_GATEWAY_COUNT="2", GLASSBOX_TAIL_DECISION_WAIT="1s", **gateway_ports
        )
        assert stack.env["GLASSBOX_GATEWAYS"] == (
            f"[127.0.0.1:{gateway_ports['GLASSBOX_GATEWAY_1_OTLP_GRPC_PORT']}, "
            f"127.0.0.1:{gateway_ports['GLASSBOX_GATEWAY_2_OTLP_GRPC_PORT']}]"
        )
        try:
            outcomes = stack.up(["collector"])
            assert [(o.name, o.status) for o in outcomes] == [
                ("gateway-1", "started"),
                ("gateway-2", "started"),
                ("collector", "started"),
            ]
            assert "agent.yaml" in Path(f"/proc/{stack.running_pid('collector')}/cmdline").read_text()
            tracer_provider, _, _ = otlp_providers(otlp_http(stack), "tiers-native")
            tracer = tracer_provider.get_tracer("test")
            sent = set()
            for _ in range(20):
                with tracer.start_as_current_span("request", attributes={"http.response.status_code": 500}) as root:
                    root.set_status(Status(StatusCode.ERROR))
                    with tracer.start_as_current_span("chat"):
                        pass
                sent.add(f"{root.get_span_context().trace_id:032x}")
            tracer_provider.shutdown()
            # Errors are always kept, so every trace arrives, whole, decided by the gateway that got it.
            wait_for(lambda: {s["trace_id"] for s in backend.spans()} >= sent, 60, "every trace at the backend")
            per_trace: dict[str, int] = {}
            for span in backend.spans():
                per_trace[span["trace_id"]] = per_trace.get(span["trace_id"], 0) + 1
            assert all(per_trace[trace_id] == 2 for trace_id in sent)
            accepted = [
                sum_samples(
                    httpx.get(
                        f"http://127.0.0.1:{gateway_ports[f'GLASSBOX_GATEWAY_{n}_COLLECTOR_METRICS_PORT']}/metrics"
                    ).text,
                    "otelcol_receiver_accepted_spans",
                )
                for n in (1, 2)
            ]
            assert sum(accepted) == 40 and min(accepted) > 0, f"spans per gateway: {accepted}"
            # A later `status` and `down`, without the setting, still find the gateways by their pid files.
            later = NativeStack(stack.state, {k: v for k, v in stack.env.items() if k != "GLASSBOX_GATEWAY_COUNT"})
            assert {o.name: o.status for o in later.status()}["gateway-2"] == "ready"
        finally:
            stopped = NativeStack(stack.state, {**stack.env, "GLASSBOX_GATEWAY_COUNT": "0"}).down()
        assert stopped == ["collector", "gateway-2", "gateway-1"]


def test_gateways_asked_of_a_running_single_collector_are_refused_before_anything_starts(tmp_path: Path) -> None:
    """`make up GATEWAYS=2` on a running stack: the collector runs collector/config.yaml, so gateways started
    beside it would get nothing. `up` refuses, says what to do, and starts nothing; the tiers it then asks for
    (after `down`) are the agent of those gateways, which a later plain `up` accepts as they are."""
    if find_binary("collector") is None:
        pytest.fail(f"{missing_reason('collector')}; `make test` builds it (see the Makefile)")
    gateway_ports = two_gateways_ports()
    single = new_stack(tmp_path, **gateway_ports)
    tiers = NativeStack(single.state, {**single.env, "GLASSBOX_GATEWAY_COUNT": "2"})
    try:
        assert [(o.name, o.status) for o in single.up(["collector"])] == [("collector", "started")]
        pid = single.running_pid("collector")
        with pytest.raises(StackError) as refused:
            tiers.up(["collector"])
        message = str(refused.value)
        assert f"runs (pid {pid}) as collector/config.yaml" in message, message
        assert "needs it as collector/agent.yaml sending to the gateways [127.0.0.1:" in message, message
        assert "stop the stack first (`make down`), then `make up GATEWAYS=2`" in message, message
        assert tiers.running() == {"collector"} and single.running_pid("collector") == pid
        assert not list(single.state.glob("gateway-*.pid"))
        # after `down`, the same request makes the agent and its gateways; a plain `up` then finds them as they are
        assert single.down() == ["collector"]
        assert [o.status for o in tiers.up(["collector"])] == ["started", "started", "started"]
        later = NativeStack(single.state, single.env).up(["collector"])
        assert {(o.name, o.status) for o in later} == {
            ("gateway-1", "already running"),
            ("gateway-2", "already running"),
            ("collector", "already running"),
        }
    finally:
        stopped = tiers.down()
    assert stopped == ["collector", "gateway-2", "gateway-1"]


def test_a_gateway_count_out_of_range_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GLASSBOX_GATEWAY_COUNT='ten' must be a whole number from 0 to 9"):
        NativeStack(tmp_path, {"GLASSBOX_GATEWAY_COUNT": "ten"})


def test_with_docker_up_migrates_compose_s_postgresql_and_gives_the_apps_the_writer_url(
    postgres: Any, tmp_path: Path
) -> None:
    """What `make up` does after `docker compose up`: glassbox's schema as the superuser, then the URLs written
    (the apps': glassbox_app, which postgres/init made). Compose's PostgreSQL is stood in for by the tests' own."""
    import psycopg

    from stack.native import migrate_compose_state

    postgres.cluster.create_database("glassbox")
    environ = {
        "GLASSBOX_POSTGRES_PORT": str(postgres.cluster.port),
        "GLASSBOX_POSTGRES_PASSWORD": postgres.cluster.password,
        "GLASSBOX_POSTGRES_APP_PASSWORD": "app-password-not-a-secret",
    }
    assert migrate_compose_state(tmp_path, environ) == 0
    app = (tmp_path / "postgres-url").read_text().strip()
    assert app.startswith("postgresql://glassbox_app:app-password-not-a-secret@127.0.0.1:")
    assert (tmp_path / "postgres-url").stat().st_mode & 0o077 == 0
    with psycopg.connect((tmp_path / "postgres-admin-url").read_text().strip()) as connection:
        assert connection.execute("SELECT max(version) FROM glassbox.schema_version").fetchone() == (2,)
    assert migrate_compose_state(tmp_path, {**environ, "GLASSBOX_POSTGRES_PASSWORD": "wrong"}) == 1


def test_a_collector_restarted_beside_gateways_a_run_left_is_their_agent(tmp_path: Path) -> None:
    """Gateways recorded by an earlier `make up GATEWAYS=2` (their pid files) belong to the stack: a plain `up`
    that (re)starts a dead collector starts it as their agent, not as the single collector they would get
    nothing from."""
    state = tmp_path / "stack"
    state.mkdir()
    for number in (1, 2):
        (state / f"gateway-{number}.pid").write_text(json.dumps({"pid": 999_999_999, "command": ["gone"]}))
    stack = NativeStack(state, {})
    assert [c.name for c in stack.components() if c.name.startswith("gateway-")] == ["gateway-1", "gateway-2"]
    argv = command("collector", Path("/bin/collector"), stack.env, state)
    assert argv[-1].endswith("collector/agent.yaml")
    assert stack.env["GLASSBOX_GATEWAYS"] == "[127.0.0.1:4327, 127.0.0.1:4337]"
    assert command("collector", Path("/bin/collector"), NativeStack(tmp_path / "other", {}).env, state)[-1].endswith(
        "collector/config.yaml"
    )
