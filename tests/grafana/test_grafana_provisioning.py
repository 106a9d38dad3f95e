"""Grafana provisioning: the three data sources with their fixed UIDs, the links between them, the
dashboards provider, and only keys Grafana reads for each file kind.

Grafana ignores keys it does not know, so a typo in a provisioning file is silent; the key sets below are
those of Grafana's provisioning readers (apiVersion 1) and of the data source plugins' jsonData. Grafana
also expands $VAR and ${VAR} in every value (with "$$" for a literal "$"), which is simulated here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.stack.test_compose import MOVED_PORTS, PORTS, TEST_ENV, environment, load_compose, mounts

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "grafana" / "provisioning"
DASHBOARDS = ROOT / "grafana" / "dashboards"
DATASOURCES_FILE = PROVISIONING / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS_FILE = PROVISIONING / "dashboards" / "glassbox.yaml"

UIDS = {"glassbox-prometheus": "prometheus", "glassbox-loki": "loki", "glassbox-tempo": "tempo"}

# Grafana's provisioning readers, apiVersion 1.
DATASOURCES_FILE_KEYS = {"apiVersion", "datasources", "deleteDatasources", "prune"}
DATASOURCE_KEYS = {
    "orgId",
    "orgName",
    "version",
    "name",
    "type",
    "access",
    "url",
    "user",
    "database",
    "basicAuth",
    "basicAuthUser",
    "withCredentials",
    "isDefault",
    "correlations",
    "jsonData",
    "secureJsonData",
    "editable",
    "uid",
    "description",
}
DASHBOARDS_FILE_KEYS = {"apiVersion", "providers"}
PROVIDER_KEYS = {
    "name",
    "type",
    "orgId",
    "folder",
    "folderUid",
    "editable",
    "options",
    "disableDeletion",
    "updateIntervalSeconds",
    "allowUiUpdates",
}
FILE_PROVIDER_OPTIONS = {"path", "foldersFromFilesStructure"}
ALERTING_FILE_KEYS = {
    "apiVersion",
    "groups",
    "deleteRules",
    "contactPoints",
    "deleteContactPoints",
    "policies",
    "resetPolicies",
    "muteTimes",
    "deleteMuteTimes",
    "templates",
    "deleteTemplates",
}
# jsonData keys of the bundled data source plugins that Glassbox may set.
JSON_DATA_KEYS = {
    "prometheus": {
        "httpMethod",
        "prometheusType",
        "prometheusVersion",
        "timeInterval",
        "queryTimeout",
        "exemplarTraceIdDestinations",
        "cacheLevel",
        "incrementalQuerying",
        "incrementalQueryOverlapWindow",
        "disableRecordingRules",
        "manageAlerts",
        "customQueryParameters",
        "defaultEditor",
        "disableMetricsLookup",
        "seriesLimit",
    },
    "loki": {"maxLines", "derivedFields", "timeout", "manageAlerts", "predefinedOperations"},
    "tempo": {
        "tracesToLogsV2",
        "tracesToMetrics",
        "tracesToProfiles",
        "serviceMap",
        "nodeGraph",
        "search",
        "traceQuery",
        "spanBar",
        "streamingEnabled",
        "timeRangeForTags",
        "tagLimit",
    },
}
NESTED_KEYS = {
    "exemplarTraceIdDestinations": {"name", "datasourceUid", "url", "urlDisplayLabel"},
    "derivedFields": {"name", "matcherType", "matcherRegex", "url", "urlDisplayLabel", "datasourceUid", "targetBlank"},
    "tracesToLogsV2": {
        "datasourceUid",
        "spanStartTimeShift",
        "spanEndTimeShift",
        "tags",
        "customQuery",
        "query",
    },
    "tracesToMetrics": {"datasourceUid", "spanStartTimeShift", "spanEndTimeShift", "tags", "queries"},
    "serviceMap": {"datasourceUid"},
    "nodeGraph": {"enabled"},
    "search": {"hide", "filters"},
    "traceQuery": {"timeShiftEnabled", "spanStartTimeShift", "spanEndTimeShift"},
    "streamingEnabled": {"search", "metrics"},
}
SECRET_KEYS = re.compile(r"(?i)password|secret|token|apikey|api_key|secureJsonData|credentials")


def load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def datasources() -> dict[str, dict[str, Any]]:
    document = load(DATASOURCES_FILE)
    found = {entry["uid"]: entry for entry in document["datasources"]}
    assert len(found) == len(document["datasources"]), "two data sources share a uid"
    return found


def provisioning_files() -> list[Path]:
    return sorted(p for p in PROVISIONING.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))


def grafana_references(value: str) -> list[str]:
    """Names of the environment variables Grafana would expand in value ("$$" is a literal "$")."""
    names = []
    for part in value.split("$$"):
        for match in re.finditer(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+)|([*#$@!?-]))", part):
            names.append(next(group for group in match.groups() if group is not None))
    return names


def grafana_expand(value: str, env: dict[str, str]) -> str:
    """value after Grafana's provisioning interpolation (os.ExpandEnv on each part between "$$")."""
    parts = []
    for part in value.split("$$"):
        parts.append(
            re.sub(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))", lambda m: env.get(m.group(1) or m.group(2), ""), part)
        )
    return "$".join(parts)


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    if isinstance(node, dict):
        return [text for item in node.values() for text in strings(item)]
    return []


