"""A local fake of the 企业微信 group robot webhook (platforms/notifications.md §1.4; stdlib only, no Django).

Listens on 127.0.0.1 only. ``POST /cgi-bin/webhook/send?key=<key>`` answers like the platform (HTTP 200 with
``{"errcode", "errmsg"}``):
- unknown or missing key → 93000; body not JSON / unknown msgtype → 40008; empty content → 44004;
- content over the byte limit (UTF-8: text 2048, markdown 4096) → 40058;
- the 21st accepted-or-attempted message of a key within any rolling 60 s → 45009 (rejected posts are not recorded
  as messages; like the platform, a rejected post does not count toward the window);
- otherwise 0 and the message is recorded with its arrival time.

Keys: a fixed set given at start, or ``accept_any_key=True`` (the demo) to accept every key.

Control API (loopback, no auth; for tests, the demo and the benchmark), JSON:
``GET /__sandbox__/messages[?key=]`` recorded messages, ``GET /__sandbox__/rejections``, ``POST /__sandbox__/reset``,
``POST /__sandbox__/keys`` ``{"add": [...], "remove": [...]}``, ``POST /__sandbox__/clock`` ``{"advance": s}``.
The same operations exist as Python methods (``messages()``, ``reset()``, ``add_key()``, ``advance_clock()``).
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"
WEBHOOK_PATH = "/cgi-bin/webhook/send"
LIMITS = {"text": 2048, "markdown": 4096}
WINDOW_SECONDS = 60.0
PER_WINDOW = 20
MAX_BODY = 256 * 1024
DEMO_ROBOT_KEY = "sandbox-demo-robot-key-0000"

ERRMSG = {
    0: "ok",
    93000: "invalid webhook url, hint: [sandbox]",
    45009: "api freq out of limit, hint: [sandbox]",
    40008: "invalid message type, hint: [sandbox]",
    44004: "text content is empty, hint: [sandbox]",
    40058: "content exceed max length, hint: [sandbox]",
}


@dataclass(frozen=True)
class RecordedMessage:
    key: str
    msgtype: str
    content: str
    received_at: float  # sandbox clock (seconds since the epoch, plus any advance)
    received_monotonic: float  # time.monotonic() when it arrived (for latency measurements in-process)
    mentioned_list: tuple[str, ...] = ()


class WeComRobotSandbox:
    """The fake robot server. ``start()`` serves in a background thread; ``serve_forever()`` in the caller's."""

    def __init__(
        self,
        *,
        keys: Iterable[str] = (),
        accept_any_key: bool = False,
        port: int = 0,
        poll_interval: float = 0.05,
        on_message: Callable[[RecordedMessage], None] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._initial_keys = frozenset(keys)
        self._keys: set[str] = set(self._initial_keys)
        self.accept_any_key = accept_any_key
        self._clock_offset = 0.0
        self._messages: list[RecordedMessage] = []
        self._rejections: list[dict[str, Any]] = []
        self._windows: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._poll_interval = poll_interval
        self.on_message = on_message
        self._server = _Server((LOOPBACK, port), _Handler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def webhook_url(self, key: str) -> str:
        return f"{self.base_url}{WEBHOOK_PATH}?key={key}"

    def start(self) -> WeComRobotSandbox:
        self._thread = threading.Thread(target=self.serve_forever, name="wecom-robot-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=self._poll_interval)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    # --- control ----------------------------------------------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self._clock_offset += float(seconds)

    def reset(self) -> None:
        with self._lock:
            self._keys = set(self._initial_keys)
            self._messages.clear()
            self._rejections.clear()
            self._windows.clear()
            self._clock_offset = 0.0

    def add_key(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def remove_key(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)

    def messages(self, key: str | None = None) -> list[RecordedMessage]:
        with self._lock:
            return [m for m in self._messages if key is None or m.key == key]

    def rejections(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rejections)

    # --- the webhook ------------------------------------------------------------------------------------------

    def handle_webhook(self, key: str, body: bytes) -> dict[str, Any]:
        errcode, message = self._check(key, body)
        with self._lock:
            if errcode == 0 and message is not None:
                self._messages.append(message)
            else:
                self._rejections.append({"key": key, "errcode": errcode, "at": self.now()})
        if errcode == 0 and message is not None and self.on_message is not None:
            self.on_message(message)
        return {"errcode": errcode, "errmsg": ERRMSG[errcode]}

    def _check(self, key: str, body: bytes) -> tuple[int, RecordedMessage | None]:
        with self._lock:
            if not key or (not self.accept_any_key and key not in self._keys):
                return 93000, None
        try:
            payload = json.loads(body.decode("utf-8"))
            msgtype = payload["msgtype"]
            part = payload[msgtype]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return 40008, None
        if msgtype not in LIMITS or not isinstance(part, dict):
            return 40008, None
        content = part.get("content")
        if not isinstance(content, str) or not content.strip():
            return 44004, None
        if len(content.encode("utf-8")) > LIMITS[msgtype]:
            return 40058, None
        with self._lock:
            now = self.now()
            window = self._windows[key]
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= PER_WINDOW:
                return 45009, None
            window.append(now)
            mentioned = part.get("mentioned_list") if msgtype == "text" else None
            return 0, RecordedMessage(
                key=key,
                msgtype=msgtype,
                content=content,
                received_at=now,
                received_monotonic=time.monotonic(),
                mentioned_list=tuple(str(x) for x in mentioned or ()),
            )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: WeComRobotSandbox


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # request lines carry the robot key

    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return b""
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/__sandbox__/messages":
            key = (query.get("key") or [None])[0]
            self._send_json(200, {"messages": [asdict(m) for m in sandbox.messages(key)]})
        elif parts.path == "/__sandbox__/rejections":
            self._send_json(200, {"rejections": sandbox.rejections()})
        elif parts.path == WEBHOOK_PATH:
            self._send_json(200, {"errcode": 40008, "errmsg": "require POST method, hint: [sandbox]"})
        else:
            self._send_json(404, {"errcode": 404, "errmsg": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        body = self._body()
        if parts.path == WEBHOOK_PATH:
            key = (query.get("key") or [""])[0]
            self._send_json(200, sandbox.handle_webhook(key, body))
            return
        try:
            data = json.loads(body.decode("utf-8")) if body else {}
        except ValueError:
            self._send_json(400, {"error": "body must be JSON"})
            return
        if parts.path == "/__sandbox__/reset":
            sandbox.reset()
            self._send_json(200, {"ok": True})
        elif parts.path == "/__sandbox__/keys":
            for key in data.get("add", []):
                sandbox.add_key(str(key))
            for key in data.get("remove", []):
                sandbox.remove_key(str(key))
            self._send_json(200, {"ok": True})
        elif parts.path == "/__sandbox__/clock":
            sandbox.advance_clock(float(data.get("advance", 0)))
            self._send_json(200, {"now": sandbox.now()})
        else:
            self._send_json(404, {"errcode": 404, "errmsg": "not found"})
