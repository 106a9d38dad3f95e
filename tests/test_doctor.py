"""`glassbox doctor`'s reading of the collector's own metrics (the end-to-end runs are in test_stack_integration)."""

from __future__ import annotations

from glassbox.doctor import accepted, sum_samples

COLLECTOR_TEXT = """\
# HELP otelcol_receiver_accepted_spans Number of spans successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 5
otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 2
otelcol_receiver_accepted_log_records{receiver="otlp",transport="http"} 4
otelcol_exporter_queue_size{data_type="traces",exporter="otlp_http/tempo"} 3
otelcol_exporter_queue_size{data_type="logs",exporter="otlp_http/loki"} 1
otelcol_exporter_queue_size_extra{exporter="otlp_http/tempo"} 100
"""


def test_counters_are_summed_by_their_name_as_written_without_a_total_suffix() -> None:
    assert accepted(COLLECTOR_TEXT) == {"spans": 7.0, "log_records": 4.0, "metric_points": 0.0}


def test_label_filters_select_one_exporter_and_names_match_whole() -> None:
    assert sum_samples(COLLECTOR_TEXT, "otelcol_exporter_queue_size", exporter="otlp_http/tempo") == 3.0
    assert sum_samples(COLLECTOR_TEXT, "otelcol_exporter_queue_size") == 4.0
    assert sum_samples("", "otelcol_exporter_queue_size") == 0.0
