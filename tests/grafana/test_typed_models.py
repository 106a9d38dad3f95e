"""Every generated dashboard read by Grafana's own typed models (the grafana-foundation-sdk package) and written
back: a key the models drop or change is one Grafana would not read as written.

Keys the SDK lacks although Grafana reads them are listed in SDK_GAPS with the Grafana source that reads them; any
other loss fails. Keys the models add are their defaults and are not checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel

from tests.support.dashboard_queries import dashboards, panels

register_default_plugins()

# Paths (list indices as []) that the SDK drops though Grafana reads them.
SDK_GAPS = {
    # A query variable's query as text, shown in the variable editor and list (QueryVariableModel.definition in
    # public/app/features/variables/types.ts; scenes' QueryVariable keeps it): the SDK's VariableModel has no field.
    ".templating.list[].definition",
    # Tempo's search table type, traces or spans (TempoQuery.tableType in
    # public/app/plugins/datasource/tempo/dataquery.gen.ts): the SDK's TempoQuery predates it.
    ".panels[].targets[].tableType",
    # A TraceQL metrics query's range or instant type (TempoQuery.metricsQueryType, MetricsQueryType in
    # public/app/plugins/datasource/tempo/dataquery.gen.ts): likewise newer than the SDK's TempoQuery.
    ".panels[].targets[].metricsQueryType",
}
# Panel types with no typed model in the SDK: their options pass through as plain JSON.
UNTYPED_PANELS = {"alertlist", "row"}


def lost_or_changed(before: Any, after: Any, path: str = "") -> list[str]:
    """Keys of ``before`` missing from ``after``, and values that differ (keys only in ``after`` are defaults)."""
    found: list[str] = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            where = f"{path}.{key}"
            if key not in after:
                found.append(f"lost {where}")
            else:
                found += lost_or_changed(value, after[key], where)
    elif isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            found.append(f"changed {path}: {len(before)} items -> {len(after)}")
        for index, (first, second) in enumerate(zip(before, after, strict=False)):
            found += lost_or_changed(first, second, f"{path}[{index}]")
    elif before != after:
        found.append(f"changed {path}: {before!r} -> {after!r}")
    return found


def round_trip(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(model.from_json(data), cls=JSONEncoder))
    return result


def defects(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    found = lost_or_changed(before, after, prefix)
    return [f for f in found if re.sub(r"\[\d+\]", "[]", f.split(" ")[1].rstrip(":")) not in SDK_GAPS]


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_the_dashboard_reads_back_unchanged_through_the_typed_dashboard_model(name: str) -> None:
    board = dashboards()[name]
    assert defects(board, round_trip(Dashboard, board)) == []


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_each_panel_reads_back_unchanged_through_its_panel_types_model(name: str) -> None:
    typed = 0
    for item in panels(dashboards()[name]):
        where = f"{name} / {item['title']}"
        panel = Panel.from_json(item)
        if item["type"] not in UNTYPED_PANELS:
            config = runtime.panelcfg_config(item["type"])
            assert config is not None, f"{where}: no typed model for panel type {item['type']!r}"
            assert config.options_from_json_hook is not None
            assert type(panel.options).__module__.endswith(f".{item['type']}"), f"{where}: options not typed"
            typed += 1
        assert defects(item, round_trip(Panel, item), ".panels[]") == [], where
    assert typed, f"{name}: no panel was read by a typed model"


def test_a_key_the_models_do_not_know_is_reported() -> None:
    board = json.loads(json.dumps(dashboards()["glassbox-home"]))
    board["panels"][1]["fieldConfig"]["defaults"]["unitt"] = "s"
    assert any("unitt" in d for d in defects(board, round_trip(Dashboard, board)))
