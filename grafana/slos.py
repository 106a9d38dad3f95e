"""Service level objectives as code: grafana/slos.yaml, turned into multi-window, multi-burn-rate alerts and the
"Glassbox / SLOs" dashboard.

An SLO's error budget is the share of events (or minutes) that may be bad over its period: 1 - objective. The
burn rate over a window is the error ratio in that window divided by the budget: at 1 the budget lasts exactly
the period. As in the Google SRE workbook (chapter 5, "Alerting on SLOs"), each SLO has a page that fires when
both the last hour and the last 5 minutes burn over 14.4 times, or both the last 6 hours and the last 30 minutes
over 6 times, and a ticket for the last day and 2 hours over 3, or the last 3 days and 6 hours over 1. The long
window says that enough of the budget is gone; the short one says it is still going, so the alert clears minutes
after the errors stop instead of hours.

Prometheus records short-window values (recording_rules, prometheus/rules/glassbox-slos-recording.yml): per SLO
the 5-minute increases of its bad events and of all events, or for a time-based SLI a marker per fresh minute
and per minute that counts. Every window of an hour or more (the alerts' long windows, the dashboard's 30 days)
is summed from those, so no query re-reads days of raw samples or runs a subquery. Grafana evaluates the alerts on
the recorded series (they are ordinary series of its Prometheus datasource). The rules are grafana.rules' Alerts,
written in its forms; the dashboard has grafana.queries' $env and $service. grafana.alerts gathers these rules
with its own and grafana.dashboards lists the dashboard with its own: both import this module, which imports
neither.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from glassbox import conventions as c
from grafana import promql as p
from grafana.panels import Panel, Query, Row, dashboard, timeseries
from grafana.queries import ENV_VARIABLE, SERVICE_VARIABLE
from grafana.rules import Alert, Case, promtool_case, rule_groups, rule_uid

SLO_FILE = Path(__file__).with_name("slos.yaml")
SLO_GROUP = ("glassbox-slo", "1m")
DASHBOARD_UID = "glassbox-slos"
DASHBOARD_TITLE = "Glassbox / SLOs"
PROMETHEUS_RULES_FILE = "glassbox-slos.yml"
# The recording rules Prometheus loads (prometheus/prometheus.yml) and every SLO rule and panel reads.
RECORDING_RULES_FILE = "glassbox-slos-recording.yml"
DEFAULT_GROUP_BY = (p.ENVIRONMENT, "job")
# Grafana refuses an alert rule whose uid is over 40 characters, and provisioning stops at the first one.
MAX_UID_LENGTH = 40
# A time-based SLI counts the minutes since its gauge's first point in the window or the day before: a canary that
# stopped counts as stale for a day, then as no data (as for GlassboxCanaryStale), and one never started burns
# nothing.
FRESH_HORIZON = "1d"
# A time-based SLI's step: one verdict a minute.
RESOLUTION = "1m"


# --------------------------------------------------------------------------- windows and burn rates
@dataclass(frozen=True)
class Window:
    """Fires when the burn rate over ``long`` and over ``short`` are both above ``factor``."""

    long: str
    short: str
    factor: float


@dataclass(frozen=True)
class Tier:
    suffix: str
    severity: str
    duration: str
    runbook: str
    windows: tuple[Window, ...]


# The workbook's table for a 30-day budget: a page spends 2% of it in an hour or 5% in 6 hours, a ticket 10% in a
# day or 10% in 3 days.
PAGE = Tier("FastBurn", "critical", "2m", "slo-fast-burn", (Window("1h", "5m", 14.4), Window("6h", "30m", 6)))
TICKET = Tier("SlowBurn", "warning", "15m", "slo-slow-burn", (Window("1d", "2h", 3), Window("3d", "6h", 1)))
TIERS = (PAGE, TICKET)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: str) -> int:
    """A one-unit Prometheus duration (30s, 5m, 6h, 30d, 1w) in seconds."""
    match = re.fullmatch(r"(\d+)([smhdw])", duration)
    if not match:
        raise ValueError(f"not a duration (a number and one of s, m, h, d, w): {duration!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


LONGEST_WINDOW = max(seconds(w.long) for tier in TIERS for w in tier.windows)


# --------------------------------------------------------------------------- the declarations
class SLOError(ValueError):
    """A bad entry in the SLO file: the message names the file, the entry and the field."""


_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}", re.DOTALL)


@dataclass(frozen=True)
class Selector:
    """A series selector ``metric{label op "value", ...}``."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Selector:
        match = _SELECTOR.fullmatch(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a selector written metric{{matchers}}")
        body, position, matchers = match.group(2), 0, []
        while body.strip(" ") and position < len(body):
            matcher = _MATCHER.match(body, position)
            if not matcher:
                raise ValueError(f"cannot read the matchers of {text!r} from {body[position:]!r}")
            matchers.append((matcher.group(1), matcher.group(2), matcher.group(3)))
            position = matcher.end()
            if position < len(body):
                if body[position] != ",":
                    raise ValueError(f"cannot read the matchers of {text!r} from {body[position:]!r}")
                position += 1
        return cls(match.group(1), tuple(matchers))

    def __call__(self, *extra: str) -> str:
        """The selector, with more matchers (a dashboard's variables) where given."""
        return p.sel(self.metric, *(f'{label}{op}"{value}"' for label, op, value in self.matchers), *extra)

    def equalities(self) -> dict[str, str]:
        return {label: value for label, op, value in self.matchers if op == "="}

    def matches(self, metric: str, labels: Mapping[str, str]) -> bool:
        """Whether a series with this name and labels is selected (regexes anchored, as in PromQL)."""
        if metric != self.metric:
            return False
        for label, op, value in self.matchers:
            actual = labels.get(label, "")
            equal = re.fullmatch(value, actual) is not None if op in ("=~", "!~") else actual == value
            if equal != (op in ("=", "=~")):
                return False
        return True


@dataclass(frozen=True)
class SLI:
    # "bad" (bad / total events), "good" (good / total events) or "fresh" (the share of fresh minutes).
    kind: str
    # The bad or good events' counter, or the gauge holding a Unix time.
    events: Selector
    total: Selector | None = None
    max_age: str = ""


@dataclass(frozen=True)
class SLO:
    name: str
    title: str
    description: str
    objective: float
    period: str
    group_by: tuple[str, ...]
    sli: SLI
    # Extra labels of the good and the bad series in the promtool tests.
    good_labels: dict[str, str] = field(default_factory=dict)
    bad_labels: dict[str, str] = field(default_factory=dict)

    @property
    def budget(self) -> float:
        """The error budget: the share of events (minutes) that may be bad, 1 - objective."""
        return round(1 - self.objective, 12)

    @property
    def camel(self) -> str:
        words = {"genai": "GenAI", "http": "HTTP", "llm": "LLM", "api": "API", "slo": "SLO"}
        return "".join(words.get(word, word.capitalize()) for word in self.name.split("-"))

    def alert_name(self, tier: Tier) -> str:
        return f"GlassboxSLO{self.camel}{tier.suffix}"


# Raises SLOError for a field of the entry being read.
Fail = Callable[[str, str], NoReturn]

_KEYS = ("name", "title", "description", "objective", "period", "group_by", "sli", "test_labels")
_SLI_FORMS = (("bad", "total"), ("good", "total"), ("fresh", "max_age"))
_SLI_KEYS = ("bad", "good", "total", "fresh", "max_age")
_SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Values the promtool tests give the grouping labels.
TEST_LABEL_VALUES = {p.ENVIRONMENT: "prod", "job": "checkout"}


def known_metrics() -> set[str]:
    """The Prometheus names of every metric glassbox.conventions declares (histograms with their series)."""
    known = {"up", p.SERVICE_INFO, c.PROMETHEUS_CANARY_TIMESTAMP, *c.COLLECTOR_METRICS}
    for name in c.PROMETHEUS_NAMES.values():
        known |= {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return known


def load(path: Path = SLO_FILE) -> tuple[SLO, ...]:
    """The SLOs declared in ``path``, checked: a bad entry raises SLOError naming the file, entry and field."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SLOError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict) or sorted(data) != ["slos"] or not isinstance(data["slos"], list):
        raise SLOError(f"{path}: expected one key, slos, holding a list of SLOs")
    if not data["slos"]:
        raise SLOError(f"{path}: slos: declares no SLO")
    found: list[SLO] = []
    for index, entry in enumerate(data["slos"]):
        slo = _parse(entry, f"{path}: slos[{index}]")
        if slo.name in {s.name for s in found}:
            raise SLOError(f"{path}: slos[{index}] ({slo.name}): name: declared twice")
        found.append(slo)
    return tuple(found)


@functools.cache
def slos() -> tuple[SLO, ...]:
    """The SLOs of grafana/slos.yaml."""
    return load(SLO_FILE)


def _parse(entry: object, where: str) -> SLO:
    if not isinstance(entry, dict):
        raise SLOError(f"{where}: expected a mapping with {', '.join(_KEYS)}")
    if isinstance(entry.get("name"), str):
        where = f"{where} ({entry['name']})"

    def fail(key: str, message: str) -> NoReturn:
        raise SLOError(f"{where}: {key}: {message}")

    for key in entry:
        if key not in _KEYS:
            fail(str(key), f"unknown key (an SLO has {', '.join(_KEYS)})")
    if "sli" not in entry:
        fail("sli", "missing: give bad + total, good + total, or fresh + max_age")
    for key in ("name", "title", "description", "objective", "period"):
        if key not in entry:
            fail(key, "missing")
    for key in ("name", "title", "description", "period"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            fail(key, "must be a non-empty string")
    name: str = entry["name"]
    if not _SLUG.fullmatch(name):
        fail("name", f"{name!r} is not a slug (lowercase letters and digits, words joined by dashes)")
    objective = entry["objective"]
    if isinstance(objective, bool) or not isinstance(objective, int | float) or not 0 < objective < 1:
        fail("objective", f"{objective!r} is not a number strictly between 0 and 1 (0.995 is 99.5%)")
    budget = 1 - float(objective)
    fastest = max(w.factor for tier in TIERS for w in tier.windows)
    if fastest * budget >= 1:
        fail("objective", f"{objective} leaves a budget so large that a {fastest:g}x burn would need over 100% errors")
    try:
        period = seconds(entry["period"])
    except ValueError as error:
        fail("period", str(error))
    if period < LONGEST_WINDOW:
        fail("period", f"{entry['period']} is shorter than the ticket's longest window, {LONGEST_WINDOW // 86400}d")
    group_by = entry.get("group_by", list(DEFAULT_GROUP_BY))
    if not isinstance(group_by, list) or not all(isinstance(g, str) and _LABEL.fullmatch(g) for g in group_by):
        fail("group_by", "must be a list of label names")
    if len(set(group_by)) != len(group_by):
        fail("group_by", "names a label twice")
    sli = _parse_sli(entry["sli"], fail)
    good_labels, bad_labels = _parse_test_labels(entry.get("test_labels", {}), fail)
    slo = SLO(
        name, entry["title"].strip(), entry["description"].strip(), float(objective), entry["period"],
        tuple(group_by), sli, good_labels, bad_labels,
    )  # fmt: skip
    for tier in TIERS:
        uid = rule_uid(slo.alert_name(tier))
        if len(uid) > MAX_UID_LENGTH:
            fail("name", f"gives the alert uid {uid!r}, over Grafana's {MAX_UID_LENGTH} characters: shorten it")
    _check_test_series(slo, fail)
    return slo


def _parse_sli(sli: object, fail: Fail) -> SLI:
    if not isinstance(sli, dict):
        fail("sli", "must be a mapping: bad + total, good + total, or fresh + max_age")
    for key in sli:
        if key not in _SLI_KEYS:
            fail(f"sli.{key}", "unknown key (an SLI has bad + total, good + total, or fresh + max_age)")
    form = next((f for f in _SLI_FORMS if sorted(sli) == sorted(f)), None)
    if form is None:
        given = " + ".join(sorted(map(str, sli))) or "nothing"
        fail("sli", f"give bad + total, good + total, or fresh + max_age (found {given})")
    selectors: dict[str, Selector] = {}
    for key in form:
        if key == "max_age":
            continue
        if not isinstance(sli[key], str):
            fail(f"sli.{key}", "must be a selector string, metric{matchers}")
        try:
            selectors[key] = Selector.parse(sli[key])
        except ValueError as error:
            fail(f"sli.{key}", str(error))
        if selectors[key].metric not in known_metrics():
            fail(f"sli.{key}", f"{selectors[key].metric} is not a metric glassbox.conventions declares")
    if form[0] == "fresh":
        try:
            seconds(str(sli["max_age"]))
        except ValueError as error:
            fail("sli.max_age", str(error))
        return SLI("fresh", selectors["fresh"], max_age=str(sli["max_age"]))
    return SLI(form[0], selectors[form[0]], selectors["total"])


def _parse_test_labels(labels: object, fail: Fail) -> tuple[dict[str, str], dict[str, str]]:
    if not isinstance(labels, dict):
        fail("test_labels", "must be a mapping with good and/or bad")
    for key in labels:
        if key not in ("good", "bad"):
            fail(f"test_labels.{key}", "unknown key (test_labels has good and bad)")
    found: list[dict[str, str]] = []
    for key in ("good", "bad"):
        value = labels.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and _LABEL.fullmatch(k) and isinstance(v, str) for k, v in value.items()
        ):
            fail(f"test_labels.{key}", "must map label names to strings (quote numbers)")
        found.append(dict(value))
    return found[0], found[1]


# --------------------------------------------------------------------------- PromQL
def _by(slo: SLO) -> str:
    return f" by ({', '.join(slo.group_by)})" if slo.group_by else ""


def _sum(slo: SLO, inner: str) -> str:
    return f"sum{_by(slo)} ({inner})"


def min_events(slo: SLO, window: Window) -> int:
    """Events the long window must hold for the pair to fire: enough that a single bad event stays under the
    factor (one bad in n is a burn of 1 / (n x budget)). A time-based SLI counts minutes and needs none."""
    if slo.sli.kind == "fresh":
        return 0
    return math.ceil(1 / (window.factor * slo.budget) - 1e-9)


# The recording rules (recording_rules) hold short-window values; every window of an hour or more is summed from them.
# Events: per SLO, the 5-minute increases of its bad events and of all its events, recorded every 5 minutes with
# the time of each evaluation. Minutes: per time-based SLO, a marker a minute when the minute is fresh and
# one when it counts.
# The recorded increases span EVENTS_WINDOW; the group records them every minute, so a long window takes in a
# burst within a minute (each event then sits in five overlapping increases: events_in divides that out).
EVENTS_WINDOW = "5m"
EVENTS_GROUP = ("glassbox-slo-events", RESOLUTION)
MINUTES_GROUP = ("glassbox-slo-minutes", RESOLUTION)
BAD_EVENTS = "glassbox:slo_bad_events:increase5m"
ALL_EVENTS = "glassbox:slo_events:increase5m"
EVALUATIONS = "glassbox:slo_evaluation:time"
FRESH_MINUTES = "glassbox:slo_fresh_minutes:count1m"
COUNTED_MINUTES = "glassbox:slo_counted_minutes:count1m"
# Windows at least this long read the recorded series; shorter ones (the pages' 5m and 30m) read the counters.
RECORDED_FROM = "1h"


def _recorded(slo: SLO, metric: str, matchers: tuple[str, ...]) -> str:
    return p.sel(metric, f'slo="{slo.name}"', *matchers)


def _increase(slo: SLO, selector: Selector, window: str, matchers: tuple[str, ...] = ()) -> str:
    return _sum(slo, p.increase(selector(*matchers), window))


def _bad_and_total(slo: SLO, window: str, matchers: tuple[str, ...]) -> tuple[str, str]:
    """The bad events and all events over ``window``: the counters' increase under an hour, else the sum of the
    recorded 5-minute increases. The sums' ratio is the error ratio however often the group ran (Prometheus every
    5 minutes, promtool at every step of its test); events_in scales the sum by how often it ran."""
    sli = slo.sli
    assert sli.total is not None
    if seconds(window) < seconds(RECORDED_FROM):
        total = _increase(slo, sli.total, window, matchers)
        counted = _increase(slo, sli.events, window, matchers)
        bad = f"({counted} or 0 * {total})" if sli.kind == "bad" else f"({total} - ({counted} or 0 * {total}))"
        return bad, total
    bad = _sum(slo, f"sum_over_time({_recorded(slo, BAD_EVENTS, matchers)}[{window}])")
    total = _sum(slo, f"sum_over_time({_recorded(slo, ALL_EVENTS, matchers)}[{window}])")
    return bad, total


def events_in(slo: SLO, window: str, matchers: tuple[str, ...] = ()) -> str:
    """The number of events over ``window`` (an hour or more): the sum of the recorded 5-minute increases times
    the mean time between the group's evaluations (EVALUATIONS holds their times) over 5 minutes. Each event is
    in one increase when the group runs every 5 minutes, in five when promtool runs it every minute."""
    _, total = _bad_and_total(slo, window, matchers)
    times = f"{EVALUATIONS}[{window}]"
    spacing = f"(max_over_time({times}) - min_over_time({times})) / (count_over_time({times}) - 1)"
    return f"{total} * scalar({spacing}) / {seconds(EVENTS_WINDOW)}"


def error_ratio(slo: SLO, window: str, *, at_least: int = 0, matchers: tuple[str, ...] = ()) -> str:
    """The share of bad events (minutes) over ``window``, per the SLO's labels; no value without events (0/0 is
    no data, not NaN) or, with ``at_least``, with fewer events than that."""
    if slo.sli.kind == "fresh":
        return _stale_ratio(slo, window, matchers)
    bad, total = _bad_and_total(slo, window, matchers)
    enough = f"{total} and {events_in(slo, window, matchers)} >= {at_least}" if at_least else f"{total} > 0"
    return f"({bad} / ({enough}))"


def _stale_ratio(slo: SLO, window: str, matchers: tuple[str, ...]) -> str:
    """The share of stale minutes over ``window``: 1 - fresh minutes / minutes that count, both recorded a minute
    (a ratio of counts, so the same however often the group ran)."""
    fresh = _sum(slo, f"count_over_time({_recorded(slo, FRESH_MINUTES, matchers)}[{window}])")
    counted = _sum(slo, f"count_over_time({_recorded(slo, COUNTED_MINUTES, matchers)}[{window}])")
    return f"(1 - ({fresh} or 0 * {counted}) / {counted})"


def recording_rules() -> dict[str, Any]:
    """The recording rules every SLO's windows are summed from, in two groups: EVENTS_GROUP (the 5-minute
    increases of bad events and of all events, and the evaluation marker) and MINUTES_GROUP (a marker a minute
    when the minute is fresh, and one when it counts: the gauge had a point in the FRESH_HORIZON before it)."""
    events: list[dict[str, Any]] = []
    minutes: list[dict[str, Any]] = []
    for slo in slos():
        sli = slo.sli
        if sli.kind == "fresh":
            gauge = sli.events()
            fresh = f"group{_by(slo)} (max_over_time({gauge}[{sli.max_age}]))"
            counted = f"group{_by(slo)} (max_over_time({gauge}[{FRESH_HORIZON}]))"
            minutes += [
                {"record": FRESH_MINUTES, "expr": fresh, "labels": {"slo": slo.name}},
                {"record": COUNTED_MINUTES, "expr": counted, "labels": {"slo": slo.name}},
            ]
            continue
        bad, total = _bad_and_total(slo, EVENTS_WINDOW, ())
        events += [
            {"record": BAD_EVENTS, "expr": bad, "labels": {"slo": slo.name}},
            {"record": ALL_EVENTS, "expr": total, "labels": {"slo": slo.name}},
        ]
    groups = []
    if events:
        events.append({"record": EVALUATIONS, "expr": "vector(time())"})
        groups.append({"name": EVENTS_GROUP[0], "interval": EVENTS_GROUP[1], "rules": events})
    if minutes:
        groups.append({"name": MINUTES_GROUP[0], "interval": MINUTES_GROUP[1], "rules": minutes})
    return {"groups": groups}


def duration(total: int) -> str:
    """Seconds as a Prometheus duration in its largest whole unit (90000 -> 25h)."""
    unit = next(u for u in ("w", "d", "h", "m", "s") if total % _UNITS[u] == 0)
    return f"{total // _UNITS[unit]}{unit}"


def burn_rate(slo: SLO, window: str, *, at_least: int = 0, matchers: tuple[str, ...] = ()) -> str:
    """The error ratio over ``window`` as a multiple of the budget: 1 spends exactly the budget over the period."""
    return f"{error_ratio(slo, window, at_least=at_least, matchers=matchers)} / {slo.budget:g}"


def condition(slo: SLO, window: Window) -> str:
    """Both windows of a pair burning over its factor; the value is the long window's burn rate."""
    long = burn_rate(slo, window.long, at_least=min_events(slo, window))
    return f"({long} > {window.factor:g} and {burn_rate(slo, window.short)} > {window.factor:g})"


