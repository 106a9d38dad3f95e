"""Glassbox's Grafana dashboards and alert rules, as code.

Every metric, label and field name comes from ``glassbox.conventions``. ``python -m grafana.generate`` writes
the dashboards (grafana/dashboards/*.json), the Grafana-managed alert rules, contact points and notification
policies (grafana/provisioning/alerting/*.yaml) and the same rules in Prometheus form with their unit tests
(prometheus/rules/). The generated files are committed; a test fails when regenerating would change them.
"""
