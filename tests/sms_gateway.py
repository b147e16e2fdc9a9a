"""A small real SMS gateway for tests: an HTTP server on loopback (http.server, in a thread) that
keeps every JSON request it receives, and the SMS outbox reader for the demo's file outbox."""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CODE = re.compile(r"\b(\d{6})\b")


class Gateway:
    """`url`, `received` ([{"headers": …, "body": …}]); `status` and `delay` change its answers."""

    def __init__(self, token: str = "gateway-token-for-tests"):
        self.token = token
        self.received: list[dict] = []
        self.status = 202
        self.delay = 0.0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                gateway.received.append({"path": self.path, "headers": dict(self.headers),
                                         "body": json.loads(body or b"null")})
                if gateway.delay:
                    time.sleep(gateway.delay)
                authorised = self.headers.get("Authorization") == f"Bearer {gateway.token}"
                status = gateway.status if authorised else 401
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": "msg-1"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def last_code(self, to: str) -> str:
        found = [r["body"] for r in self.received if r["body"] and r["body"].get("to") == to]
        assert found, f"no SMS to {to}; have {[r['body'] for r in self.received]}"
        return CODE.search(found[-1]["text"]).group(1)


def outbox_messages(folder: Path) -> list[dict]:
    """The SMS in the file outbox, oldest first."""
    if not Path(folder).exists():
        return []
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(Path(folder).glob("*.json"), key=lambda p: p.stat().st_mtime_ns)]


def outbox_code(folder: Path, to: str) -> str:
    """The code in the newest SMS to `to` in the file outbox."""
    found = [m for m in outbox_messages(folder) if m["to"] == to]
    assert found, f"no SMS to {to} in {folder}"
    return CODE.search(found[-1]["text"]).group(1)