def alert_value(slo: SLO, tier: Tier) -> str:
    """Either pair of the tier: the long window's burn rate where a pair is over its factor, nothing elsewhere (the
    rule compares it > 0, so the thresholds are the factors inside)."""
    return " or ".join(condition(slo, window) for window in tier.windows)


# --------------------------------------------------------------------------- alerts
def _percent(share: float) -> str:
    return f"{share * 100:.10g}%"


def _who(slo: SLO) -> str:
    """Whose budget: the grouping labels as templates (the job first, the environment in parentheses)."""
    names = [label for label in slo.group_by if label != p.ENVIRONMENT]
    who = " ".join(_template(label) for label in names)
    if p.ENVIRONMENT in slo.group_by:
        who += f" ({_template(p.ENVIRONMENT)})"
    return who.strip() or "the stack"


def _template(label: str) -> str:
    return "{{ $labels." + label + " }}"


def _lasts(slo: SLO, factor: float) -> str:
    days = seconds(slo.period) / factor / 86400
    return f"{days:.3g} days"


def _texts(slo: SLO, tier: Tier) -> tuple[str, str]:
    who = _who(slo)
    summary = f"{slo.title}: {who} is burning its error budget {'fast' if tier is PAGE else 'steadily'}"
    (first, second) = tier.windows
    good = slo.description[0].lower() + slo.description[1:].rstrip(".")
    description = (
        f"{who[0].upper() + who[1:]} spends its {slo.title} error budget (good: {good}; objective "
        f"{_percent(slo.objective)} over {slo.period}) at over {first.factor:g}x the rate that lasts the period over "
        f"both the last {first.long} and the last {first.short}, or at over {second.factor:g}x over both the last "
        f"{second.long} and the last {second.short}. At {first.factor:g}x the budget is gone in "
        f"{_lasts(slo, first.factor)}, at {second.factor:g}x in {_lasts(slo, second.factor)}."
    )
    return summary, description


