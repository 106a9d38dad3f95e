"""The generated dashboards say what their numbers are, filter by the variables they show, and query no more
than they draw: checked over the committed JSON and the provisioned datasources."""

from __future__ import annotations

import re
from typing import Any

import yaml

from glassbox import conventions as c
from grafana import generate
from grafana.panels import ALERTLIST_SORT_IMPORTANCE
from tests.support.dashboard_queries import dashboards, panels


def all_panels() -> list[tuple[str, dict[str, Any]]]:
    return [(name, item) for name, board in dashboards().items() for item in panels(board)]


def find(dashboard: str, title: str) -> dict[str, Any]:
    return next(p for p in panels(dashboards()[dashboard]) if p["title"] == title)


def field_unit(item: dict[str, Any], name: str) -> str:
    """The unit Grafana shows a table column in: its override's, else the panel's."""
    for override in item["fieldConfig"]["overrides"]:
        if override["matcher"] == {"id": "byName", "options": name}:
            for prop in override["properties"]:
                if prop["id"] == "unit":
                    return str(prop["value"])
    return str(item["fieldConfig"]["defaults"]["unit"])


def test_tenants_at_risk_shows_shares_as_percent_and_waiting_approvals_as_a_count() -> None:
    item = find("glassbox-tenant", "Tenants at risk")
    organize = next(t for t in item["transformations"] if t["id"] == "organize")
    names = organize["options"]["renameByName"]
    assert field_unit(item, names["Value #A"]) == "percentunit", "budget used is a share of the budget"
    assert field_unit(item, names["Value #B"]) == "percentunit", "the error rate is a share of requests"
    assert field_unit(item, names["Value #C"]) not in ("percentunit", "percent"), "approvals are a count"


def test_expensive_requests_filter_by_every_variable_the_cost_dashboard_shows() -> None:
    board = dashboards()["glassbox-llm-cost"]
    item = find("glassbox-llm-cost", "Expensive requests (traces)")
    (target,) = item["targets"]
    query = target["query"]
    filters = {
        "env": f"resource.{c.DEPLOYMENT_ENVIRONMENT}",
        "service": f"resource.{c.SERVICE_NAME}",
        "tenant": f"span.{c.TENANT_ID}",
        "model": f"span.{c.GEN_AI_REQUEST_MODEL}",
    }
    shown = {v["name"] for v in board["templating"]["list"]}
    assert set(filters) <= shown
    # The filters sit in the first spanset, with the priced spans they narrow (not in a second, unrelated one).
    first = query[: query.index("}")]
    for variable, attribute in filters.items():
        assert f'{attribute} =~ "${variable}"' in first, f"{variable}: not filtered by {attribute} in {first!r}"


def rate_queries(item: dict[str, Any]) -> list[str]:
    return [str(t["expr"]) for t in item.get("targets", []) if "expr" in t]


def test_spend_rates_say_per_hour() -> None:
    hourly = [(n, p) for n, p in all_panels() if any("* 3600" in e for e in rate_queries(p))]
    assert len(hourly) >= 4, "the spend rates are USD per hour"
    for name, item in hourly:
        unit = item["fieldConfig"]["defaults"]["unit"]
        assert unit.startswith("suffix:") and unit.endswith("/h") and "USD" in unit, f"{name} / {item['title']}: {unit}"


# Grafana's throughput units (packages/grafana-data/src/valueFormats/categories.ts), or a custom suffix per a time unit.
RATE_UNITS = {"reqps", "rps", "wps", "iops", "ops", "cps", "eps", "mps", "recps", "rowsps", "opm", "cpm", "rpm", "epm"}
PER_TIME_SUFFIX = re.compile(r"suffix:.*/(s|min|h)$")


def is_rate(expr: str) -> bool:
    """A plain per-second (or per-minute) rate: not a ratio, a quantile or a share."""
    return "rate(" in expr and "histogram_quantile" not in expr and " / " not in expr


def test_every_rate_shows_in_a_unit_per_time() -> None:
    rates = [(n, p) for n, p in all_panels() if rate_queries(p) and all(is_rate(e) for e in rate_queries(p))]
    assert len(rates) >= 10
    for name, item in rates:
        unit = item["fieldConfig"]["defaults"]["unit"]
        assert unit in RATE_UNITS or PER_TIME_SUFFIX.fullmatch(unit), f"{name} / {item['title']}: {unit}"


def test_the_firing_alerts_list_puts_the_most_important_first() -> None:
    lists = [p for _, p in all_panels() if p["type"] == "alertlist"]
    assert lists
    assert ALERTLIST_SORT_IMPORTANCE == 3, "Grafana's SortOrder: AlphaAsc = 1, AlphaDesc, Importance, ..."
    for item in lists:
        assert item["options"]["sortOrder"] == ALERTLIST_SORT_IMPORTANCE, item["title"]


def test_a_total_over_the_time_range_is_one_instant_query_not_a_range_of_them() -> None:
    over_range = [
        (n, p, t) for n, p in all_panels() for t in p.get("targets", []) if "[$__range]" in str(t.get("expr", ""))
    ]
    assert len(over_range) >= 8
    for name, item, target in over_range:
        assert target["instant"] is True and target["range"] is False, f"{name} / {item['title']}"


# --------------------------------------------------------------------------- datasources
def provisioned() -> dict[str, dict[str, Any]]:
    path = generate.ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
    return {d["type"]: d for d in yaml.safe_load(path.read_text())["datasources"]}


def test_prometheus_names_its_flavour_and_version_so_variables_use_the_label_values_api() -> None:
    # Grafana reads jsonData.prometheusType and prometheusVersion (packages/grafana-prometheus/src/datasource.ts:
    # the label values API with a series match is used from Prometheus 2.24 on, known only from the version).
    json_data = provisioned()["prometheus"]["jsonData"]
    assert json_data["prometheusType"] == "Prometheus"
    version = tuple(int(part) for part in str(json_data["prometheusVersion"]).split("."))
    assert len(version) == 3 and version >= (2, 24, 0)
    native = re.search(r"prometheus:v(\d+)\.", (generate.ROOT / "docker-compose.yml").read_text())
    assert native and version[0] <= int(native.group(1)), "the version is the oldest the stack runs, not a newer one"


def test_tempo_sets_no_key_grafana_no_longer_reads() -> None:
    tempo = provisioned()["tempo"]["jsonData"]
    # public/app/plugins/datasource/tempo/types.ts (TempoJsonData): no lokiSearch since Loki search was removed.
    assert "lokiSearch" not in tempo
    # public/app/features/explore/TraceView/createSpanLink.tsx: with customQuery the query runs as written;
    # filterByTraceID and filterBySpanID only shape the default query.
    logs = tempo["tracesToLogsV2"]
    assert logs["customQuery"] is True and "${__trace.traceId}" in logs["query"].replace("$$", "$")
    assert "filterByTraceID" not in logs and "filterBySpanID" not in logs
