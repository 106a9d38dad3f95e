"""Dashboard JSON builders: panels with a unit and a one-line description each, laid out left to right in rows.

Plain Python producing the dashboard JSON model Grafana stores (schemaVersion 39, which Grafana 11 to 13 load and
migrate). Every query names its datasource by the fixed UIDs of grafana/provisioning/datasources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glassbox import conventions as c

PROMETHEUS = {"type": "prometheus", "uid": c.DATASOURCE_PROMETHEUS}
LOKI = {"type": "loki", "uid": c.DATASOURCE_LOKI}
TEMPO = {"type": "tempo", "uid": c.DATASOURCE_TEMPO}
SCHEMA_VERSION = 39
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    # Exemplars link a latency or cost point to the trace that produced it (Prometheus datasource setting).
    exemplar: bool = False

    def target(self, ref: str) -> dict[str, Any]:
        return {
            "datasource": PROMETHEUS,
            "refId": ref,
            "expr": self.expr,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "instant": self.instant,
            "exemplar": self.exemplar,
            "editorMode": "code",
        }


@dataclass(frozen=True)
class LogQuery:
    expr: str
    legend: str = ""
    # "range" for logs and metric queries over time, "instant" for a table of totals.
    query_type: str = "range"

    def target(self, ref: str) -> dict[str, Any]:
        target: dict[str, Any] = {
            "datasource": LOKI,
            "refId": ref,
            "expr": self.expr,
            "queryType": self.query_type,
            "editorMode": "code",
        }
        if self.legend:
            target["legendFormat"] = self.legend
        return target


@dataclass(frozen=True)
class TraceQuery:
    query: str
    limit: int = 20

    def target(self, ref: str) -> dict[str, Any]:
        return {
            "datasource": TEMPO,
            "refId": ref,
            "queryType": "traceql",
            "query": self.query,
            "limit": self.limit,
            "tableType": "traces",
        }


@dataclass(frozen=True)
class TraceMetricsQuery:
    """A TraceQL metrics query (``{ ... } | count_over_time() by (...)``), computed by Tempo from the spans
    themselves: an instant one gives one value per series over the panel's time range."""

    query: str

    def target(self, ref: str) -> dict[str, Any]:
        return {
            "datasource": TEMPO,
            "refId": ref,
            "queryType": "traceql",
            "query": self.query,
            "metricsQueryType": "instant",
        }


AnyQuery = Query | LogQuery | TraceQuery | TraceMetricsQuery


@dataclass
class Panel:
    kind: str  # timeseries | stat | bargauge | table | piechart | logs
    title: str
    description: str
    unit: str
    queries: list[AnyQuery]
    width: int = 12
    height: int = 8
    # Green below the first step; each (value, colour) after it from that value up.
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    transformations: list[dict[str, Any]] = field(default_factory=list)
    interval: str | None = None
    decimals: int | None = None
    # The panel's own time range (Grafana's relative time), e.g. "now/M": this calendar month so far.
    time_from: str | None = None
    # Per-field units: field name (after the transformations) -> unit, for a table whose columns differ.
    field_units: dict[str, str] = field(default_factory=dict)

    def datasource(self) -> dict[str, str] | None:
        kinds = {type(q) for q in self.queries}
        if self.kind == "alertlist" and not kinds:  # Grafana's own alert state, no query
            return None
        if kinds == {LogQuery}:
            return LOKI
        if kinds and kinds <= {TraceQuery, TraceMetricsQuery}:
            return TEMPO
        if kinds == {Query}:
            return PROMETHEUS
        raise ValueError(f"panel {self.title!r} mixes datasources")

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {"unit": self.unit, "mappings": self.mappings}
        steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
        steps += [{"color": colour, "value": value} for value, colour in self.thresholds]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.unit == "percentunit" and self.kind in ("bargauge", "stat"):
            # A share fills its bar against 100%, not against the largest value shown.
            defaults.update(min=0, max=1)
        custom = dict(self.custom)
        if self.kind == "timeseries" and self.thresholds:
            # Draw the thresholds as lines; a time series shows them only when asked.
            custom.setdefault("thresholdsStyle", {"mode": "line"})
        if custom:
            defaults["custom"] = custom
        panel: dict[str, Any] = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": self.datasource(),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {
                "defaults": defaults,
                "overrides": [
                    {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "unit", "value": unit}]}
                    for name, unit in self.field_units.items()
                ],
            },
            "options": {**DEFAULT_OPTIONS.get(self.kind, {}), **self.options},
            "targets": [q.target(chr(ord("A") + i)) for i, q in enumerate(self.queries)],
        }
        if panel["datasource"] is None:
            del panel["datasource"], panel["targets"]
        if self.kind == "table":
            # A table's transformations (join by a label, rename "Value #A") act on table frames, which a Prometheus
            # query returns only when asked; as time series they have nothing to join.
            for target in panel["targets"]:
                if target["datasource"] == PROMETHEUS:
                    target["format"] = "table"
        if self.transformations:
            panel["transformations"] = self.transformations
        if self.interval:
            panel["interval"] = self.interval
        if self.time_from:
            panel["timeFrom"] = self.time_from
        return panel


DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "timeseries": {
        "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max", "lastNotNull"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
    "stat": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "textMode": "auto",
    },
    "bargauge": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
        "showUnfilled": True,
    },
    "piechart": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "legend": {"displayMode": "table", "placement": "right", "values": ["value", "percent"]},
        "pieType": "donut",
    },
    "table": {"showHeader": True, "cellHeight": "sm"},
    "logs": {
        "showTime": True,
        "wrapLogMessage": True,
        "enableLogDetails": True,
        "sortOrder": "Descending",
        "dedupStrategy": "none",
    },
}


@dataclass(frozen=True)
class Row:
    title: str


def timeseries(title: str, description: str, unit: str, *queries: AnyQuery, **kwargs: Any) -> Panel:
    return Panel("timeseries", title, description, unit, list(queries), **kwargs)


def bars(title: str, description: str, unit: str, *queries: AnyQuery, **kwargs: Any) -> Panel:
    """A time series drawn as stacked bars, one per interval (spend per day, per month)."""
    kwargs.setdefault("custom", {"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}})
    return Panel("timeseries", title, description, unit, list(queries), **kwargs)


def stat(title: str, description: str, unit: str, *queries: AnyQuery, **kwargs: Any) -> Panel:
    kwargs.setdefault("width", 6)
    kwargs.setdefault("height", 5)
    return Panel("stat", title, description, unit, list(queries), **kwargs)


def bargauge(title: str, description: str, unit: str, *queries: AnyQuery, **kwargs: Any) -> Panel:
    return Panel("bargauge", title, description, unit, list(queries), **kwargs)


def piechart(title: str, description: str, unit: str, *queries: AnyQuery, **kwargs: Any) -> Panel:
    return Panel("piechart", title, description, unit, list(queries), **kwargs)


# Grafana's alert list orders by its SortOrder (public/app/plugins/panel/alertlist/types.ts): AlphaAsc = 1,
# AlphaDesc, Importance, TimeAsc, TimeDesc. Importance ranks instances by their state (firing first), not by name.
ALERTLIST_SORT_IMPORTANCE = 3


def alertlist(title: str, description: str, **kwargs: Any) -> Panel:
    """Grafana's list of its alert rules' instances that fire (or are pending, or fail to evaluate), most important
    first."""
    kwargs.setdefault("options", {})
    kwargs["options"] = {
        "viewMode": "list",
        "groupMode": "default",
        "maxItems": 20,
        "sortOrder": ALERTLIST_SORT_IMPORTANCE,
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": "",
        "stateFilter": {"firing": True, "pending": True, "noData": False, "normal": False, "error": True},
        **kwargs["options"],
    }
    return Panel("alertlist", title, description, "none", [], **kwargs)


def table(title: str, description: str, unit: str, *queries: AnyQuery, **kwargs: Any) -> Panel:
    return Panel("table", title, description, unit, list(queries), **kwargs)


def columns_table(
    title: str,
    description: str,
    columns: Mapping[str, AnyQuery],
    *,
    labels: dict[str, str] | None = None,
    sort_by: str | None = None,
    **kwargs: Any,
) -> Panel:
    """A table with one row per series and one column per query: the instant queries' frames merged on their labels,
    each value column named as in ``columns`` (Grafana names them ``Value #A``, ``Value #B``, ... by refId), label
    columns renamed by ``labels``, the time column hidden, sorted by ``sort_by`` descending."""
    renames = {**(labels or {}), **{f"Value #{chr(ord('A') + i)}": name for i, name in enumerate(columns)}}
    transformations: list[dict[str, Any]] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": renames}},
    ]
    if sort_by is not None:
        transformations.append({"id": "sortBy", "options": {"sort": [{"field": sort_by, "desc": True}]}})
    return table(title, description, "short", *columns.values(), transformations=transformations, **kwargs)


def logs(title: str, description: str, *queries: LogQuery, **kwargs: Any) -> Panel:
    kwargs.setdefault("width", GRID_WIDTH)
    kwargs.setdefault("height", 14)
    return Panel("logs", title, description, "none", list(queries), **kwargs)


UP_DOWN = [
    {
        "type": "value",
        "options": {
            "0": {"text": "DOWN", "color": "red", "index": 0},
            "1": {"text": "UP", "color": "green", "index": 1},
        },
    }
]


# --------------------------------------------------------------------------- variables
def query_variable(name: str, label: str, definition: str, *, include_all: bool = True) -> dict[str, Any]:
    """A multi-value Prometheus label_values variable; All means every value (regex .*)."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROMETHEUS,
        "definition": definition,
        "query": {"query": definition, "refId": f"{name}-values", "qryType": 1},
        "refresh": 2,
        "includeAll": include_all,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "options": [],
    }


def loki_label_variable(name: str, label: str, stream: str, loki_label: str) -> dict[str, Any]:
    """A multi-value variable of one Loki label's values within a stream; All means every value (regex .*)."""
    definition = f"label_values({stream}, {loki_label})"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": LOKI,
        "definition": definition,
        "query": {"label": loki_label, "stream": stream, "type": 1, "refId": f"{name}-values"},
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "options": [],
    }