def _look_back(slo: SLO) -> int:
    """How far back the rule reads: its longest window, of recorded series."""
    return LONGEST_WINDOW


LabelledCase = tuple[str, Case]


@functools.cache
def _built() -> tuple[tuple[Alert, tuple[LabelledCase, ...]], ...]:
    built = []
    for slo in slos():
        for tier in TIERS:
            cases = _cases(slo, tier)
            summary, description = _texts(slo, tier)
            alert = Alert(
                name=slo.alert_name(tier),
                group=SLO_GROUP[0],
                value=alert_value(slo, tier),
                above=0,
                below=None,
                duration=tier.duration,
                severity=tier.severity,
                summary=summary,
                description=description,
                runbook=tier.runbook,
                fires=cases[0][1],
                quiet=cases[1][1],
                # The Alert keeps the cases of hours, which grafana.alerts' tests run every minute; the cases of days
                # run in this module's own files (promtool_files).
                also_quiet=tuple(case for _, case in cases[2:] if not case.fires and evaluation_step(case) == 1),
                window_seconds=_look_back(slo),
                extra_labels={"slo": slo.name},
            )
            built.append((alert, tuple(cases)))
    return tuple(built)


def slo_alerts() -> tuple[Alert, ...]:
    """A page (critical) and a ticket (warning) per SLO, in group SLO_GROUP."""
    return tuple(alert for alert, _ in _built())


