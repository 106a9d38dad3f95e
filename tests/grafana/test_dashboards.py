"""The committed dashboards: current with their code, every query valid, every name from glassbox.conventions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from glassbox import conventions as c
from grafana import generate, slos
from grafana.panels import Panel, Query
from tests.support.dashboard_queries import (
    dashboards,
    panels,
    queries,
    selector_metric,
    selectors,
    substitute,
)

EXPECTED = {
    "glassbox-home",
    "glassbox-slos",
    "glassbox-system-health",
    "glassbox-llm-cost",
    "glassbox-pipeline",
    "glassbox-tenant",
    "glassbox-audit",
    "glassbox-telemetry-pipeline",
    "glassbox-conversations",
    "glassbox-prompt-versions",
}


def test_generated_files_are_current() -> None:
    assert generate.stale(generate.outputs()) == [], "run `python -m grafana.generate` and commit the result"


def test_the_check_mode_names_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = generate.outputs()
    path = next(iter(files))
    original = path.read_text()
    try:
        path.write_text(original.replace('"title"', '"tittle"', 1))
        assert generate.main(["--check"]) == 1
        assert path.name in capsys.readouterr().out
    finally:
        path.write_text(original)
    assert generate.main(["--check"]) == 0


def test_the_dashboards_are_there_with_unique_uids_in_the_glassbox_folder() -> None:
    boards = dashboards()
    assert {board["uid"] for board in boards.values()} == EXPECTED
    assert {name for name in boards} == EXPECTED
    provider = yaml.safe_load((generate.ROOT / "grafana/provisioning/dashboards/glassbox.yaml").read_text())
    (entry,) = provider["providers"]
    assert entry["folder"] == "Glassbox"


def test_every_panel_has_a_unit_a_description_and_a_query() -> None:
    for name, board in dashboards().items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in panels(board):
            where = f"{name} / {panel['title']}"
            assert panel["description"].strip() and "\n" not in panel["description"], where
            assert panel["fieldConfig"]["defaults"]["unit"], where
            assert panel.get("targets") or panel["type"] == "alertlist", where
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, where


def test_a_panel_mixing_datasources_is_refused() -> None:
    from grafana.panels import LogQuery

    with pytest.raises(ValueError, match="mixes datasources"):
        Panel("timeseries", "t", "d", "s", [Query("up{}"), LogQuery('{service_name="x"}')]).to_json(1, 0, 0)


def test_template_variables_where_they_apply() -> None:
    variables = {name: {v["name"] for v in board["templating"]["list"]} for name, board in dashboards().items()}
    for name in EXPECTED:
        assert {"env", "service"} <= variables[name], name
    for name in ("glassbox-llm-cost", "glassbox-pipeline", "glassbox-tenant", "glassbox-audit"):
        assert "tenant" in variables[name], name
    assert "model" in variables["glassbox-llm-cost"]
    assert {"actor", "action", "resource"} <= variables["glassbox-audit"]


def test_latency_and_cost_panels_link_to_traces_through_exemplars() -> None:
    cost = c.PROMETHEUS_NAMES[c.METRIC_COST]
    exemplar_cost = False
    for query in queries():
        target = query.target
        if query.language != "promql" or "expr" not in target:
            continue
        if "histogram_quantile" in query.expr and "seconds_bucket" in query.expr:
            assert target["exemplar"], f"{query.where}: a latency quantile without exemplars"
        exemplar_cost |= cost in query.expr and target.get("exemplar", False)
    assert exemplar_cost, "no cost panel shows exemplars"


def _recorded() -> tuple[set[str], set[str]]:
    """The series the SLO recording rules record (grafana/slos.py) and the labels they add."""
    rules = [rule for group in slos.recording_rules()["groups"] for rule in group["rules"]]
    return {rule["record"] for rule in rules}, {label for rule in rules for label in rule.get("labels", {})}


def _known_metrics() -> set[str]:
    known = {"up", "target_info", c.PROMETHEUS_CANARY_TIMESTAMP, *c.COLLECTOR_METRICS, *_recorded()[0]}
    for name in c.PROMETHEUS_NAMES.values():
        known |= {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return known


def test_every_selector_names_a_metric_from_the_conventions_module() -> None:
    known = _known_metrics()
    for query in queries():
        if query.language != "promql":
            continue
        found = selectors(query.expr)
        assert found, f"{query.where}: no selector in {query.expr}"
        for selector in found:
            pattern = selector_metric(selector)
            names = {n for n in known if re.fullmatch(pattern, n)}
            assert names, f"{query.where}: {selector} matches no metric in glassbox.conventions"


def test_every_label_in_a_selector_is_a_known_label() -> None:
    """Labels come from conventions names (as Prometheus spells them) or Prometheus's own (job, instance, le)."""
    attributes = [v for k, v in vars(c).items() if k.isupper() and isinstance(v, str) and "." in v]
    known = {a.replace(".", "_") for a in attributes} | {
        "__name__",
        "job",
        "instance",
        "le",
        "exporter",
        "receiver",
        "telemetry_sdk_name",
        *_recorded()[1],
    }
    for query in queries():
        if query.language != "promql":
            continue
        for selector in selectors(query.expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector.split("{", 1)[1]):
                assert label in known, f"{query.where}: unknown label {label} in {selector}"


