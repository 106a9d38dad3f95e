"""One alert rule and its forms, shared by grafana.alerts (the hand-written rules) and grafana.slos (the rules its
SLOs become): the Alert and its promtool Cases, and what each becomes: a Grafana-managed rule (grafana_rule), a
Prometheus rule group (rule_groups) and promtool unit tests (promtool_case), plus the runbook link every rule
carries (render_runbook_url makes it absolute).

A rule is a PromQL value, a comparison and a threshold. Grafana evaluates the value (query A) and a threshold
expression on it (C); Prometheus evaluates ``(value) > threshold``. Both come from the same fields here.
"""

from __future__ import annotations

import re as regex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glassbox import conventions as c

# The runbooks of every rule, SLO rules included: one page behind GLASSBOX_RUNBOOK_URL.
RUNBOOKS = "docs/runbooks.md"
# A notification's runbook link must be absolute. The stack writes the Grafana rules with this placeholder replaced
# by GLASSBOX_RUNBOOK_URL before Grafana starts (render_runbook_url natively in `make up`; the same check and a
# literal replacement in the Grafana service's entrypoint in compose), whatever the Grafana version does with
# variables in annotations (docs/runbooks.md says what it does).
RUNBOOK_URL_VARIABLE = "GLASSBOX_RUNBOOK_URL"
RUNBOOK_URL_PLACEHOLDER = "${" + RUNBOOK_URL_VARIABLE + "}"
# What GLASSBOX_RUNBOOK_URL may be: an absolute URL without a fragment (each rule adds its own) written in the
# characters of RFC 3986 except $ and ' (Grafana may expand ${...} in annotations; ' would need shell quoting), so
# that it goes into YAML, a shell and a notification unchanged. Anything else is percent-encoded (%20 for a space).
# A POSIX extended regular expression, the same text in Python and in docker-compose.yml's awk.
RUNBOOK_URL_PATTERN = "[a-z][a-z0-9+.-]*://[]A-Za-z0-9._~:/?@!&()*+,;=%[-]+"
RUNBOOK_URL_RULE = (
    f"{RUNBOOK_URL_VARIABLE} must be an absolute URL (scheme://...) without a #fragment, in letters, digits and "
    "- . _ ~ : / ? @ ! & ( ) * + , ; = % [ ] only; percent-encode anything else (%20 for a space, %22 for a double "
    "quote, %27 for a single quote, %24 for a dollar sign, %7C for a vertical bar)"
)
# Where the committed Prometheus rule files link until rendered for a team (python -m grafana.generate
# --runbook-url URL --out DIR): a name that resolves nowhere (RFC 2606 .invalid), so a notification shows it plainly.
PROMETHEUS_RUNBOOKS_URL = "https://glassbox-runbooks.invalid/docs/runbooks.md"


@dataclass(frozen=True)
class Case:
    """A promtool test: input series (selector -> values in promtool's notation) evaluated at ``at``."""

    series: dict[str, str]
    at: str
    # Labels of each alert expected to fire (besides severity); empty means it must not fire.
    fires: tuple[dict[str, str], ...] = ()
    interval: str = "1m"


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    value: str
    above: float
    # Optional upper bound, inclusive: the rule fires only for values over ``above`` and at most ``below``. Bands
    # whose ``below`` is the next one's ``above`` tile: every value over the lowest fires exactly one of them.
    below: float | None
    duration: str
    severity: str
    summary: str
    description: str
    runbook: str
    fires: Case
    quiet: Case
    # More cases where it must stay quiet (an edge: little traffic, a counter reset, ...).
    also_quiet: tuple[Case, ...] = ()
    no_data: str = "OK"
    exec_error: str = "Error"
    window_seconds: int = 600
    keep_firing: str = ""
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return rule_uid(self.name)

    @property
    def query(self) -> str:
        """The value both forms compare with ``above`` (Grafana's query A): with ``below``, only the values at most
        it (Grafana's threshold expressions have no half-open range: within_range excludes both ends)."""
        return self.value if self.below is None else f"({self.value}) <= {number(self.below)}"

    @property
    def expr(self) -> str:
        """The Prometheus rule expression."""
        return f"({self.query}) > {number(self.above)}"

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOK_URL_PLACEHOLDER}#{self.runbook}"

    @property
    def labels(self) -> dict[str, str]:
        return {"severity": self.severity, **self.extra_labels}

    @property
    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description, "runbook_url": self.runbook_url}


