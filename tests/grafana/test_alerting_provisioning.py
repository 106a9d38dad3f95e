"""Every set of alerting files Glassbox provisions or documents loads in Grafana, and its rules share the
dashboards' folder.

Grafana refuses a whole provisioning directory when one of these checks fails (the source files are named at
each check; paths in grafana/grafana). The sets: the provisioned grafana/provisioning/alerting/, and that
directory with every file of grafana/alerting-examples/ copied over the file of the same name (what
docs/runbooks.md and docs/dashboards.md say to do).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import alerts

ROOT = Path(__file__).resolve().parents[2]
ALERTING = ROOT / "grafana" / "provisioning" / "alerting"
EXAMPLES = ROOT / "grafana" / "alerting-examples"
DASHBOARD_PROVIDERS = ROOT / "grafana" / "provisioning" / "dashboards" / "glassbox.yaml"
# pkg/util/shortid_generator.go (ValidateUID): what a uid may be.
UID = re.compile(r"[a-zA-Z0-9\-_]{1,40}")
# The contact point settings Grafana requires per type (each notifier's settings validation).
REQUIRED_SETTINGS = {"webhook": ("url",), "email": ("addresses",), "slack": ("url",)}


def alerting_set(name: str, tmp_path: Path) -> Path:
    directory = tmp_path / name
    shutil.copytree(ALERTING, directory)
    if name == "examples copied over":
        for example in EXAMPLES.iterdir():
            assert (ALERTING / example.name).exists(), f"{example.name} replaces no provisioned file"
            shutil.copy(example, directory / example.name)
    return directory


def documents(directory: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(directory.iterdir()) if p.suffix in (".yaml", ".yml")]


def routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    return [route, *(r for child in route.get("routes", []) for r in routes(child))]


def problems(directory: Path) -> list[str]:
    """What Grafana would refuse in the alerting files of ``directory``."""
    found: list[str] = []
    files = documents(directory)
    points = [p for d in files for p in d.get("contactPoints", [])]
    # pkg/services/provisioning/alerting/contact_point_types.go (ContactPointV1/ReceiverV1.mapToModel): a name,
    # and per receiver a uid, a type and settings; the notifier then checks its settings.
    names = [str(p.get("name", "")).strip() for p in points]
    found += [f"contact point without a name: {p}" for p, n in zip(points, names, strict=True) if not n]
    found += [f"contact point {n!r} defined twice" for n in set(names) if names.count(n) > 1]
    receivers = [r for p in points for r in p.get("receivers", [])]
    uids = [str(r.get("uid", "")).strip() for r in receivers]
    found += [f"receiver uid {u!r} is not a valid uid" for u in uids if not UID.fullmatch(u)]
    found += [f"receiver uid {u!r} used twice" for u in set(uids) if uids.count(u) > 1]
    for receiver in receivers:
        settings = receiver.get("settings") or {}
        missing = [k for k in REQUIRED_SETTINGS.get(receiver.get("type", ""), ()) if not settings.get(k)]
        found += [f"receiver {receiver.get('uid')}: no type"] if not receiver.get("type") else []
        found += [f"receiver {receiver.get('uid')}: no {k}" for k in missing]
    # pkg/services/ngalert/api/tooling/definitions/alertmanager_validation.go (Route.Validate, ValidateChild,
    # ValidateReceivers), applied by the notification policy service: a default receiver and no matchers at the
    # root, no label twice in a group_by, "..." alone, and every receiver a contact point.
    for document in files:
        for policy in document.get("policies", []):
            if not policy.get("receiver"):
                found.append("the root policy has no default receiver")
            if any(policy.get(k) for k in ("matchers", "object_matchers", "match", "match_re")):
                found.append("the root policy has matchers")
            for route in routes(policy):
                group_by = route.get("group_by", [])
                if len(set(group_by)) != len(group_by) or ("..." in group_by and len(group_by) > 1):
                    found.append(f"route to {route.get('receiver')}: group_by {group_by}")
                if route.get("receiver") and route["receiver"] not in names:
                    found.append(f"route to {route['receiver']!r}, which no contact point of this set is")
    # pkg/services/provisioning/alerting/rules_types.go (AlertRuleGroupV1.MapToModel, AlertRuleV1.mapToModel) and
    # the rule store: a folder and a name per group, per rule a valid uid unique in the org, a title unique in its
    # folder, data, and a condition naming one of the data's refIds.
    rules = [(g, r) for d in files for g in d.get("groups", []) for r in g.get("rules", [])]
    groups = [g for d in files for g in d.get("groups", [])]
    found += [f"group {g.get('name')}: no folder" for g in groups if not str(g.get("folder", "")).strip()]
    rule_uids = [str(r.get("uid", "")) for _, r in rules]
    found += [f"rule uid {u!r} is not a valid uid" for u in rule_uids if not UID.fullmatch(u)]
    found += [f"rule uid {u!r} used twice" for u in set(rule_uids) if rule_uids.count(u) > 1]
    titles = [(g["folder"], r.get("title")) for g, r in rules]
    found += [f"rule title {t} twice in its folder" for t in set(titles) if titles.count(t) > 1]
    for _, rule in rules:
        refs = {q.get("refId") for q in rule.get("data", [])}
        if not refs or rule.get("condition") not in refs:
            found.append(f"rule {rule.get('title')}: condition {rule.get('condition')} is none of {refs}")
    return found


@pytest.mark.parametrize("name", ["provisioned", "examples copied over"])
def test_every_documented_alerting_set_loads_in_grafana(tmp_path: Path, name: str) -> None:
    directory = alerting_set(name, tmp_path)
    assert problems(directory) == []
    # Not vacuous: the set holds contact points, a policy routing to them, and every rule.
    files = documents(directory)
    assert [p for d in files for p in d.get("policies", [])], name
    assert len([r for d in files for g in d.get("groups", []) for r in g["rules"]]) == len(alerts.ALERTS)


def test_the_checks_catch_what_grafana_refuses(tmp_path: Path) -> None:
    """Each check fails on the mistake it is for: an example policy left pointing at the webhook, a contact point
    twice, a receiver without its URL, a duplicated group_by label."""
    directory = alerting_set("examples copied over", tmp_path)
    policies = yaml.safe_load((directory / "policies.yaml").read_text())
    policies["policies"][0]["receiver"] = alerts.CONTACT_POINT
    policies["policies"][0]["group_by"] = ["alertname", "alertname"]
    (directory / "policies.yaml").write_text(yaml.safe_dump(policies))
    points = yaml.safe_load((directory / "contact-points.yaml").read_text())
    points["contactPoints"].append(points["contactPoints"][0])
    points["contactPoints"][1]["receivers"][0]["settings"].pop("url")
    (directory / "contact-points.yaml").write_text(yaml.safe_dump(points))
    found = "\n".join(problems(directory))
    for expected in ("'glassbox-webhook', which no contact point", "group_by", "defined twice", "used twice", "no url"):
        assert expected in found, found


def test_the_examples_are_documented_as_copied_over_the_provisioned_files() -> None:
    for doc in ("docs/runbooks.md", "docs/dashboards.md"):
        text = " ".join((ROOT / doc).read_text().split())
        assert "grafana/alerting-examples/" in text and "grafana/provisioning/alerting/" in text, doc


def test_alert_rules_and_dashboards_share_one_folder() -> None:
    """Grafana provisions the alert rules before the dashboards, and finds or creates a rule group's folder by its
    title (pkg/services/provisioning/alerting/rules_provisioner.go, getOrCreateFolderByTitle: a new folder gets a
    random uid; rules_types.go: a group has `folder`, no uid key). A dashboard provider with a folderUid looks only
    that uid up (pkg/services/provisioning/dashboards/file_reader.go, getOrCreateFolder) and creates a second
    folder of the same title. So the provider names the same title and no uid: it finds the rules' folder."""
    rules = yaml.safe_load((ALERTING / "rules.yaml").read_text())
    folders = {group["folder"] for group in rules["groups"]}
    assert all(not any(k.lower().startswith("folderuid") for k in group) for group in rules["groups"])
    (provider,) = yaml.safe_load(DASHBOARD_PROVIDERS.read_text())["providers"]
    assert folders == {provider["folder"]} == {alerts.FOLDER}
    assert "folderUid" not in provider, "a folderUid makes Grafana create a second folder of the same title"
    assert provider["options"].get("foldersFromFilesStructure") is False