def labelled_cases(name: str) -> tuple[LabelledCase, ...]:
    """Every promtool case of an SLO alert, described: its Alert's fires, quiet and also_quiet cases (each of
    hours), then the cases spanning days and those where it must fire through its other window pair (an Alert
    holds one firing case)."""
    return next(cases for alert, cases in _built() if alert.name == name)


# --------------------------------------------------------------------------- promtool cases
# Events a minute in the tests, and how a burn is written: a multiple of the budget, or ALL events bad.
TRAFFIC = 1000
ALL = -1.0
# The tests' series have a point a minute. promtool evaluates every rule of the file at every evaluation step of
# every test: every minute for cases up to SHORT_CASE minutes, as Grafana does; every DAYS_EVALUATION minutes for
# the cases that span days (every minute of 3 days would take minutes to run), except a time-based SLI's (see
# promtool_tests). Those end on such a step, and a firing one holds its condition for the rule's `for` at that step.
SHORT_CASE = 720
DAYS_EVALUATION = 10


def evaluation_step(case: Case) -> int:
    """Minutes between promtool's evaluations for a case."""
    return 1 if int(case.at.removesuffix("m")) <= SHORT_CASE else DAYS_EVALUATION


@dataclass(frozen=True)
class Phase:
    minutes: int
    burn: float  # the error ratio as a multiple of the budget, or ALL
    traffic: float = TRAFFIC  # events a minute (ignored by a time-based SLI)


