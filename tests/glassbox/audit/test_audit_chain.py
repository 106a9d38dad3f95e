"""The audit log's promises: one valid chain from many processes, every kind of tampering caught by sequence
number, a torn write reported without breaking the chain, and a cut tail caught by the signed checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glassbox.audit import store as audit_store
from glassbox.audit.chain import AuditLog, key_id, load_public_key, public_key_path, record_hash, verify
from glassbox.cli import audit as audit_cli


def new_log(directory: Path, every: int = 100) -> AuditLog:
    return AuditLog(directory / "log" / "audit.jsonl", directory / "checkpoints" / "audit.checkpoints", directory
                    / "keys" / "audit.key", checkpoint_every=every)  # fmt: skip


def check(log: AuditLog):  # type: ignore[no-untyped-def]
    return verify(log.path, log.checkpoints, load_public_key(public_key_path(log.key_path)))


def lines(log: AuditLog) -> list[bytes]:
    return [line for line in log.path.read_bytes().split(b"\n") if line]


def write_lines(log: AuditLog, records: list[bytes]) -> None:
    log.path.write_bytes(b"".join(line + b"\n" for line in records))


def test_a_chain_of_events_verifies_with_signed_checkpoints(tmp_path: Path) -> None:
    log = new_log(tmp_path, every=4)
    written = [log.append({"action": "login", "n": n}) for n in range(10)]
    assert [r["seq"] for r in written] == list(range(1, 11))
    assert written[1]["prev"] == written[0]["hash"]
    result = check(log)
    assert result.ok and result.records == 10 and result.checkpoints >= 3, result
    assert oct(log.key_path.stat().st_mode & 0o777) == "0o600"
    assert log.checkpoints.parent != log.path.parent


def test_checkpoints_signed_by_another_key_are_refused(tmp_path: Path) -> None:
    log = new_log(tmp_path / "a", every=1)
    log.append({"action": "x"})
    other = new_log(tmp_path / "b")
    other.key()
    result = verify(log.path, log.checkpoints, load_public_key(public_key_path(other.key_path)))
    assert not result.ok and "not among the trusted public keys" in result.problems[0]


def test_the_log_sets_sequence_and_hashes_itself(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="set by the log"):
        new_log(tmp_path).append({"seq": 7})


TAMPERING = st.sampled_from(["edit", "delete", "insert", "reorder", "truncate", "rechain"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(3, 25), kind=TAMPERING, data=st.data())
def test_every_kind_of_tampering_is_caught_at_its_sequence_number(
    tmp_path_factory: pytest.TempPathFactory, size: int, kind: str, data: st.DataObject
) -> None:
    log = new_log(tmp_path_factory.mktemp("audit"), every=1)
    log.fsync = False
    for n in range(size):
        log.append({"action": "change", "n": n, "actor": {"id": f"user-{n}"}})
    records = lines(log)
    i = data.draw(st.integers(1, size - 1), label="position")  # a 1-based sequence number, not the last
    if kind == "edit":
        record = json.loads(records[i - 1])
        record["action"] = "something else"
        records[i - 1] = json.dumps(record).encode()
        expected = i
    elif kind == "delete":
        del records[i - 1]
        expected = i
    elif kind == "insert":
        records.insert(i, records[i - 1])
        expected = i + 1
    elif kind == "reorder":
        j = data.draw(st.integers(i + 1, size), label="other")
        records[i - 1], records[j - 1] = records[j - 1], records[i - 1]
        expected = i
    elif kind == "truncate":
        records = records[:i]
        expected = i + 1
    else:  # rewrite record i and re-hash everything after it, as someone without the signing key would
        rewritten = [json.loads(line) for line in records]
        rewritten[i - 1]["action"] = "rewritten"
        for n in range(i - 1, size):
            if n:
                rewritten[n]["prev"] = rewritten[n - 1]["hash"]
            rewritten[n]["hash"] = record_hash(rewritten[n])
        records = [json.dumps(r).encode() for r in rewritten]
        expected = i
    write_lines(log, records)
    result = check(log)
    assert not result.ok, kind
    assert result.first_bad_seq == expected, (kind, result.problems)


def _writer(path: str, n: int) -> None:
    log = AuditLog(Path(path) / "log" / "audit.jsonl", Path(path) / "checkpoints" / "audit.checkpoints",
                   Path(path) / "keys" / "audit.key", checkpoint_every=10)  # fmt: skip
    for i in range(n):
        log.append({"action": "write", "pid": os.getpid(), "i": i})


WRITER = """
import sys
sys.path[:0] = [{tests!r}]
from test_audit_chain import _writer
_writer(sys.argv[1], int(sys.argv[2]))
"""


def test_writers_in_several_processes_keep_one_valid_chain(tmp_path: Path) -> None:
    new_log(tmp_path).key()  # one key, created before the writers start
    code = WRITER.format(tests=str(Path(__file__).parent))
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), "60"]) for _ in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    log = new_log(tmp_path)
    result = check(log)
    assert result.ok and result.records == 240, result
    pids = {json.loads(line)["pid"] for line in lines(log)}
    assert len(pids) == 4


TORN_WRITER = """
import os, signal, sys
sys.path[:0] = [{tests!r}]
from test_audit_chain import _writer
real_write = os.write
def half_then_die(descriptor, data):
    real_write(descriptor, data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)
