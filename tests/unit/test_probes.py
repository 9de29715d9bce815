"""`ngp status`'s URL probes against real local sockets: one that answers, one closed, two
that accept and never answer, and outputs that are not URLs."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ngp import engine

BOUND = 3.0  # the README: the env's URLs are "asked at once with a 3 s bound"


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 503 if self.path.startswith("/busy") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def answering() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def silent() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    return port


def test_probes_say_what_answers_and_what_does_not_all_at_once_within_the_bound():
    with answering() as up, silent() as mute, silent() as mute2:
        outputs = {
            "dcos_url": f"http://127.0.0.1:{up}/",
            "busy_url": f"http://127.0.0.1:{up}/busy",
            "vpn_url": f"http://127.0.0.1:{closed_port()}/",
            "dashboards_url": f"http://127.0.0.1:{mute}/",
            "kibana_url": f"http://127.0.0.1:{mute2}/",
            # Not probed: not an http(s) URL, not a string, not named *_url.
            "registry_url": "registry.internal:5000",
            "count_url": 3,
            "homepage": f"http://127.0.0.1:{up}/",
        }
        started = time.monotonic()
        found = engine.probe_urls(outputs)
        took = time.monotonic() - started
    assert found == {
        "busy_url": "answers (503)",
        "dashboards_url": "no answer (ReadTimeout)",
        "dcos_url": "answers (200)",
        "kibana_url": "no answer (ReadTimeout)",
        "vpn_url": "no answer (ConnectError)",
    }
    # Each silent one takes the whole bound: asked one after the other, two take 6 s.
    assert BOUND - 0.5 <= took < BOUND + 1.5, took


def test_no_url_no_probe():
    assert engine.probe_urls({"vpc_id": "vpc-1", "note": "http://x"}) == {}
