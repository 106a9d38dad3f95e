"""glassbox.settings: one typed constant per GLASSBOX_* variable, the only way the package reads one."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from glassbox import settings
from tests.conftest import ROOT, run_instrumented, state_env

PACKAGE = ROOT / "instrumentation" / "src" / "glassbox"


def test_each_setting_is_a_module_constant_named_after_its_variable() -> None:
    constants = {name: value for name, value in vars(settings).items() if isinstance(value, settings.Setting)}
    assert constants == {s.env.removeprefix("GLASSBOX_"): s for s in settings.SETTINGS}
    assert len({s.env for s in settings.SETTINGS}) == len(settings.SETTINGS)


@pytest.mark.parametrize("setting", settings.SETTINGS, ids=lambda s: s.env)
def test_the_default_parses_and_an_empty_default_belongs_to_a_text_setting(setting: settings.Setting[object]) -> None:
    if setting.default:
        setting.parse(setting.default)
    else:
        assert setting.get({}) == ""
        # a text setting: whatever it accepts is text, so "" (none) has the setting's own type
        sample = {"GLASSBOX_CLIENT_ADDRESS_HEADER": "x-forwarded-for", "GLASSBOX_LOG_LEVEL": "info"}
        assert isinstance(setting.parse(sample.get(setting.env, "value")), str)


def test_malformed_setting_falls_back_to_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings.MAX_TENANTS.get({"GLASSBOX_MAX_TENANTS": "lots"}) == 100
    assert settings.TENANT_HEADER.get({"GLASSBOX_TENANT_HEADER": "bad header!"}) == "x-tenant-id"
    assert settings.LOG_FORMAT.get({"GLASSBOX_LOG_FORMAT": "JSON"}) == "json"
    assert settings.KILL_SWITCH.get({"GLASSBOX_KILL_SWITCH": "maybe"}) is False
    assert "ignoring GLASSBOX_MAX_TENANTS='lots'" in capsys.readouterr().err


def test_a_value_is_read_from_the_environment_at_each_get(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_GUARDRAIL_MODE", "monitor")
    assert settings.GUARDRAIL_MODE.get() == "monitor"
    monkeypatch.setenv("GLASSBOX_GUARDRAIL_MODE", "OFF")
    assert settings.GUARDRAIL_MODE.get() == "off"
    monkeypatch.delenv("GLASSBOX_GUARDRAIL_MODE")
    assert settings.GUARDRAIL_MODE.get() == "enforce"
    assert os.environ.get("GLASSBOX_GUARDRAIL_MODE") is None


# A value no parser but plain text accepts: not a number, a choice, a boolean or a header name.
MALFORMED = "!bad value"
# The app under opentelemetry-instrument: a model call (the guard reads its settings) and an audit event (the audit
# log reads its own), with a line on stderr before the first, so the test sees what was reported when.
APP_READING_EVERY_SETTING = """
import os
import sys
import openai
import glassbox

sys.stderr.write("APP: first request\\n")
sys.stderr.flush()
client = openai.OpenAI(base_url=os.environ["LLM_BASE_URL"] + "/v1", api_key="sk-test", max_retries=0)
client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
glassbox.audit("settings.check")
sys.stderr.write("APP: done\\n")
"""


def test_every_malformed_setting_is_reported_once_at_start_up(stub_url: str, tmp_path: Path) -> None:
    malformed = [s.env for s in settings.SETTINGS if s.parse is not str]
    # among them the ones read only by a model call or an audit event
    assert {"GLASSBOX_GUARDRAIL_MODE", "GLASSBOX_AUDIT_MODE", "GLASSBOX_AUDIT_CHECKPOINT_EVERY"} <= set(malformed)
    bad = dict.fromkeys(malformed, MALFORMED)
    result = run_instrumented(APP_READING_EVERY_SETTING, tmp_path, LLM_BASE_URL=stub_url, **state_env(tmp_path), **bad)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "APP: done" in result.stderr, result.stderr[-4000:]
    before_the_app, _, after = result.stderr.partition("APP: first request")
    for env in malformed:
        report = f"glassbox: ignoring {env}={MALFORMED!r}"
        assert before_the_app.count(report) == 1, (env, result.stderr[-4000:])
        assert report not in after, (env, after[-4000:])


def test_readme_settings_table_matches_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings.markdown_table() in readme, "regenerate with `make docs`"


def _string_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """Calls that read a GLASSBOX_* setting by a string: settings.get("…"), environ.get("…"), environ["…"]."""
    names = {s.env for s in settings.SETTINGS}
    found = []
    for node in ast.walk(tree):
        by_get = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
        if by_get and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in names:
            found.append((node.lineno, node.args[0].value))
        by_key = isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
        if by_key and isinstance(node.slice, ast.Constant) and node.slice.value in names:
            found.append((node.lineno, node.slice.value))
    return found


def test_no_module_reads_a_setting_by_its_name() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): reads
        for path in PACKAGE.rglob("*.py")
        if path.name != "settings.py" and (reads := _string_reads(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_scan_finds_a_read_by_name() -> None:
    code = 'import os\nfrom glassbox import settings\nsettings.get("GLASSBOX_MAX_TENANTS")\n'
    code += 'os.environ["GLASSBOX_AUDIT_DIR"]\n'
    assert _string_reads(ast.parse(code)) == [(3, "GLASSBOX_MAX_TENANTS"), (4, "GLASSBOX_AUDIT_DIR")]
    assert not re.search(r"\bdef get\(", (PACKAGE / "settings.py").read_text().split("class Setting")[0])


def test_settings_imports_no_glassbox_module() -> None:
    tree = ast.parse((PACKAGE / "settings.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("glassbox")]