def text_variable(name: str, label: str, default: str = ".*") -> dict[str, Any]:
    """A free-text regex filter (for structured-metadata fields, which Loki cannot list values of)."""
    return {
        "name": name,
        "label": label,
        "type": "textbox",
        "query": default,
        "current": {"text": default, "value": default},
        "options": [{"selected": True, "text": default, "value": default}],
    }


# --------------------------------------------------------------------------- dashboards
def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[dict[str, Any]],
    items: list[Panel | Row],
    *,
    time_from: str = "now-6h",
) -> dict[str, Any]:
    """The dashboard JSON: panels placed left to right, wrapping at the grid width, a row header per Row."""
    panels: list[dict[str, Any]] = []
    x = y = 0
    row_height = 0
    panel_id = 1
    for item in items:
        if isinstance(item, Row):
            y += row_height
            x, row_height = 0, 0
            panels.append(
                {
                    "id": panel_id,
                    "type": "row",
                    "title": item.title,
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                    "panels": [],
                }
            )
            panel_id += 1
            y += 1
            continue
        if x + item.width > GRID_WIDTH:
            y += row_height
            x, row_height = 0, 0
        panels.append(item.to_json(panel_id, x, y))
        panel_id += 1
        x += item.width
        row_height = max(row_height, item.height)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["glassbox"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {
                "title": "Glassbox dashboards",
                "type": "dashboards",
                "tags": ["glassbox"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "panels": panels,
    }
