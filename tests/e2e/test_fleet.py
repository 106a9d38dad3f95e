"""Fleet mode: the demo app as two replicas ("hosts": their own host names and directories) sharing one
PostgreSQL, under opentelemetry-instrument, with the real SDKs against the stub LLM. One budget, one kill switch,
one audit chain for both; and what one replica does when the database goes away or cannot be used."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from glassbox import conventions as c
from glassbox.db import migrate
from glassbox.stack_addresses import Endpoints
from tests.conftest import EXAMPLES, Postgres, free_port
from tests.e2e.test_demo_subprocess import demo_app, headers, poll
from tests.support.binaries import requires
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.stack_fixtures import new_stack, otlp_http, wait_for

BUDGET = 0.02
FLEET_BUDGETS = f"tenants:\n  fleetco: {{day: {BUDGET}}}\n"
QUESTION = "Summarise the invoices of last month for me " * 8


@contextmanager
def replicas(
    stub_url: str, receiver: OTLPReceiver, tmp_path: Path, url: str | None, count: int = 2, **env: str
) -> Iterator[list[dict[str, Any]]]:
    """``count`` demo apps, each a host of its own (host name, directories); sharing ``url``'s state if given."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(FLEET_BUDGETS)
    with ExitStack() as stack:
        apps = []
        for index in range(count):
            host = f"host-{'ab'[index]}"
            directory = tmp_path / host
            directory.mkdir(parents=True, exist_ok=True)
            settings = {
                "OTEL_RESOURCE_ATTRIBUTES": f"host.name={host}",
                "GLASSBOX_BUDGETS_FILE": str(budgets),
                **({"GLASSBOX_STATE_URL": url} if url else {}),
                **env,
            }
            app = stack.enter_context(demo_app(stub_url, receiver.endpoint, directory, **settings))
            app["host"], app["directory"] = host, directory
            apps.append(app)
        yield apps


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The glassbox command, as an operator runs it (from ``cwd``, with no key of the fleet's)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    environment.update({"OTEL_SDK_DISABLED": "true", **env})
    command = [sys.executable, "-m", "glassbox.cli", *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, cwd=cwd)


def chat(app: dict[str, Any], tenant: str = "fleetco", model: str | None = "gpt-4o") -> dict[str, Any]:
    body = {"message": QUESTION, **({"model": model} if model else {})}
    reply = httpx.post(f"{app['url']}/chat", json=body, headers=headers(tenant), timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def drive_until_refused(apps: list[dict[str, Any]], per_app: int = 3) -> dict[str, list[bool]]:
    """``per_app`` clients on each app send chats at once until each has seen three canned answers in a row."""
    answers: dict[str, list[bool]] = {app["host"]: [] for app in apps}
    lock = threading.Lock()

    def client(app: dict[str, Any]) -> None:
        refused_in_a_row = 0
        for _ in range(200):
            fallback = bool(chat(app)["fallback"])
            with lock:
                answers[app["host"]].append(fallback)
            refused_in_a_row = refused_in_a_row + 1 if fallback else 0
            if refused_in_a_row == 3:
                return

    threads = [threading.Thread(target=client, args=(app,)) for app in apps for _ in range(per_app)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def call_costs(receiver: OTLPReceiver, tenant: str) -> list[float]:
    """USD of every counted model call of ``tenant`` the apps exported."""
    return [
        float(s["attributes"][c.COST_USD])
        for s in receiver.spans()
        if s["attributes"].get(c.USAGE_COUNTED) and s["attributes"].get(c.TENANT_ID) == tenant
        and c.COST_USD in s["attributes"]
    ]  # fmt: skip


def spent_in_database(url: str, tenant: str) -> float:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT coalesce(sum(spent_usd), 0) FROM glassbox.spend WHERE tenant = %s", (tenant,))
        return float(row.fetchone()[0])  # type: ignore[index]


def audit_records(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as connection:
        return [json.loads(r[0]) for r in connection.execute("SELECT record FROM glassbox.audit_log ORDER BY seq")]


def test_one_budget_for_two_hosts_stops_at_its_limit(stub_url: str, pg_url: str, tmp_path: Path) -> None:
    with OTLPReceiver() as receiver, replicas(stub_url, receiver, tmp_path, pg_url) as apps:
        answers = drive_until_refused(apps)
        time.sleep(1.0)  # the last spans reach the receiver
    costs = call_costs(receiver, "fleetco")
    spent = spent_in_database(pg_url, "fleetco")
    largest = max(costs)
    print(f"\nfleet: {len(costs)} calls answered on two hosts, {spent:.6f} USD spent of a {BUDGET} USD budget "
          f"(largest call {largest:.6f}; bound {BUDGET + largest:.6f})")  # fmt: skip
    assert spent == pytest.approx(sum(costs), rel=1e-6)  # the database holds what the calls cost, once each
    assert spent <= BUDGET + largest
    assert spent >= BUDGET * 0.7  # the budget was used, not refused from the start
    for host, seen in answers.items():  # both hosts were answered by the model, then refused
        assert False in seen and seen[-3:] == [True, True, True], (host, seen)
    refusals = [r for r in audit_records(pg_url) if r["action"] == "ai.call_refused"]
    assert refusals and all("day budget" in r["outcome"]["reason"] for r in refusals)
    thresholds = [r["after"]["percent"] for r in audit_records(pg_url) if r["action"] == "budget.threshold"]
    assert thresholds == [80], thresholds  # written once for the fleet, though both hosts crossed it


def test_without_the_database_each_host_spends_the_whole_budget(stub_url: str, tmp_path: Path) -> None:
    """The files state on two hosts: each enforces the budget on its own spend. Documented, not asserted."""
    with OTLPReceiver() as receiver, replicas(stub_url, receiver, tmp_path, None) as apps:
        drive_until_refused(apps)
        time.sleep(1.0)
    spent = sum(call_costs(receiver, "fleetco"))
    print(f"\nfiles state on two hosts: {spent:.6f} USD spent of a {BUDGET} USD budget ({spent / BUDGET:.2f}x)")
    assert spent > 0


def test_one_kill_switch_stops_both_hosts_within_a_second_and_is_audited(
    stub_url: str, pg_url: str, tmp_path: Path
) -> None:
    with OTLPReceiver() as receiver, replicas(stub_url, receiver, tmp_path, pg_url) as apps:
        assert not any(chat(app, "globex", None)["fallback"] for app in apps)
        switched = cli("kill-switch", "on", "--reason", "provider incident", cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
        assert switched.returncode == 0, switched.stderr
        done = time.monotonic()
        delays = []
        for app in apps:
            while not chat(app, "globex", None)["fallback"]:
                assert time.monotonic() - done < 1.0, f"{app['host']} still answers 1 s after the switch"
            delays.append(time.monotonic() - done)
        print(f"\nkill switch: both hosts refused within {max(delays) * 1000:.0f} ms of the command's exit")
        status = cli("kill-switch", "status", cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
        assert "ON for every tenant" in status.stdout and "provider incident" in status.stdout
        assert cli("kill-switch", "off", cwd=tmp_path, GLASSBOX_STATE_URL=pg_url).returncode == 0
        for app in apps:
            deadline = time.monotonic() + 1.0
            while chat(app, "globex", None)["fallback"]:
                assert time.monotonic() < deadline, f"{app['host']} still refuses 1 s after the switch went off"
    switches = [r for r in audit_records(pg_url) if r["action"].startswith("kill_switch.")]
    assert [(r["action"], r["outcome"]["status"]) for r in switches] == [
        ("kill_switch.on", "attempt"), ("kill_switch.on", "success"),
        ("kill_switch.off", "attempt"), ("kill_switch.off", "success"),
    ]  # fmt: skip
    assert switches[0]["actor"]["type"] == "human" and switches[0]["actor"]["id"]
    assert switches[0]["outcome"]["reason"] == "provider incident"


def test_both_hosts_write_one_chain_that_only_grows(
    postgres: Postgres, pg_url: str, stub_url: str, tmp_path: Path
) -> None:
    every = {"GLASSBOX_AUDIT_CHECKPOINT_EVERY": "3"}  # each host signs some checkpoints, with its own key
    with OTLPReceiver() as receiver, replicas(stub_url, receiver, tmp_path, pg_url, **every) as apps:
        for _ in range(5):
            for app in apps:
                chat(app, "acme")  # each chat picks a model: an ai.model_choice audit event
    keys = [str(app["directory"] / "keys" / "audit.key.pub") for app in apps]
    records = audit_records(pg_url)
    assert len(records) >= 10 and [r["seq"] for r in records] == list(range(1, len(records) + 1))
    trusted = ("--public-key", keys[0], "--public-key", keys[1])
    verify = cli("audit", "verify", *trusted, cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
    assert verify.returncode == 0 and "OK" in verify.stdout, verify.stdout + verify.stderr
    one_key = cli("audit", "verify", "--public-key", keys[0], cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
    assert one_key.returncode == 1 and "not among the trusted public keys" in one_key.stdout, one_key.stdout

    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute("CREATE ROLE app_writer LOGIN PASSWORD 'writer-pw' IN ROLE glassbox_writer")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute("UPDATE glassbox.audit_log SET action = 'nothing' WHERE seq = 1")  # even the owner
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute("DELETE FROM glassbox.audit_log WHERE seq = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute("TRUNCATE glassbox.audit_log")
    writer_url = postgres.cluster.url(pg_url.rsplit("/", 1)[1], user="app_writer", password="writer-pw")
    with psycopg.connect(writer_url, autocommit=True) as writer:
        # it reads the whole chain (the records above and the verifications' own events)
        assert writer.execute("SELECT count(*) FROM glassbox.audit_log").fetchone()[0] == len(audit_records(pg_url))  # type: ignore[index]
        for statement in ("UPDATE glassbox.audit_log SET action = 'x'", "DELETE FROM glassbox.audit_log",
                          "TRUNCATE glassbox.audit_log"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                writer.execute(statement)

    with psycopg.connect(pg_url, autocommit=True) as superuser:  # whoever may bypass the triggers
        superuser.execute("SET session_replication_role = replica")
        superuser.execute(
            "UPDATE glassbox.audit_log SET record = replace(record, '\"ai.model_choice\"', '\"ai.other\"') "
            "WHERE seq = 3"
        )
    verify = cli("audit", "verify", *trusted, cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
    assert verify.returncode == 1 and "first bad sequence number 3" in verify.stdout, verify.stdout
    assert not (tmp_path / ".glassbox" / "keys").exists()  # the command made no key of its own


def test_a_tenant_auditor_reads_only_its_tenant(postgres: Postgres, pg_url: str) -> None:
    from glassbox.audit.chain import GENESIS, canonical, record_hash

    with psycopg.connect(pg_url, autocommit=True) as owner:
        migrate(owner, roles=True)
        prev = GENESIS
        for seq, tenant in enumerate(["acme", "globex", "acme"], start=1):
            record = {"id": f"e{seq}", "action": "login", "tenant": tenant, "time": "2026-11-30T10:00:00+00:00",
                      "seq": seq, "prev": prev}  # fmt: skip
            record["hash"] = prev = record_hash(record)
            owner.execute(
                "INSERT INTO glassbox.audit_log (seq, event_id, time, tenant, action, record, hash) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (seq, record["id"], record["time"], tenant, "login", canonical(record).decode(), record["hash"]),
            )
        owner.execute("DROP ROLE IF EXISTS auditor_acme")
        owner.execute("CREATE ROLE auditor_acme LOGIN PASSWORD 'auditor-pw' IN ROLE glassbox_tenant_auditor")
        owner.execute("INSERT INTO glassbox.audit_readers VALUES ('auditor_acme', 'acme')")
    auditor_url = postgres.cluster.url(pg_url.rsplit("/", 1)[1], user="auditor_acme", password="auditor-pw")
    with psycopg.connect(auditor_url) as auditor:
        seen = auditor.execute("SELECT tenant, seq FROM glassbox.audit_log ORDER BY seq").fetchall()
        assert seen == [("acme", 1), ("acme", 3)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            auditor.execute("INSERT INTO glassbox.audit_readers VALUES ('auditor_acme', 'globex')")


def test_the_database_down_for_30_s_under_traffic(
    postgres: Postgres, pg_url: str, stub_url: str, tmp_path: Path
) -> None:
    """No request waits past the state timeout, the app keeps answering, audit events wait in the spool and
    enter the chain in order once the database is back."""
    timeout = 0.25
    settings = {"GLASSBOX_STATE_TIMEOUT": str(timeout), "GLASSBOX_REQUEST_MAX_LLM_CALLS": "50"}
    with OTLPReceiver() as receiver, replicas(stub_url, receiver, tmp_path, pg_url, count=1, **settings) as (app,):
        latencies: list[tuple[float, float, bool]] = []  # (when, seconds, fallback)
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                started = time.monotonic()
                answer = chat(app, "fleetco", "gpt-4o-mini")  # budgeted, request-limited and audited (model choice)
                latencies.append((started, time.monotonic() - started, bool(answer["fallback"])))
                time.sleep(0.05)

        sender = threading.Thread(target=traffic)
        sender.start()
        try:
            time.sleep(2)
            down_from = time.monotonic()
            postgres.restart(down_for=30)
            back_at = time.monotonic()
            time.sleep(5)
        finally:
            stop.set()
            sender.join()
        during = [(seconds, fallback) for when, seconds, fallback in latencies if down_from <= when < back_at]
        baseline = sorted(seconds for when, seconds, _ in latencies if when < down_from)
        worst = max(seconds for seconds, _ in during)
        p50 = baseline[len(baseline) // 2]
        print(f"\ndatabase down 30 s: {len(during)} requests served meanwhile, slowest {worst * 1000:.0f} ms "
              f"(before: p50 {p50 * 1000:.0f} ms); state timeout {timeout * 1000:.0f} ms")  # fmt: skip
        assert len(during) > 50 and not any(fallback for _, fallback in during)  # fail-open: the model answered
        # One wait per operation that went to the database: the reservation, the request count, the audit
        # event, each bounded; the breaker makes the others fail at once.
        assert worst < 3 * timeout + baseline[-1], worst
        metrics_text = httpx.get(app["metrics_url"], timeout=5).text
        assert "glassbox_state_failures_total" in metrics_text
        choices = sum(1 for _ in latencies)

        def chained() -> list[dict[str, Any]]:
            return [r for r in audit_records(pg_url) if r["action"] == "ai.model_choice"]

        deadline = time.monotonic() + 30
        while len(chained()) < choices and time.monotonic() < deadline:
            chat(app, "fleetco", "gpt-4o-mini")  # an audit event drains the spool first
            choices += 1
            time.sleep(0.5)
    records = chained()
    assert len(records) >= choices - 1, (len(records), choices)  # every event (the last one may be on its way)
    times = [r["time"] for r in records]
    assert times == sorted(times)  # in the order they happened
    assert not list((tmp_path / "host-a" / "audit-spool").glob("spool-*.jsonl")) or all(
        p.stat().st_size == 0 for p in (tmp_path / "host-a" / "audit-spool").glob("spool-*.jsonl")
    )


@pytest.mark.parametrize(
    "fault, mode",
    [
        ("malformed URL", "fail-open"),
        ("wrong password", "fail-open"),
        ("missing database", "fail-open"),
        ("newer schema", "fail-open"),
        ("wrong password", "fail-closed"),
    ],
)
def test_a_state_that_cannot_be_used_is_named_at_start_up_and_the_app_serves(
    postgres: Postgres, pg_url: str, stub_url: str, tmp_path: Path, fault: str, mode: str
) -> None:
    database = pg_url.rsplit("/", 1)[1]
    url = {
        "malformed URL": "postgresql://glassbox:secret-pw@[::1/glassbox",
        "wrong password": postgres.cluster.url(database, password="secret-pw"),
        "missing database": postgres.cluster.url("no_such_database"),
        "newer schema": pg_url,
    }[fault]
    if fault == "newer schema":
        with psycopg.connect(pg_url, autocommit=True) as connection:
            migrate(connection)
            connection.execute("INSERT INTO glassbox.schema_version (version, glassbox_version) VALUES (9, '9')")
    settings = {"GLASSBOX_STATE_FAILURE": mode}
    with OTLPReceiver() as receiver, replicas(stub_url, receiver, tmp_path, url, count=1, **settings) as (app,):
        answer = chat(app, "acme", None)
        assert answer["fallback"] is (mode == "fail-closed")
        assert httpx.get(f"{app['url']}/healthz", timeout=5).status_code == 200

        def state_metrics() -> str:
            text = httpx.get(app["metrics_url"], timeout=5).text
            return text if "glassbox_state_connected{" in text else ""

        metrics_text = poll(state_metrics)  # the next collection (every second here)
    output = Path(app["stdout"]).read_text()
    assert "GLASSBOX_STATE_URL" in output or fault in ("wrong password", "missing database"), output[-2000:]
    expected = {
        "malformed URL": "malformed",
        "wrong password": "password authentication failed",
        "missing database": 'database \\"no_such_database\\" does not exist',  # as JSON escapes it
        "newer schema": "schema is version 9",
    }[fault]
    assert expected in output and "secret-pw" not in output, output[-2000:]
    failures = re.search(
        r'glassbox_state_failures_total\{[^}]*glassbox_state_operation="connect"[^}]*\} (\S+)', metrics_text
    )
    assert failures and float(failures.group(1)) >= 1, metrics_text[-3000:]
    connected = re.search(r"glassbox_state_connected\{[^}]*\} (\S+)", metrics_text)
    assert connected and float(connected.group(1)) == 0


@requires("loki")
def test_a_chain_rewritten_and_re_signed_in_the_database_is_caught_against_loki(
    pg_url: str, stub_url: str, tmp_path: Path
) -> None:
    """Whoever holds the database and the signing key can rewrite the chain so that it verifies; the copies
    Loki's audit stream received as the events happened still tell."""
    from glassbox.audit.chain import canonical, key_id, load_or_create_key, record_hash

    stack = new_stack(tmp_path / "stack")
    try:
        stack.up(["prometheus", "loki", "collector"])
        with replicas(stub_url, OTLPReceiver(), tmp_path, pg_url, GLASSBOX_AUDIT_CHECKPOINT_EVERY="3",
                      OTEL_EXPORTER_OTLP_ENDPOINT=otlp_http(stack)) as apps:  # fmt: skip
            for _ in range(3):
                for app in apps:
                    chat(app, "acme")  # an ai.model_choice audit event each
        loki = Endpoints.from_environ(stack.env).loki
        records = audit_records(pg_url)
        start = time.time() - 3600

        def all_in_loki() -> bool:
            from glassbox.audit.loki import read_stream

            return len(read_stream(loki, start, time.time()).copies) >= len(records)

        wait_for(all_in_loki, timeout=90, what="every audit event in Loki's audit stream")
        keys = [str(app["directory"] / "keys" / "audit.key.pub") for app in apps]
        trusted = ("--public-key", keys[0], "--public-key", keys[1])
        check = ("audit", "verify", *trusted, "--against-loki", "--grace", "0", "--loki", loki)
        intact = cli(*check, cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
        assert intact.returncode == 0 and "LOKI  " in intact.stdout, intact.stdout + intact.stderr

        # The rewrite: record 2 says another model, every hash after it recomputed, every checkpoint re-signed.
        key = load_or_create_key(apps[0]["directory"] / "keys" / "audit.key")
        chain = audit_records(pg_url)
        chain[1]["after"] = {**chain[1]["after"], "model": "gpt-4o-mini"}
        prev = chain[0]["hash"]
        with psycopg.connect(pg_url, autocommit=True) as superuser:
            superuser.execute("SET session_replication_role = replica")
            for record in chain[1:]:
                record["prev"] = prev
                record["hash"] = prev = record_hash({k: v for k, v in record.items() if k != "hash"})
                superuser.execute("UPDATE glassbox.audit_log SET record = %s, hash = %s WHERE seq = %s",
                                  (canonical(record).decode(), record["hash"], record["seq"]))  # fmt: skip
            superuser.execute("DELETE FROM glassbox.audit_checkpoints")
            for record in chain[2::3]:
                head = {"seq": record["seq"], "hash": record["hash"], "time": time.time()}
                superuser.execute(
                    "INSERT INTO glassbox.audit_checkpoints VALUES (%s, %s, %s, %s, %s)",
                    (
                        head["seq"],
                        head["hash"],
                        head["time"],
                        key_id(key.public_key()),
                        key.sign(canonical(head)).hex(),
                    ),
                )
        re_signed = cli("audit", "verify", *trusted, cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
        assert re_signed.returncode == 0, re_signed.stdout  # the database alone cannot tell
        caught = cli(*check, cwd=tmp_path, GLASSBOX_STATE_URL=pg_url)
        assert caught.returncode == 1, caught.stdout
        assert "record 2" in caught.stdout and "rewritten" in caught.stdout
        # and the witness's copies of the checkpoints: the first one, deleted with the others, was over record 1
        assert "checkpoint 1 witnessed in Loki" in caught.stdout and "(deleted)" in caught.stdout
        assert "first bad sequence number 1" in caught.stdout
    finally:
        stack.down()


def test_the_demo_runs_two_replicas_on_one_state_and_reports_the_fleet(pg_url: str, tmp_path: Path) -> None:
    """`make demo` without the stack (collector and Prometheus are the integration tests'): two hosts, one
    budget stopping initech on both, one kill switch stopping both, one audit chain."""
    with OTLPReceiver() as receiver:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
        environment.update({
            "GLASSBOX_STATE_URL": pg_url,
            "GLASSBOX_COLLECTOR_HOST": "127.0.0.1",
            "GLASSBOX_OTLP_HTTP_PORT": receiver.endpoint.rsplit(":", 1)[1],
            "GLASSBOX_PROMETHEUS_PORT": str(free_port()),
            "GLASSBOX_COLLECTOR_HEALTH_PORT": str(free_port()),
        })  # fmt: skip
        run = subprocess.run(
            [sys.executable, str(EXAMPLES / "run_demo.py"), "--seconds", "12", "--no-stack"],
            env=environment, capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )  # fmt: skip
    out = run.stdout
    assert "Fleet (two hosts, one PostgreSQL):" in out, out[-3000:] + run.stderr[-3000:]
    refused = {host: int(n) for host, n in re.findall(r"(demo-host-[ab]): (\d+) model calls of initech refused", out)}
    assert set(refused) == {"demo-host-a", "demo-host-b"} and all(refused.values()), out
    spent = re.search(r"^  initech\s+([\d.]+)\s+[\d.]+\s+file\s+([\d.]+)", out, re.MULTILINE)
    assert spent and float(spent.group(2)) <= float(spent.group(1)), out  # within the day budget, across both
    assert out.count("answers with the canned fallback") == 2, out
    assert "kill switch off: demo-host-a answered by the model, demo-host-b answered by the model" in out
    assert re.search(r"one audit chain for both hosts: OK\s+\d+ records", out), out
