"""The audit trail under attack: each test is an attacker's (or a careless operator's) move on the host's audit
files, keys or spool, and the refusal or detection expected.

The log is the real file log (glassbox.audit.chain) written by ``glassbox.audit``; ``glassbox audit verify`` runs
as the command (in this process, or as a subprocess where the command's own process matters). Loki cannot run
here: what ``--against-loki`` reads is served by a small HTTP server answering Loki's ``query_range`` API with the
copies the app really emitted (the in-memory OTel exporter's records), shaped exactly as Loki returns them. The
same move against a real Loki runs where its binary is installed.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import glassbox
from glassbox import conventions as c
from glassbox.audit import events as audit_events
from glassbox.audit import loki
from glassbox.audit.chain import (
    AuditLog,
    Verification,
    event_digest,
    fingerprint,
    load_public_key,
    public_key_path,
    record_hash,
    sign_checkpoint,
)
from glassbox.audit.spool import waiting
from glassbox.cli import audit as audit_cli
from glassbox.stack_addresses import Endpoints
from tests.conftest import Telemetry, instrumented_env
from tests.support.binaries import requires

EVERY = 5


# --------------------------------------------------------------------------- the host and its files
def host_env(directory: Path, every: int = EVERY) -> dict[str, str]:
    return {
        "GLASSBOX_AUDIT_DIR": str(directory / "audit"),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(directory / "audit-checkpoints"),
        "GLASSBOX_AUDIT_KEY_FILE": str(directory / "keys" / "audit.key"),
        "GLASSBOX_AUDIT_SPOOL_DIR": str(directory / "audit-spool"),
        "GLASSBOX_AUDIT_CHECKPOINT_EVERY": str(every),
    }


def host_log(directory: Path, every: int = EVERY) -> AuditLog:
    return AuditLog(
        directory / "audit" / "audit.jsonl",
        directory / "audit-checkpoints" / "audit.checkpoints",
        directory / "keys" / "audit.key",
        checkpoint_every=every,
    )


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditLog]:
    """The host's settings point at the test's directory, and ``glassbox.audit`` writes there."""
    for name, value in host_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GLASSBOX_AUDIT_PUBLIC_KEY", raising=False)
    audit_events.use_log(None)
    yield host_log(tmp_path)
    audit_events.use_log(None)


def pin(log: AuditLog) -> str:
    """The fingerprint an operator pins, taken once when the host was set up."""
    return fingerprint(load_public_key(public_key_path(log.key_path)))


def lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line] if path.exists() else []


def records(log: AuditLog) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(log.path)]


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(json.dumps(row).encode() + b"\n" for row in rows))


def rehash(rows: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """Number and chain ``rows`` again from index ``start``, as someone who can edit the file does."""
    for index in range(start, len(rows)):
        rows[index]["seq"] = index + 1
        rows[index]["prev"] = rows[index - 1]["hash"] if index else "0" * 64
        rows[index]["hash"] = record_hash(rows[index])
    return rows


def command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``glassbox audit ...`` as a command of its own, with only the settings given."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    environment.update({"OTEL_SDK_DISABLED": "true", **env})
    run = [sys.executable, "-m", "glassbox.cli", "audit", *args]
    return subprocess.run(run, env=environment, capture_output=True, text=True, timeout=120)


def audit_events_written(count: int) -> list[dict[str, Any]]:
    return [glassbox.audit("config.change", actor="admin-1", after={"n": n}) for n in range(count)]


# --------------------------------------------------------------------------- checkpoints and the chain
@pytest.mark.parametrize("move", ["file deleted", "file emptied", "last checkpoints cut", "a middle checkpoint cut"])
def test_checkpoints_removed_with_records_past_them_fail_and_stay_failed(
    host: AuditLog, move: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_events_written(23)  # checkpoints at 1, 5, 10, 15 and 20
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", pin(host))
    signed = lines(host.checkpoints)
    assert [json.loads(line)["seq"] for line in signed] == [1, 5, 10, 15, 20]
    if move == "file deleted":
        host.checkpoints.unlink()
    elif move == "file emptied":
        host.checkpoints.write_bytes(b"")
    elif move == "last checkpoints cut":
        host.checkpoints.write_bytes(b"".join(line + b"\n" for line in signed[:3]))
    else:
        host.checkpoints.write_bytes(b"".join(line + b"\n" for line in signed[:2] + signed[3:]))
    expected = {"file deleted": 5, "file emptied": 5, "last checkpoints cut": 15, "a middle checkpoint cut": 10}[move]
    for _ in range(2):  # the verify records its reading afterwards: that must not make the next one pass
        assert audit_cli.main(["verify"]) == 1
        out = capsys.readouterr().out
        assert f"first bad sequence number {expected}" in out and "no signed checkpoint" in out, out
    audit_events_written(7)  # the app goes on writing: its checkpoints sign the head, never the missing past
    assert audit_cli.main(["verify"]) == 1
    assert f"first bad sequence number {expected}" in capsys.readouterr().out


def test_a_record_deleted_and_the_chain_re_hashed_fails_the_verify_command(host: AuditLog) -> None:
    audit_events_written(12)  # checkpoints at 1, 5 and 10
    env = {**host_env(host.path.parent.parent), "GLASSBOX_AUDIT_PUBLIC_KEY": pin(host)}
    assert command("verify", env=env).returncode == 0
    # The attacker removes record 7 (no key needed), chains the rest again, and drops the checkpoint that no
    # longer matches (10).
    rows = records(host)
    del rows[6]
    write(host.path, rehash(rows, 6))
    signed = [json.loads(line) for line in lines(host.checkpoints)]
    write(host.checkpoints, [checkpoint for checkpoint in signed if checkpoint["seq"] < 7])
    for _ in range(2):  # the command's own audit event, written after it verified, changes nothing
        result = command("verify", env=env)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "first bad sequence number 10" in result.stdout, result.stdout
    assert json.loads(lines(host.path)[-1])["action"] == "audit.verify"


@pytest.mark.parametrize("pinned_as", ["PEM text", "fingerprint"])
def test_both_key_files_replaced_and_the_chain_re_signed_fail_against_the_pinned_key(
    host: AuditLog, pinned_as: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_events_written(12)
    operator_copy = public_key_path(host.key_path).read_text()  # kept off the host when it was set up
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", operator_copy if pinned_as == "PEM text" else pin(host))
    assert audit_cli.main(["verify"]) == 0
    capsys.readouterr()
    # The attacker replaces the private key and its .pub with their own, rewrites record 3, re-hashes the chain
    # and re-signs every checkpoint.
    theirs = Ed25519PrivateKey.generate()
    host.key_path.write_bytes(
        theirs.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_key_path(host.key_path).write_bytes(
        theirs.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    rows = records(host)
    rows[2]["after"] = {"n": 999}
    rows = rehash(rows, 2)
    write(host.path, rows)
    write(host.checkpoints, [sign_checkpoint(theirs, r["seq"], r["hash"], EVERY) for r in rows if r["seq"] % 5 == 0])
    assert audit_cli.main(["verify"]) == 1
    out = capsys.readouterr().out
    expected = "not among the trusted public keys" if pinned_as == "PEM text" else "match no public key found"
    assert expected in out, out


def test_the_fingerprint_command_names_the_key_to_pin_and_a_rotation_pins_two(
    host: AuditLog, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_events_written(6)
    capsys.readouterr()
    assert audit_cli.main(["fingerprint"]) == 0
    printed = capsys.readouterr().out.split()[0]
    assert printed == pin(host)
    # During a key rotation the operator pins the old and the new key; the "sha256:" form is accepted as well.
    new = Ed25519PrivateKey.generate().public_key()
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", f"{fingerprint(new)}, sha256:{printed.upper()}")
    assert audit_cli.main(["verify"]) == 0
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", f"sha256:{fingerprint(new)}")
    assert audit_cli.main(["verify"]) == 1, "the host's key is no longer pinned"
    assert audit_cli.main(["fingerprint", "not-a-key"]) == 2
    assert "neither PEM text, nor SHA-256 fingerprints" in capsys.readouterr().err


def test_a_writer_whose_key_is_not_pinned_refuses_to_sign(
    host: AuditLog, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    other = Ed25519PrivateKey.generate()
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", fingerprint(other.public_key()))
    unsigned = telemetry.total(c.METRIC_TELEMETRY_DROPPED, signal="audit", reason="checkpoint_unsigned")
    with caplog.at_level(logging.ERROR, logger="glassbox"):
        written = [host.append({"action": "login", "n": n}) for n in range(12)]
    assert [r["seq"] for r in written] == list(range(1, 13))  # the records are written...
    assert lines(host.checkpoints) == [] and not host.key_path.exists()  # ...but no key is made, nothing signed
    assert telemetry.total(c.METRIC_TELEMETRY_DROPPED, signal="audit", reason="checkpoint_unsigned") > unsigned
    refusals = [r.getMessage() for r in caplog.records if "not signed" in r.getMessage()]
    assert len(refusals) == 1 and "GLASSBOX_AUDIT_PUBLIC_KEY" in refusals[0], refusals
    # The host has a key of its own, which is not the pinned one: it refuses to sign with it too.
    host.key_path.parent.mkdir(mode=0o700)
    host.key_path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    host.key_path.chmod(0o600)
    restarted = host_log(host.path.parent.parent)
    assert [restarted.append({"action": "login"})["seq"] for _ in range(6)] == list(range(13, 19))
    assert lines(host.checkpoints) == []


# --------------------------------------------------------------------------- the witness: Loki
def loki_answer(logs: list[Any], start_ns: int, end_ns: int) -> dict[str, Any]:
    """Loki's ``query_range`` answer (with ``categorize-labels``) for the audit stream: the records the collector
    routes there, their attributes as structured metadata named as Loki names them, their bodies as lines."""
    values = []
    for data in logs:
        record = data.log_record
        attributes = dict(record.attributes or {})
        if attributes.get("event.name") not in c.AUDIT_STREAM_EVENT_NAMES:
            continue
        timestamp = record.timestamp or record.observed_timestamp
        if not start_ns <= timestamp <= end_ns:
            continue
        metadata = {c.loki_field(name): str(value) for name, value in attributes.items()}
        if record.trace_id:
            metadata[c.LOKI_TRACE_ID_FIELD] = format(record.trace_id, "032x")
        values.append([str(timestamp), str(record.body), {"structuredMetadata": metadata}])
    stream = {"service_name": "unknown_service", "deployment_environment_name": "test", "glassbox_stream": "audit"}
    return {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [{"stream": stream, "values": sorted(values, key=lambda v: int(v[0]))}] if values else [],
            "stats": {},
            "encodingFlags": ["categorize-labels"],
        },
    }


class StubLoki:
    """Loki's query API on a loopback port, answering from ``source`` (the copies the app emitted so far)."""

    def __init__(self, source: Callable[[], list[Any]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path != "/loki/api/v1/query_range":
                    self.send_error(404)
                    return
                body = json.dumps(loki_answer(source(), int(query["start"][0]), int(query["end"][0]))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubLoki:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def against_loki(url: str) -> list[str]:
    return ["verify", "--against-loki", "--loki", url, "--grace", "0"]


@pytest.mark.parametrize("move", ["records and the checkpoint after them cut", "chain re-signed with the stolen key"])
def test_what_the_host_cannot_see_the_witness_catches(
    host: AuditLog,
    telemetry: Telemetry,
    move: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit_events_written(13)  # checkpoints at 1, 5 and 10, each sent to the witness too
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", pin(host))
    rows = records(host)
    signed = [json.loads(line) for line in lines(host.checkpoints)]
    if move == "records and the checkpoint after them cut":  # fewer than `every` after the checkpoint that stays
        write(host.path, rows[:8])
        write(host.checkpoints, [checkpoint for checkpoint in signed if checkpoint["seq"] <= 8])
        found = ["checkpoint 10 witnessed in Loki", "tail cut", "is in Loki but not in the chain (removed)"]
    else:
        key = host.key()
        rows[3]["after"] = {"n": "rewritten"}
        rows = rehash(rows, 3)
        write(host.path, rows)
        write(host.checkpoints, [sign_checkpoint(key, s["seq"], rows[s["seq"] - 1]["hash"], EVERY) for s in signed])
        found = ["checkpoint 5 witnessed in Loki", "chain rewritten", "record 4", "differs from the copy"]
    assert audit_cli.main(["verify"]) == 0  # the host alone cannot tell
    assert "OK    " in capsys.readouterr().out
    with StubLoki(telemetry.logs.get_finished_logs) as stub:
        assert audit_cli.main(against_loki(stub.url)) == 1
    out = capsys.readouterr().out
    for text in found:
        assert text in out, out


def test_events_that_waited_in_a_spool_and_were_cut_after_they_entered_the_chain_are_caught(
    host: AuditLog, telemetry: Telemetry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spooled event's copy is sent without a sequence number; once chained, a copy with it follows, so
    cutting it from the chain later is seen."""
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-open")
    audit_events_written(6)  # checkpoints at 1 and 5
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", pin(host))
    away = host.path.parent.with_name("audit-away")
    host.path.parent.rename(away)
    host.path.parent.write_text("")  # the log's directory is gone: events wait in the spool
    spooled = audit_events_written(3)
    assert all("seq" not in event for event in spooled)
    host.path.parent.unlink()
    away.rename(host.path.parent)
    deadline = time.monotonic() + 30
    while len(records(host)) < 9 and time.monotonic() < deadline:
        time.sleep(0.2)  # the drainer moves them; nothing else is written meanwhile
    assert [r["id"] for r in records(host)[6:]] == [e["id"] for e in spooled]
    write(host.path, records(host)[:6])  # the three drained records cut: fewer than `every`, no checkpoint
    assert audit_cli.main(["verify"]) == 0
    capsys.readouterr()
    with StubLoki(telemetry.logs.get_finished_logs) as stub:
        assert audit_cli.main(against_loki(stub.url)) == 1
    out = capsys.readouterr().out
    for event in spooled:
        assert f"event {event['id']}" in out and "not in the chain (removed)" in out, out


def copy(event_id: str, digest: str | None, seq: int | None) -> dict[str, str]:
    fields = {c.loki_field(c.AUDIT_EVENT_ID): event_id, "event_name": c.AUDIT_EVENT_NAME}
    if digest is not None:
        fields[c.loki_field(c.AUDIT_DIGEST)] = digest
    if seq is not None:
        fields[c.loki_field(c.AUDIT_SEQUENCE)] = str(seq)
    return fields


def compared(rows: list[dict[str, Any]], copies: list[dict[str, str]]) -> Verification:
    """The chain of ``rows`` compared with ``copies``, given as Loki's query API returns them."""
    now = time.time_ns()
    answer = {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [
                {
                    "stream": {"glassbox_stream": "audit", "service_name": "app"},
                    "values": [[str(now + n), "{}", {"structuredMetadata": f}] for n, f in enumerate(copies)],
                }
            ],
            "encodingFlags": ["categorize-labels"],
        },
    }
    stream = loki.Stream()
    loki.add_page(stream, answer)
    result = Verification(records=len(rows), last_seq=len(rows))
    loki.compare(result, rows, stream, grace=0)
    return result


@pytest.mark.parametrize(
    "move",
    [
        "a second copy with another digest",
        "a copy without a digest",
        "no copy with the sequence number",
        "a second copy with another sequence number",
    ],
)
def test_copies_in_loki_must_all_agree_with_the_record(move: str) -> None:
    rows = rehash([{"id": f"e{n}", "action": "login", "time": "2026-12-01T10:00:00+00:00"} for n in range(3)])
    good = [copy(r["id"], event_digest(r), r["seq"]) for r in rows]
    assert compared(rows, good).ok
    target = rows[1]
    if move == "a second copy with another digest":
        copies = [*good, copy(target["id"], "0" * 64, target["seq"])]
    elif move == "a copy without a digest":
        copies = [good[0], copy(target["id"], None, target["seq"]), good[2]]
    elif move == "no copy with the sequence number":
        copies = [good[0], copy(target["id"], event_digest(target), None), good[2]]
    else:
        copies = [*good, copy(target["id"], event_digest(target), 7)]
    result = compared(rows, copies)
    assert not result.ok and result.first_bad_seq == 2, result.problems


@requires("loki")
def test_a_cut_tail_is_caught_against_a_real_loki(tmp_path: Path) -> None:
    """The app's copies and checkpoints go through the real collector into a real Loki; the tail and its
    checkpoint are cut from the host's files; the host alone cannot tell, Loki can."""
    from tests.support.stack_fixtures import new_stack, otlp_http, wait_for

    stack = new_stack(tmp_path / "stack")
    try:
        stack.up(["prometheus", "loki", "collector"])
        env = host_env(tmp_path / "host")
        script = "import glassbox\nfor n in range(13):\n    glassbox.audit('config.change', after={'n': n})\n"
        environment = instrumented_env(**env, OTEL_EXPORTER_OTLP_ENDPOINT=otlp_http(stack), OTEL_SERVICE_NAME="audited")
        app = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, "-c", script]
        subprocess.run(app, env=environment, check=True, timeout=120, cwd=tmp_path)
        log = host_log(tmp_path / "host")
        url = Endpoints.from_environ(stack.env).loki

        def everything_in_loki() -> bool:
            stream = loki.read_stream(url, time.time() - 3600, time.time() + 60)
            return len(stream.copies) >= 13 and len(stream.checkpoints) >= 3

        wait_for(everything_in_loki, timeout=90, what="the copies and checkpoints in Loki")
        env["GLASSBOX_AUDIT_PUBLIC_KEY"] = pin(log)
        write(log.path, records(log)[:8])
        write(log.checkpoints, [json.loads(line) for line in lines(log.checkpoints) if json.loads(line)["seq"] <= 8])
        assert command("verify", env=env).returncode == 0
        caught = command(*against_loki(url), env=env)
        assert caught.returncode == 1, caught.stdout + caught.stderr
        assert "checkpoint 10 witnessed in Loki" in caught.stdout and "tail cut" in caught.stdout, caught.stdout
    finally:
        stack.down()


# --------------------------------------------------------------------------- private files
@pytest.mark.parametrize("mode", ["fail-open", "fail-closed"])
def test_a_symlinked_audit_directory_is_refused(
    host: AuditLog, telemetry: Telemetry, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", mode)
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    host.path.parent.symlink_to(elsewhere)  # planted before the app first writes
    failures = telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES)
    if mode == "fail-closed":
        with pytest.raises(glassbox.AuditRefused, match="symbolic link"):
            glassbox.audit("role.change", actor="admin-1")
    else:
        assert "seq" not in glassbox.audit("role.change", actor="admin-1")  # waits in the spool instead
    assert list(elsewhere.iterdir()) == []
    assert telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES) == failures + 1


def test_a_symlinked_log_file_is_refused(host: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-closed")
    target = tmp_path / "some-other-file"
    target.write_text("precious\n")
    host.path.parent.mkdir(mode=0o700)
    host.path.symlink_to(target)
    with pytest.raises(glassbox.AuditRefused, match="symbolic link"):
        glassbox.audit("role.change", actor="admin-1")
    assert target.read_text() == "precious\n"


def _as_another_user(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a directory another user's needs root")
    os.chown(path, 65534, 65534)


@pytest.mark.parametrize("move", ["world-writable", "owned by another user"])
def test_a_pre_created_unsafe_audit_directory_is_refused(
    host: AuditLog, telemetry: Telemetry, move: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-closed")
    host.path.parent.mkdir(mode=0o700)
    if move == "world-writable":
        host.path.parent.chmod(0o777)
    else:
        _as_another_user(host.path.parent)
    failures = telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES)
    expected = "writable by its group or by others" if move == "world-writable" else "owned by uid 65534"
    with pytest.raises(glassbox.AuditRefused, match=expected):
        glassbox.audit("role.change", actor="admin-1")
    assert not host.path.exists()
    assert telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES) == failures + 1


def test_what_glassbox_creates_is_private(host: AuditLog, tmp_path: Path) -> None:
    glassbox.audit("role.change", actor="admin-1")
    created = (host.path.parent, host.path, host.checkpoints.parent, host.checkpoints)
    created += (host.key_path.parent, host.key_path)
    modes = {path.relative_to(tmp_path).as_posix(): oct(path.stat().st_mode & 0o777) for path in created}
    assert modes == {
        "audit": "0o700",
        "audit/audit.jsonl": "0o640",
        "audit-checkpoints": "0o700",
        "audit-checkpoints/audit.checkpoints": "0o640",
        "keys": "0o700",
        "keys/audit.key": "0o600",
    }


@pytest.mark.parametrize("move", ["world-writable", "owned by another user"])
def test_a_spool_file_planted_by_someone_else_never_enters_the_chain(host: AuditLog, tmp_path: Path, move: str) -> None:
    spool_dir = tmp_path / "audit-spool"
    spool_dir.mkdir(mode=0o700)
    planted = spool_dir / "spool-1-planted.jsonl"
    planted.write_text(json.dumps({"id": "forged", "action": "refund.issue", "actor": {"id": "ceo"}}) + "\n")
    if move == "world-writable":
        planted.chmod(0o666)
    else:
        _as_another_user(planted)
    glassbox.audit("service.start")  # the first event sweeps the spool directory
    assert [r["action"] for r in records(host)] == ["service.start"]
    assert planted.exists()


# --------------------------------------------------------------------------- who ran the command
def test_logname_and_user_do_not_change_who_ran_the_command(tmp_path: Path) -> None:
    env = host_env(tmp_path)
    log = host_log(tmp_path)
    log.append({"action": "login"})
    spoofed = {**env, "LOGNAME": "ceo", "USER": "ceo", "USERNAME": "ceo", "SUDO_USER": "mallory"}
    assert command("export", env=spoofed).returncode == 0
    reading = records(log)[-1]
    account = pwd.getpwuid(os.getuid()).pw_name
    assert reading["action"] == "audit.export"
    assert reading["actor"]["id"] == account != "ceo"
    assert reading["actor"]["name"] == f"{account} via sudo from mallory"


# --------------------------------------------------------------------------- the spool drains by itself
def test_a_spool_drains_by_itself_after_the_log_comes_back(
    host: AuditLog, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-open")
    glassbox.audit("service.start")
    away = host.path.parent.with_name("audit-away")
    host.path.parent.rename(away)
    host.path.parent.write_text("")  # the log cannot be written
    spooled = audit_events_written(3)
    assert all("seq" not in event for event in spooled) and waiting(host.path.parent.with_name("audit-spool")) == 3
    host.path.parent.unlink()
    away.rename(host.path.parent)  # the log answers again; the app writes nothing more
    deadline = time.monotonic() + 30
    while len(records(host)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    chained = records(host)
    assert [r["id"] for r in chained[1:]] == [e["id"] for e in spooled] and [r["seq"] for r in chained] == [1, 2, 3, 4]
    assert waiting(host.path.parent.with_name("audit-spool")) == 0
    assert telemetry.total(c.METRIC_AUDIT_SPOOLED) == 0
    # Each spooled event was sent without a sequence number when it happened, and with it, naming its chain,
    # once chained.
    copies: dict[str, list[Any]] = {}
    for data in telemetry.logs.get_finished_logs():
        attributes = dict(data.log_record.attributes or {})
        if attributes.get("event.name") == c.AUDIT_EVENT_NAME:
            sent = (attributes.get(c.AUDIT_SEQUENCE), attributes.get(c.AUDIT_CHAIN))
            copies.setdefault(str(attributes[c.AUDIT_EVENT_ID]), []).append(sent)
    chain = chained[0]["hash"][:32]
    assert [copies[e["id"]][1:] for e in spooled] == [[(2, chain)], [(3, chain)], [(4, chain)]]
    assert [copies[e["id"]][0][0] for e in spooled] == [None, None, None]
