"""An alert webhook receiver for tests: it keeps every notification Alertmanager (or Grafana) posts to it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Listens on 127.0.0.1 (a free port); ``notifications`` holds each posted JSON body, in arrival order."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def alerts(self, status: str = "firing") -> list[dict[str, Any]]:
        """Every alert of every notification so far with that status (the webhook payload's ``alerts``)."""
        with self._lock:
            notifications = list(self.notifications)
        return [alert for n in notifications for alert in n.get("alerts", []) if alert.get("status") == status]

    def firing(self) -> set[str]:
        return {alert["labels"]["alertname"] for alert in self.alerts()}

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