def test_every_promql_expression_parses(tmp_path: Path) -> None:
    """promtool parses each expression, as a recording rule in a group named after its panel."""
    promql = [q for q in queries() if q.language == "promql"]
    groups = []
    for i, query in enumerate(promql):
        expr = substitute(query.expr)
        if expr.startswith("label_values("):
            # a Grafana variable function: its argument is the PromQL
            expr = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", expr)
        groups.append({"name": f"q{i}: {query.where}", "rules": [{"record": f"glassbox:check:{i}", "expr": expr}]})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(promql)} rules found" in result.stdout


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    """The parse check above can fail."""
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": [{"record": "x:y", "expr": "sum(("}]}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode != 0


# Log attributes the app and the collector send (Loki keeps them as structured metadata), plus the ids.
ALLOWED_LOKI_FIELDS = {c.loki_field(name) for name in (*c.AUDIT_FIELDS, *c.ATTRIBUTION_KEYS, "event.name")} | {
    c.LOKI_TRACE_ID_FIELD,
    "span_id",
}


def test_logql_uses_only_indexed_labels_and_structured_metadata_fields() -> None:
    logql = [q for q in queries() if q.language == "logql"]
    assert logql
    for query in logql:
        streams = re.findall(r"\{([^{}]*)\}", query.expr)
        assert streams, query.where
        for stream in streams:
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", stream):
                assert label in c.LOKI_INDEX_LABELS, f"{query.where}: {label} is not a Loki index label"
        for field in re.findall(r"\|\s*(\w+)\s*(?:=~|!~|!=|=)", query.expr):
            assert field in ALLOWED_LOKI_FIELDS, f"{query.where}: {field} is not sent as structured metadata"


def test_loki_indexes_exactly_the_labels_the_dashboards_may_use() -> None:
    config = yaml.safe_load((generate.ROOT / "loki" / "loki.yaml").read_text())
    otlp = config["limits_config"]["otlp_config"]["resource_attributes"]
    indexed = {attr.replace(".", "_") for entry in otlp["attributes_config"] for attr in entry["attributes"]}
    assert indexed == set(c.LOKI_INDEX_LABELS)


def test_traceql_names_span_attributes_from_the_conventions_module() -> None:
    traceql = [q for q in queries() if q.language == "traceql"]
    assert traceql
    attributes = {v for k, v in vars(c).items() if k.isupper() and isinstance(v, str)}
    for query in traceql:
        for name in re.findall(r"span\.([\w.]+)", query.expr):
            assert name in attributes, f"{query.where}: span.{name} is not a glassbox.conventions attribute"


def test_every_query_names_a_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((generate.ROOT / "grafana/provisioning/datasources/datasources.yaml").read_text())[
        "datasources"
    ]
    uids = {d["uid"]: d["type"] for d in provisioned}
    for name, board in dashboards().items():
        for panel in panels(board):
            if panel["type"] == "alertlist":
                assert "datasource" not in panel and "targets" not in panel, panel["title"]
                continue
            for item in (panel, *panel["targets"]):
                ds = item["datasource"]
                assert uids.get(ds["uid"]) == ds["type"], f"{name} / {panel['title']}: {ds}"