_writer(sys.argv[1], 3)
os.write = half_then_die
_writer(sys.argv[1], 1)
"""


def test_a_writer_killed_mid_append_leaves_a_chain_that_verifies_and_the_torn_record_reported(
    tmp_path: Path,
) -> None:
    code = TORN_WRITER.format(tests=str(Path(__file__).parent))
    process = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=60)
    assert process.returncode == -signal.SIGKILL
    log = new_log(tmp_path)
    torn = check(log)
    assert torn.ok and torn.records == 3 and len(torn.torn) == 1, torn
    after = log.append({"action": "next"})
    assert after["seq"] == 4
    result = check(log)
    assert result.ok and result.records == 4 and len(result.torn) == 1, result


def test_the_command_verifies_names_the_first_bad_record_and_exports_by_filter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("GLASSBOX_AUDIT_DIR", str(tmp_path / "log"))
    monkeypatch.setenv("GLASSBOX_AUDIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GLASSBOX_AUDIT_KEY_FILE", str(tmp_path / "keys" / "audit.key"))
    monkeypatch.setenv("GLASSBOX_AUDIT_CHECKPOINT_EVERY", "1")
    log = audit_store.file_log()
    for n, (tenant, action) in enumerate([("acme", "login"), ("acme", "role.change"), ("globex", "login")]):
        log.append({"time": f"2026-11-2{n}T10:00:00+00:00", "tenant": tenant, "action": action,
                    "actor": {"type": "human", "id": f"user-{n}"}})  # fmt: skip
    assert audit_cli.main(["verify"]) == 1  # nothing pinned: the signatures are not trusted
    assert "no trusted public key" in capsys.readouterr().out
    monkeypatch.setenv("GLASSBOX_AUDIT_PUBLIC_KEY", str(public_key_path(log.key_path)))
    assert audit_cli.main(["verify"]) == 0
    # the read is audited once it is done: the chain it verified did not hold its event yet
    assert "OK    4 records, 4 signed checkpoints" in capsys.readouterr().out
    assert audit_cli.main(["export", "--tenant", "acme", "--since", "2026-11-21"]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["action"] for r in exported] == ["role.change"]
    assert audit_cli.main(["export", "--actor", "user-2", "--action", "login"]) == 0
    assert [json.loads(x)["tenant"] for x in capsys.readouterr().out.splitlines()] == ["globex"]
    reads = [json.loads(line) for line in lines(log)[3:]]
    assert [(r["action"], r["outcome"]["status"]) for r in reads] == [
        ("audit.verify", "failure"), ("audit.verify", "success"), ("audit.export", "success"),
        ("audit.export", "success"),
    ]  # fmt: skip
    assert reads[2]["after"] == {"filters": {"since": "2026-11-21 00:00:00+00:00", "tenant": "acme"}, "records": 1}
    assert reads[1]["after"] == {"against_loki": False, "records": 4, "intact": True}
    assert reads[0]["actor"]["type"] == "human" and reads[0]["actor"]["id"]
    records = lines(log)
    records[1] = records[1].replace(b"role.change", b"role.delete")
    write_lines(log, records)
    assert audit_cli.main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "first bad sequence number 2" in out and "edited" in out
    assert audit_cli.main(["verify", "--public-key", str(tmp_path / "missing.pub")]) == 2


def test_a_checkpoint_is_signed_when_the_last_one_is_older_than_the_setting(tmp_path: Path) -> None:
    environ = {
        "GLASSBOX_AUDIT_DIR": str(tmp_path / "log"),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "GLASSBOX_AUDIT_KEY_FILE": str(tmp_path / "key"),
        "GLASSBOX_AUDIT_CHECKPOINT_SECONDS": "0.2",
    }
    log = audit_store.file_log(environ)
    assert log.checkpoint_every == 100 and log.checkpoint_seconds == 0.2
    for _ in range(3):  # the first append signs (no checkpoint yet); the next two come within 0.2 s
        log.append({"action": "login"})
    time.sleep(0.3)
    log.append({"action": "logout"})
    assert len(log.checkpoints.read_text().splitlines()) == 2


def test_checkpoints_of_the_format_before_still_verify(tmp_path: Path) -> None:
    """Checkpoints written before they stated their cadence: seq, hash and time (and maybe key_id), signed over
    the first three."""
    from glassbox.audit.chain import canonical

    log = new_log(tmp_path, every=4)
    for n in range(9):
        log.append({"action": "login", "n": n})
    key = log.key()
    old = []
    for record in [json.loads(line) for line in lines(log)]:
        if record["seq"] in (1, 4, 8):
            head = {"seq": record["seq"], "hash": record["hash"], "time": 1764500000.0 + record["seq"]}
            old.append({**head, "signature": key.sign(canonical(head)).hex()})
    old[1]["key_id"] = key_id(key.public_key())  # as the central log wrote them
    log.checkpoints.write_bytes(b"".join(canonical(checkpoint) + b"\n" for checkpoint in old))
    result = check(log)
    assert result.ok and result.checkpoints == 3, result.problems
    old[2].update(every=4, key_id=key_id(key.public_key()))  # fields the signature did not cover: it fails
    log.checkpoints.write_bytes(b"".join(canonical(checkpoint) + b"\n" for checkpoint in old))
    assert "bad signature" in " ".join(check(log).problems)


@pytest.mark.parametrize("new_every", [3, 25])
def test_a_changed_checkpoint_setting_causes_no_false_failure(tmp_path: Path, new_every: int) -> None:
    first = new_log(tmp_path, every=10)
    for n in range(34):
        first.append({"action": "login", "n": n})
    later = new_log(tmp_path, every=new_every)  # a restart with another GLASSBOX_AUDIT_CHECKPOINT_EVERY
    for n in range(60):
        later.append({"action": "login", "n": n})
    public = load_public_key(public_key_path(first.key_path))
    for setting in (10, new_every, 1000):
        result = verify(first.path, first.checkpoints, public, every=setting)
        assert result.ok and result.records == 94, (setting, result.problems)


def test_processes_with_different_settings_writing_together_keep_the_cadence(tmp_path: Path) -> None:
    often, seldom = new_log(tmp_path, every=3), new_log(tmp_path, every=50)
    for n in range(120):
        (often if n % 7 == 0 else seldom).append({"action": "login", "n": n})
    assert check(often).ok, check(often).problems


def test_the_central_log_s_contract_sign_and_check(tmp_path: Path) -> None:
    """What the fleet's log uses: sign_checkpoint, and check_checkpoints on rows (``every`` None: the old format)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from glassbox.audit.chain import Verification, check_chain, check_checkpoints, sign_checkpoint

    key = Ed25519PrivateKey.generate()
    log = new_log(tmp_path, every=1000)
    chain = [log.append({"action": "x", "n": n}) for n in range(7)]
    signed = sign_checkpoint(key, 3, chain[2]["hash"], every=3, at=1764500000.0)
    assert set(signed) == {"seq", "hash", "time", "every", "key_id", "signature"} and signed["every"] == 3
    assert signed["key_id"] == key_id(key.public_key()) and signed["time"] == 1764500000.0
    keys = {key_id(key.public_key()): key.public_key()}
    rows = [("checkpoint 3", signed), ("checkpoint 6", sign_checkpoint(key, 6, chain[5]["hash"], every=3))]
    result = Verification()
    check_checkpoints(result, rows, keys, check_chain(result, [(f"row {r['seq']}", r) for r in chain]), every=3)
    assert result.ok and result.checkpoints == 2, result.problems
    result = Verification()  # the first checkpoint gone: records 1 to 5 have none, though 3 is promised
    check_checkpoints(result, rows[1:], keys, check_chain(result, [(f"row {r['seq']}", r) for r in chain]), every=3)
    assert result.first_bad_seq == 3, result.problems