def number(value: float) -> str:
    """A threshold as the rules write it: 2, 0.05, 1e+06."""
    return f"{value:g}"


def rule_uid(name: str) -> str:
    """The Grafana uid of the rule named ``name`` (GlassboxHTTP5xxRate -> glassbox-http-5xx-rate)."""
    words = regex.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name.removeprefix("Glassbox"))
    return "glassbox-" + words.lower()


# --------------------------------------------------------------------------- Grafana form
def grafana_rule(alert: Alert) -> dict[str, Any]:
    evaluator = {"type": "gt", "params": [alert.above]}
    rule: dict[str, Any] = {
        "uid": alert.uid,
        "title": alert.name,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": alert.window_seconds, "to": 0},
                "datasourceUid": c.DATASOURCE_PROMETHEUS,
                "model": {
                    "refId": "A",
                    "expr": alert.query,
                    "instant": True,
                    "range": False,
                    "intervalMs": 60000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "A",
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                    "conditions": [{"evaluator": evaluator}],
                },
            },
        ],
        "noDataState": alert.no_data,
        "execErrState": alert.exec_error,
        "for": alert.duration,
        "annotations": alert.annotations,
        "labels": alert.labels,
        "isPaused": False,
    }
    return rule


# --------------------------------------------------------------------------- Prometheus form and tests
def rule_groups(alerts: tuple[Alert, ...], intervals: Mapping[str, str]) -> dict[str, Any]:
    """The alerts in Prometheus form: a group per entry of ``intervals`` (group name -> evaluation interval), in
    its order, holding the alerts of that group; groups left empty are left out."""
    groups = [
        {
            "name": group,
            "interval": interval,
            "rules": [
                {
                    "alert": a.name,
                    "expr": a.expr,
                    "for": a.duration,
                    "labels": a.labels,
                    "annotations": a.annotations,
                }
                for a in alerts
                if a.group == group
            ],
        }
        for group, interval in intervals.items()
    ]
    return {"groups": [g for g in groups if g["rules"]]}


def check_runbook_url(runbooks_url: str) -> str:
    """``runbooks_url`` if it may be GLASSBOX_RUNBOOK_URL (RUNBOOK_URL_PATTERN), else a ValueError saying why."""
    if not regex.fullmatch(RUNBOOK_URL_PATTERN, runbooks_url):
        raise ValueError(f"{RUNBOOK_URL_RULE}: {runbooks_url!r}")
    return runbooks_url


def render_runbook_url(rules_text: str, runbooks_url: str) -> str:
    """A rules file with its runbook links made absolute: ``runbooks_url`` is where docs/runbooks.md is read
    (``https://docs.example.com/glassbox/runbooks.md``, ``file:///srv/glassbox/docs/runbooks.md``)."""
    return rules_text.replace(RUNBOOK_URL_PLACEHOLDER, check_runbook_url(runbooks_url))


_LABEL_TEMPLATE = regex.compile(r"\{\{ \$labels\.(\w+) \}\}")


def render(template: str, labels: dict[str, str]) -> str:
    """Expand ``{{ $labels.x }}``, the only template the annotations use (both Grafana and Prometheus know it)."""
    rendered = _LABEL_TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), template)
    if "{{" in rendered:
        raise ValueError(f"unsupported template in {template!r}")
    return rendered


def promtool_case(alert: Alert, description: str, case: Case) -> dict[str, Any]:
    """One promtool test: ``case``'s series, and the alert with its rendered annotations for each firing label set."""
    expected = []
    for labels in case.fires:
        all_labels = {**labels, **alert.labels}
        annotations = {k: render(v, all_labels) for k, v in alert.annotations.items()}
        expected.append({"exp_labels": all_labels, "exp_annotations": annotations})
    return {
        "name": f"{alert.name} {description}",
        "interval": case.interval,
        "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
        "alert_rule_test": [{"eval_time": case.at, "alertname": alert.name, "exp_alerts": expected}],
    }
