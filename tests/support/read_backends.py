"""Loki and Tempo as far as `glassbox story` reads them, on one loopback port, for tests that need answers a real
backend cannot be made to give (a trace Tempo lost, a search index that lags)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from glassbox.stack_addresses import Endpoints
from tests.conftest import free_port

# (path, query parameters) -> (HTTP status, JSON body)
Answer = Callable[[str, dict[str, list[str]]], tuple[int, Any]]


class ReadBackends:
    """Answers every GET with ``answer(path, params)`` and keeps each LogQL/TraceQL query it was asked
    (``queries``). Use it in a ``with`` block: it serves inside it and is stopped after."""

    def __init__(self, answer: Answer, loki: bool = True) -> None:
        self.queries: list[str] = []
        self._loki = loki
        backends = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = parse_qs(parts.query)
                backends.queries.extend(params.get("query", []) + params.get("q", []))
                status, body = answer(parts.path, params)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def endpoints(self) -> Endpoints:
        """Tempo here, and Loki too (or, with ``loki=False``, at a port nobody listens on)."""
        port = str(self._server.server_address[1])
        return Endpoints.from_environ(
            {"GLASSBOX_TEMPO_PORT": port, "GLASSBOX_LOKI_PORT": port if self._loki else str(free_port())}
        )

    def __enter__(self) -> ReadBackends:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
