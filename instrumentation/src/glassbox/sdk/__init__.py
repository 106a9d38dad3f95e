"""The OpenTelemetry SDK the glassbox way: distro, pipeline, span processor,
sampling, logs, metric labels, the metrics endpoint and shutdown.
"""