def expanded(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return grafana_expand(node, env)
    if isinstance(node, list):
        return [expanded(item, env) for item in node]
    if isinstance(node, dict):
        return {key: expanded(value, env) for key, value in node.items()}
    return node


def keys(node: Any) -> list[str]:
    if isinstance(node, list):
        return [key for item in node for key in keys(item)]
    if isinstance(node, dict):
        return [str(key) for key in node] + [key for value in node.values() for key in keys(value)]
    return []


def grafana_service() -> dict[str, Any]:
    service = load_compose()["services"]["grafana"]
    assert isinstance(service, dict)
    return service


def grafana_env() -> dict[str, str]:
    return environment(grafana_service())


def linked(uid: str) -> dict[str, Any]:
    """The jsonData of a data source as Grafana stores it, with the compose environment."""
    json_data = expanded(datasources()[uid].get("jsonData") or {}, grafana_env())
    assert isinstance(json_data, dict)
    return json_data


# --- files and keys -------------------------------------------------------------------------------


def test_every_provisioning_file_is_api_version_1() -> None:
    files = provisioning_files()
    assert DATASOURCES_FILE in files and DASHBOARD_PROVIDERS_FILE in files
    for path in files:
        assert load(path).get("apiVersion") == 1, f"{path.relative_to(ROOT)}: apiVersion must be 1"


def test_provisioning_directories_hold_only_files_grafana_reads() -> None:
    for kind in ("datasources", "dashboards", "alerting"):
        for path in (PROVISIONING / kind).iterdir():
            # Grafana does not descend into subdirectories of these; a file there would be ignored.
            assert path.is_file(), f"{path.relative_to(ROOT)}: Grafana reads no subdirectories here"
            assert path.suffix in (".yaml", ".yml", ".json") or path.name == "README.md", path.name
            if kind != "alerting":
                assert path.suffix != ".json", f"{path.name}: {kind} provisioning reads only .yaml/.yml"


def test_datasource_file_uses_only_keys_grafana_reads() -> None:
    document = load(DATASOURCES_FILE)
    assert set(document) <= DATASOURCES_FILE_KEYS, set(document) - DATASOURCES_FILE_KEYS
    for entry in document["datasources"]:
        assert set(entry) <= DATASOURCE_KEYS, f"{entry.get('name')}: unknown {set(entry) - DATASOURCE_KEYS}"
        json_data = entry.get("jsonData") or {}
        allowed = JSON_DATA_KEYS[entry["type"]]
        assert set(json_data) <= allowed, f"{entry['name']} jsonData: unknown {set(json_data) - allowed}"
        for key, value in json_data.items():
            if key not in NESTED_KEYS:
                continue
            for item in value if isinstance(value, list) else [value]:
                assert set(item) <= NESTED_KEYS[key], f"{entry['name']} {key}: unknown {set(item) - NESTED_KEYS[key]}"


def test_dashboard_provider_file_uses_only_keys_grafana_reads() -> None:
    document = load(DASHBOARD_PROVIDERS_FILE)
    assert set(document) <= DASHBOARDS_FILE_KEYS, set(document) - DASHBOARDS_FILE_KEYS
    for provider in document["providers"]:
        assert set(provider) <= PROVIDER_KEYS, set(provider) - PROVIDER_KEYS
        assert provider.get("type", "file") == "file"
        assert set(provider["options"]) <= FILE_PROVIDER_OPTIONS, set(provider["options"]) - FILE_PROVIDER_OPTIONS


def test_alerting_files_use_only_keys_grafana_reads() -> None:
    for path in (PROVISIONING / "alerting").iterdir():
        if path.suffix in (".yaml", ".yml", ".json"):
            document = load(path)
            assert set(document) <= ALERTING_FILE_KEYS, f"{path.name}: unknown {set(document) - ALERTING_FILE_KEYS}"


# --- data sources and links -----------------------------------------------------------------------


def test_the_three_data_sources_have_the_contract_uids() -> None:
    found = datasources()
    assert {uid: entry["type"] for uid, entry in found.items()} == UIDS
    assert [uid for uid, entry in found.items() if entry.get("isDefault")] == ["glassbox-prometheus"]
    for uid, entry in found.items():
        assert entry.get("editable") is False, f"{uid} must not be editable in the UI"
        assert entry.get("access", "proxy") == "proxy", uid
    assert len({entry["name"] for entry in found.values()}) == len(found)


def test_every_datasource_uid_reference_points_at_a_provisioned_data_source() -> None:
    def references(node: Any) -> list[str]:
        if isinstance(node, list):
            return [uid for item in node for uid in references(item)]
        if isinstance(node, dict):
            own = [str(node["datasourceUid"])] if "datasourceUid" in node else []
            return own + [uid for value in node.values() for uid in references(value)]
        return []

    found = references(load(DATASOURCES_FILE))
    assert found and set(found) <= set(UIDS), set(found) - set(UIDS)


def test_tempo_links_to_the_logs_of_a_trace_in_loki() -> None:
    logs = linked("glassbox-tempo")["tracesToLogsV2"]
    assert logs["datasourceUid"] == "glassbox-loki"
    # With customQuery Grafana runs the query as written: filterByTraceID/filterBySpanID would be ignored.
    assert "filterByTraceID" not in logs and "filterBySpanID" not in logs
    assert {"key": "service.name", "value": "service_name"} in logs["tags"]
    # trace_id is structured metadata in Loki 3, so the query filters on it after the stream selector.
    assert logs["customQuery"] is True
    assert logs["query"] == '{${__tags}} | trace_id="${__trace.traceId}"'


def test_loki_links_a_trace_id_to_tempo() -> None:
    fields = linked("glassbox-loki")["derivedFields"]
    trace = [field for field in fields if field.get("matcherRegex") == "trace_id"]
    assert len(trace) == 1, fields
    assert trace[0]["matcherType"] == "label"
    assert trace[0]["datasourceUid"] == "glassbox-tempo"
    assert trace[0]["url"] == "${__value.raw}"


def test_tempo_links_to_span_metrics_and_the_service_graph_in_prometheus() -> None:
    json_data = linked("glassbox-tempo")
    metrics = json_data["tracesToMetrics"]
    assert metrics["datasourceUid"] == "glassbox-prometheus"
    assert metrics["queries"], "no trace-to-metrics queries"
    for query in metrics["queries"]:
        assert query["name"] and "$__tags" in query["query"], query
        assert re.search(r"\btraces_spanmetrics_(calls_total|latency_bucket)\b", query["query"]), query
    assert json_data["serviceMap"]["datasourceUid"] == "glassbox-prometheus"
    assert json_data["nodeGraph"]["enabled"] is True
    assert "lokiSearch" not in json_data  # Grafana 13 reads no lokiSearch (TempoJsonData)


def test_prometheus_exemplars_link_to_tempo() -> None:
    destinations = linked("glassbox-prometheus")["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": "glassbox-tempo"}.items() <= destinations[0].items()
    assert len(destinations) == 1


# --- environment variables ------------------------------------------------------------------------


def test_only_glassbox_variables_are_expanded_and_compose_sets_them() -> None:
    env = grafana_env()
    for path in provisioning_files():
        for value in strings(load(path)):
            for name in grafana_references(value):
                if path.name == "rules.yaml" and name in ("labels", "values"):
                    # Alert annotation templates ({{ $labels.job }}): Grafana leaves $name in rule files'
                    # annotations alone (docs/runbooks.md, "Runbook links").
                    continue
                # Anything else is a Grafana macro that needed "$$": Grafana would replace it with "".
                assert re.fullmatch(r"GLASSBOX_[A-Z0-9_]+", name), f"{path.name}: {value!r} expands ${name}"
                assert name in env, f"{path.name}: docker-compose.yml does not give Grafana {name}"


def test_data_source_urls_reach_the_compose_services() -> None:
    # The ports each service listens on inside the network, whatever host ports .env publishes.
    expected = {
        "glassbox-prometheus": f"http://prometheus:{PORTS['prometheus']['GLASSBOX_PROMETHEUS_PORT']}",
        "glassbox-loki": f"http://loki:{PORTS['loki']['GLASSBOX_LOKI_PORT']}",
        "glassbox-tempo": f"http://tempo:{PORTS['tempo']['GLASSBOX_TEMPO_PORT']}",
    }
    for compose_env in (TEST_ENV, {**TEST_ENV, **MOVED_PORTS}):
        env = environment(load_compose(compose_env)["services"]["grafana"])
        urls = {uid: grafana_expand(entry["url"], env) for uid, entry in datasources().items()}
        assert urls == expected, compose_env


# --- dashboards -----------------------------------------------------------------------------------


def test_dashboards_provider_reads_grafana_dashboards_into_the_glassbox_folder() -> None:
    providers = load(DASHBOARD_PROVIDERS_FILE)["providers"]
    assert len(providers) == 1
    provider = providers[0]
    # By title only, the alert rules' folder (test_alerting_provisioning.py says why).
    assert provider["folder"] == "Glassbox" and "folderUid" not in provider
    assert provider["allowUiUpdates"] is False
    service = grafana_service()
    path = grafana_expand(provider["options"]["path"], environment(service))
    sources = {target: source for source, target in mounts(service)}
    assert path in sources, f"the provider reads {path!r}, which docker-compose.yml does not mount"
    assert (ROOT / sources[path]).resolve() == DASHBOARDS.resolve()


def run_grafana_entrypoint(service: dict[str, Any], tmp_path: Path, runbook_url: str) -> Path:
    """Run the compose Grafana service's entrypoint script here, as its shell would (compose's "$$" is "$"), with
    the mounted provisioning read from this checkout and Grafana itself left out; returns what Grafana reads."""
    entrypoint = service["entrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-ec"] and entrypoint[2].rstrip().endswith("exec /run.sh")
    sources = {target: source for source, target in mounts(service)}
    mounted = next(t for t, s in sources.items() if (ROOT / s).resolve() == PROVISIONING.resolve())
    target = environment(service)["GF_PATHS_PROVISIONING"]
    script = entrypoint[2].replace("$$", "$").replace("exec /run.sh", "true")
    script = script.replace(target, str(tmp_path / "provisioning")).replace(mounted, str(PROVISIONING))
    env = {"PATH": os.environ["PATH"], "GLASSBOX_RUNBOOK_URL": runbook_url}
    tmp_path.mkdir(parents=True, exist_ok=True)  # /tmp in the container
    subprocess.run(["/bin/sh", "-ec", script], check=True, env=env, capture_output=True, text=True)
    return tmp_path / "provisioning"


def test_compose_grafana_reads_this_provisioning_with_absolute_runbook_links(tmp_path: Path) -> None:
    """The entrypoint copies the mounted provisioning to where Grafana looks and makes every runbook link
    absolute (Grafana expands no variables in annotations: a repository-relative link is broken in a notification)."""
    url = "https://docs.example.com/glassbox/runbooks.md"
    for compose_file in ("docker-compose.yml", "docker-compose.scale.yml"):
        service = yaml.safe_load((ROOT / compose_file).read_text())["services"]["grafana"]
        assert environment(service)["GLASSBOX_RUNBOOK_URL"].startswith("${GLASSBOX_RUNBOOK_URL:-file://${PWD}/")
        rendered = run_grafana_entrypoint(service, tmp_path / compose_file, url)
        for path in PROVISIONING.rglob("*.yaml"):
            copy = rendered / path.relative_to(PROVISIONING)
            if path.name != "rules.yaml":
                assert copy.read_text() == path.read_text(), path.name
        rules = load(rendered / "alerting" / "rules.yaml")
        links = [r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"]]
        assert links and all(link.startswith(url + "#") for link in links), compose_file
        assert "GLASSBOX_RUNBOOK_URL" not in (rendered / "alerting" / "rules.yaml").read_text()


def test_dashboard_files_are_valid_json_with_a_uid_and_title() -> None:
    for path in DASHBOARDS.rglob("*"):
        if path.is_file() and path.suffix == ".json":
            dashboard = load(path)
            assert dashboard.get("title") and dashboard.get("uid"), path.name
        elif path.is_file():
            assert path.name == "README.md", f"{path.name}: Grafana loads only .json dashboards"


# --- secrets --------------------------------------------------------------------------------------


def test_provisioning_holds_no_secrets() -> None:
    for path in [*provisioning_files(), *DASHBOARDS.rglob("*.json")]:
        document = load(path)
        for key in keys(document):
            assert not SECRET_KEYS.search(key), f"{path.name}: {key} does not belong in a committed file"
        for value in strings(document):
            assert not re.search(r"(?i)(password|secret|token)\s*[:=]", value), f"{path.name}: {value!r}"


def test_grafana_opens_on_the_home_dashboard_in_compose_and_natively(tmp_path: Path) -> None:
    from stack.components import component_env

    home = DASHBOARDS / "glassbox-home.json"
    assert load(home)["uid"] == "glassbox-home"
    for compose_file in ("docker-compose.yml", "docker-compose.scale.yml"):
        service = yaml.safe_load((ROOT / compose_file).read_text())["services"]["grafana"]
        path = environment(service)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        directory, _, name = path.rpartition("/")
        sources = {target: source for source, target in mounts(service)}
        assert (ROOT / sources[directory] / name).resolve() == home.resolve(), compose_file
    env = {"GLASSBOX_LISTEN_ADDRESS": "127.0.0.1", "GLASSBOX_GRAFANA_PORT": "3000"}
    native = component_env("grafana", {**env, "GLASSBOX_GRAFANA_ADMIN_PASSWORD": "x"}, tmp_path)
    assert Path(native["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]).resolve() == home.resolve()
    # The first screen answers both questions: the first row is health, the second cost.
    rows = [p["title"] for p in load(home)["panels"] if p["type"] == "row"]
    assert rows[:2] == ["Is it healthy", "What is it costing"]
