#!/usr/bin/env python3
"""TEST DOUBLE for the platform's web portal (Dashboard/WebUI; no such portal can run offline
here). Lives only under tests/. Like the real one for what seed 000 #13 needs: at start it reads
grafana's URL from the `grafana:` key of /etc/Dashboard/local.yaml (DASHBOARD_CONFIG), and
GET /grafana/ proxies to that URL: 200 with grafana's answer, or 502 Bad Gateway when grafana
cannot be reached there. Serves on 0.0.0.0:8088 (DASHBOARD_PORT). Run by dashboard.service."""

import os
import re
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

CONFIG = os.environ.get("DASHBOARD_CONFIG", "/etc/Dashboard/local.yaml")
PORT = int(os.environ.get("DASHBOARD_PORT", "8088"))
with open(CONFIG, encoding="utf-8") as handle:
    GRAFANA = re.search(r"^\s*grafana\s*:\s*['\"]?([^'\"\s#]+)", handle.read(), re.M).group(1)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if not self.path.startswith("/grafana"):
            code, body = 200, b"dashboard\n"
        else:
            try:
                with urllib.request.urlopen(GRAFANA, timeout=3) as answer:
                    code, body = 200, answer.read()
            except (urllib.error.URLError, OSError) as exc:
                code, body = 502, f"502 Bad Gateway: grafana {GRAFANA}: {exc}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


HTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