def _ratio(slo: SLO, burn: float) -> float:
    return 1.0 if burn == ALL else min(1.0, burn * slo.budget)


def _number(value: float) -> str:
    return f"{round(value, 6):.15g}"


def _counter(steps: Iterable[tuple[int, float]]) -> str:
    """A counter from 0, growing by ``increment`` a minute for each (minutes, increment), in promtool's notation."""
    parts, value = ["0"], 0.0
    for minutes, increment in steps:
        if minutes > 0:
            parts.append(f"{_number(value + increment)}+{_number(increment)}x{minutes - 1}")
            value += increment * minutes
    return " ".join(parts)


@dataclass(frozen=True)
class _Roles:
    """The test series by what they count: good events only, bad events only, or every event."""

    good: str | None
    bad: str | None
    total: str | None


def _series_name(slo: SLO, selector: Selector, extra: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    labels = {label: TEST_LABEL_VALUES.get(label, "a") for label in slo.group_by}
    labels.update(selector.equalities())
    labels.update(extra)
    return selector.metric, labels


def _render(metric: str, labels: Mapping[str, str]) -> str:
    return metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


# A test series and what it must (not) be selected by: (role, metric, labels, SLI key, selected or not).
_Check = tuple[str, str, dict[str, str], str, bool]


def _roles(slo: SLO) -> tuple[_Roles, list[_Check]]:
    """The test series by role, and the selectors each must or must not match for the test to mean anything."""
    sli = slo.sli
    if sli.kind == "fresh":
        metric, labels = _series_name(slo, sli.events, slo.good_labels)
        return _Roles(_render(metric, labels), None, None), [("good", metric, labels, "fresh", True)]
    assert sli.total is not None
    if sli.kind == "bad":
        bad_metric, bad = _series_name(slo, sli.events, slo.bad_labels)
        checks: list[_Check] = [("bad", bad_metric, bad, "bad", True)]
        if sli.events.metric == sli.total.metric:
            # One counter: its bad series and its good series add up to the total.
            good_metric, good = _series_name(slo, sli.total, slo.good_labels)
            checks += [
                ("bad", bad_metric, bad, "total", True),
                ("good", good_metric, good, "total", True),
                ("good", good_metric, good, "bad", False),
            ]
            return _Roles(_render(good_metric, good), _render(bad_metric, bad), None), checks
        # Two counters: the bad events, and every event.
        total_metric, total = _series_name(slo, sli.total, slo.good_labels)
        checks.append(("good", total_metric, total, "total", True))
        return _Roles(None, _render(bad_metric, bad), _render(total_metric, total)), checks
    good_metric, good = _series_name(slo, sli.events, slo.good_labels)
    checks = [("good", good_metric, good, "good", True)]
    if sli.events.metric == sli.total.metric:
        bad_metric, bad = _series_name(slo, sli.total, slo.bad_labels)
        checks += [
            ("good", good_metric, good, "total", True),
            ("bad", bad_metric, bad, "total", True),
            ("bad", bad_metric, bad, "good", False),
        ]
        return _Roles(_render(good_metric, good), _render(bad_metric, bad), None), checks
    # A histogram: the bucket counts good events, _count every event.
    total_metric, total = _series_name(slo, sli.total, slo.bad_labels)
    checks.append(("bad", total_metric, total, "total", True))
    return _Roles(_render(good_metric, good), None, _render(total_metric, total)), checks


def _check_test_series(slo: SLO, fail: Fail) -> None:
    selectors = {"bad": slo.sli.events, "good": slo.sli.events, "fresh": slo.sli.events, "total": slo.sli.total}
    _, checks = _roles(slo)
    for role, metric, labels, key, selected in checks:
        selector = selectors[key]
        assert selector is not None
        if selector.matches(metric, labels) != selected:
            fail(
                f"test_labels.{role}",
                f"the test series {_render(metric, labels)} {'is not' if selected else 'is'} selected by sli.{key} "
                f"({selector()}): give it labels that {'match' if selected else 'do not match'}",
            )


def _events(slo: SLO, *phases: Phase) -> dict[str, str]:
    """Counters for the phases, one minute apart: good and bad events (or all events) at each phase's rate."""
    roles, _ = _roles(slo)
    good = [(ph.minutes, ph.traffic * (1 - _ratio(slo, ph.burn))) for ph in phases]
    bad = [(ph.minutes, ph.traffic * _ratio(slo, ph.burn)) for ph in phases]
    series = {}
    if roles.good:
        series[roles.good] = _counter(good)
    if roles.bad:
        series[roles.bad] = _counter(bad)
    if roles.total:
        series[roles.total] = _counter((ph.minutes, ph.traffic) for ph in phases)
    return series


def _fresh_minutes(slo: SLO, phase: Phase) -> list[bool]:
    """Whether the gauge gets a point in each minute of the phase, so that the share of stale minutes is the
    phase's error ratio: cycles ending in a gap, since a gap of d minutes leaves d - max_age stale ones."""
    ratio = _ratio(slo, phase.burn)
    if ratio <= 0:
        return [True] * phase.minutes
    if ratio >= 0.9:
        return [False] * phase.minutes
    lag = seconds(slo.sli.max_age) // 60
    stale = math.ceil(ratio * 60)
    cycle = round(stale / ratio)
    cycles = phase.minutes // cycle
    one = [True] * (cycle - stale - lag) + [False] * (stale + lag)
    return [True] * (phase.minutes - cycles * cycle) + one * cycles


def _fresh(slo: SLO, *phases: Phase) -> dict[str, str]:
    """The gauge for the phases: a point a minute, its value the minute's Unix time, none in a gap."""
    roles, _ = _roles(slo)
    assert roles.good is not None
    sent = [True] + [minute for ph in phases for minute in _fresh_minutes(slo, ph)]
    parts, start = [], 0
    for minute in range(1, len(sent) + 1):
        if minute == len(sent) or sent[minute] != sent[start]:
            length = minute - start
            parts.append(f"{start * 60}+60x{length - 1}" if sent[start] else f"_x{length}")
            start = minute
    return {roles.good: " ".join(parts)}


def _case(slo: SLO, phases: tuple[Phase, ...], fires: bool) -> Case:
    # A case of days ends on an evaluation step: more of the first phase's traffic, all good, before it.
    minutes = sum(ph.minutes for ph in phases)
    if minutes > SHORT_CASE and minutes % DAYS_EVALUATION:
        phases = (Phase(-minutes % DAYS_EVALUATION, 0, phases[0].traffic), *phases)
    minutes = sum(ph.minutes for ph in phases)
    series = _fresh(slo, *phases) if slo.sli.kind == "fresh" else _events(slo, *phases)
    if slo.sli.kind == "fresh" and all(ph.traffic == 0 for ph in phases):
        series = {}
    labels = {label: TEST_LABEL_VALUES.get(label, "a") for label in slo.group_by}
    return Case(series, f"{minutes}m", (labels,) if fires else ())


# The quiet case's length: error ratio at half the budget for 3 days, the ticket's longest window.
QUIET_MINUTES = LONGEST_WINDOW // 60


def _cases(slo: SLO, tier: Tier) -> list[LabelledCase]:
    """fires, quiet, then more quiet cases, then the firing cases of the other pair (all described)."""
    fresh = slo.sli.kind == "fresh"
    b = slo.budget
    lag = seconds(slo.sli.max_age) // 60 if fresh else 0
    # The recorded 5-minute increases bring an event into the long window over the 5 minutes after it (in five
    # overlapping increases, one a minute): the long windows of events lag by about half of that.
    recorded_lag = lag if fresh else seconds(EVENTS_WINDOW) // 60 // 2 + 1
    # Half the budget for 7 hours (every page window and the ticket's short ones), and for 3 days (all of them).
    quiet = Phase(420, 0.5)
    quiet_days = ("stays quiet at half the budget for 3 days", (Phase(QUIET_MINUTES, 0.5),), False)
    nothing = Phase(130, 0, traffic=0)
    out: list[tuple[str, tuple[Phase, ...], bool]] = []
    if tier is PAGE:
        # After 6 hours of good, all bad long enough for the hour to pass 14.4x (a time-based SLI counts a stale
        # minute only max_age after the last point), the rule's 2 minutes and one to spare: the 6 hours stay under
        # 6x, so the page fires on the 1h/5m pair alone.
        outage = math.ceil(14.4 * b * 61) + recorded_lag + 3
        # Between 14.4x for an hour and 6x for 6 hours: all bad for this long, then good for 6 minutes, fires on
        # the hour alone; the 5-minute window must keep it quiet.
        ended = math.ceil(1512 * b) + lag
        out += [
            (
                "fires when all is bad for minutes after hours of good (the 1h/5m pair)",
                (Phase(360, 0), Phase(outage, ALL)),
                True,
            ),
            ("stays quiet at half the budget for 7 hours", (quiet,), False),
            ("stays quiet without events (0/0)", (nothing,), False),
            ("stays quiet when an outage ended 6 minutes ago", (Phase(360, 0), Phase(ended, ALL), Phase(6, 0)), False),
            ("stays quiet at 2.5x (a ticket's burn)", (Phase(420, 2.5),), False),
            # Good for the last 6 minutes (the canary's last gap behind it): the 30 minutes still burn over 6x.
            ("fires at 10x for 4 hours (the 6h/30m pair)", (Phase(240, 10), Phase(6, 0)), True),
            quiet_days,
        ]
    else:
        out += [
            ("fires at 2.5x for 7 hours (the 3d/6h pair)", (Phase(420, 2.5),), True),
            ("stays quiet at half the budget for 7 hours", (quiet,), False),
            ("stays quiet without events (0/0)", (nothing,), False),
            quiet_days,
            # Over 3x in the last day and over 1x in 3 days, but nothing in the last 6 hours: both short windows
            # must keep it quiet.
            ("stays quiet when a 5x burn ended 6 hours ago", (Phase(900, 5), Phase(370, 0)), False),
        ]
        if not fresh:
            # Heavy good traffic two days ago dilutes the 3-day window: only the 1d/2h pair is over its factor.
            burst = (Phase(120, 0, traffic=TRAFFIC * 6), Phase(1500, 4, traffic=TRAFFIC / 10))
            out.append(("fires at 4x for a day after a burst of good traffic (the 1d/2h pair)", burst, True))
    if not fresh:
        # One event in hours, and it failed: a 100% error ratio over too few events to mean anything. Without the
        # long window's minimum the page fires 2 minutes after it, the ticket 15 (while its short window holds it).
        after = 3 if tier is PAGE else 20
        one = (Phase(100, 0, traffic=0), Phase(1, ALL, traffic=1), Phase(after, 0, traffic=0))
        out.insert(3, ("stays quiet when the only event in hours was bad", one, False))
    return [(label, _case(slo, phases, fires)) for label, phases, fires in out]


# --------------------------------------------------------------------------- Prometheus form and promtool tests
def prometheus_rules(alerts: Iterable[Alert]) -> dict[str, Any]:
    """The SLO alerts as a Prometheus rule group (SLO_GROUP), as grafana.alerts writes its own."""
    return rule_groups(tuple(alerts), {SLO_GROUP[0]: SLO_GROUP[1]})


def _slo_of(alert: Alert) -> SLO:
    return next(slo for slo in slos() if slo.name == alert.extra_labels["slo"])


def promtool_tests(alerts: Iterable[Alert], rule_file: str = PROMETHEUS_RULES_FILE, step: int = 1) -> dict[str, Any]:
    """promtool unit tests over the rules in ``rule_file``: every labelled case of the alerts that promtool
    evaluates every ``step`` minutes (see evaluation_step), as grafana.alerts.promtool_tests writes its own."""
    alerts = tuple(alerts)
    tests = []
    for alert in alerts:
        for description, case in labelled_cases(alert.name):
            if evaluation_step(case) != step:
                continue
            tests.append(promtool_case(alert, description, case))
    # A minute marker sampled every few minutes would count one minute for many: a time-based SLI's cases run
    # every minute, as its recording group does.
    every = 1 if any(_slo_of(alert).sli.kind == "fresh" for alert in alerts) else step
    return {"rule_files": [rule_file, RECORDING_RULES_FILE], "evaluation_interval": f"{every}m", "tests": tests}


def promtool_files(alerts: Iterable[Alert]) -> dict[str, dict[str, Any]]:
    """File name -> content: the recording rules (RECORDING_RULES_FILE) and, per alert, its rule (``<uid>.yml``),
    its cases of hours evaluated every minute (``<uid>.test.yml``) and those spanning days (``<uid>.days.test.yml``).
    promtool evaluates every rule of a file at every step of every test, so each alert's cases run against its rule
    alone, with the recording rules it reads."""
    files: dict[str, dict[str, Any]] = {RECORDING_RULES_FILE: recording_rules()}
    for alert in alerts:
        files[f"{alert.uid}.yml"] = prometheus_rules((alert,))
        files[f"{alert.uid}.test.yml"] = promtool_tests((alert,), f"{alert.uid}.yml")
        files[f"{alert.uid}.days.test.yml"] = promtool_tests((alert,), f"{alert.uid}.yml", DAYS_EVALUATION)
    return files


# --------------------------------------------------------------------------- the dashboard
@dataclass
class _Steps(Panel):
    """A panel whose colour below its first threshold is ``base`` (Panel's is green)."""

    base: str = "red"

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        panel = super().to_json(panel_id, x, y)
        panel["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["color"] = self.base
        return panel


def _legend(slo: SLO) -> str:
    return " ".join("{{" + label + "}}" for label in slo.group_by if label != p.ENVIRONMENT)


def _matchers(slo: SLO) -> tuple[str, ...]:
    """The dashboard's $env and $service, for the labels the SLO has."""
    found = []
    if p.ENVIRONMENT in slo.group_by:
        found.append(p.VAR_ENV)
    if "job" in slo.group_by:
        found.append(p.VAR_SERVICE)
    return tuple(found)


def slo_panels(slo: SLO) -> list[Panel | Row]:
    matchers = _matchers(slo)
    legend = _legend(slo)
    period_ratio = error_ratio(slo, slo.period, matchers=matchers)
    objective = _percent(slo.objective)
    (fast, slow) = PAGE.windows
    return [
        Row(f"{slo.title}: {objective} over {slo.period}"),
        _Steps(
            "stat",
            f"{slo.title}: SLI over {slo.period}",
            f"{slo.description} Share of good over the last {slo.period}; red under the objective, {objective}.",
            "percentunit",
            [Query(f"1 - {period_ratio}", legend, instant=True)],
            width=6,
            height=8,
            thresholds=[(slo.objective, "green")],
            decimals=2,
        ),
        _Steps(
            "stat",
            f"{slo.title}: error budget left",
            f"Share of the {slo.period} error budget ({_percent(slo.budget)} of "
            f"{'minutes' if slo.sli.kind == 'fresh' else 'events'}) not spent over the last {slo.period}; below 0 "
            "when overspent.",
            "percentunit",
            [Query(f"1 - {period_ratio} / {slo.budget:g}", legend, instant=True)],
            width=6,
            height=8,
            thresholds=[(0, "orange"), (0.25, "green")],
            decimals=1,
        ),
        timeseries(
            f"{slo.title}: burn rate",
            f"Error ratio over the last hour and 6 hours as a multiple of the budget (1 spends it in {slo.period}); "
            f"the page fires over {fast.factor:g} (1h with 5m) or {slow.factor:g} (6h with 30m).",
            "suffix:x",
            Query(burn_rate(slo, fast.long, matchers=matchers), f"{fast.long} {legend}".strip()),
            Query(burn_rate(slo, slow.long, matchers=matchers), f"{slow.long} {legend}".strip()),
            thresholds=[(slow.factor, "orange"), (fast.factor, "red")],
        ),
    ]


def slo_dashboard() -> dict[str, Any]:
    """The "Glassbox / SLOs" dashboard: per SLO its SLI and error budget over its period and its burn rates."""
    items: list[Panel | Row] = [item for slo in slos() for item in slo_panels(slo)]
    return dashboard(
        DASHBOARD_UID,
        DASHBOARD_TITLE,
        "Each service level objective of grafana/slos.yaml: its SLI and error budget over its period, and how fast "
        "the budget burns (with the page's two factors drawn).",
        [ENV_VARIABLE, SERVICE_VARIABLE],
        items,
        time_from="now-7d",
    )
