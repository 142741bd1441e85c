"""The openai backend's own HTTP/1.1 client: keep-alive, answer framings, proxies, the httpx fallback.

Every server here is real and listens on 127.0.0.1: the safetylens test server (uvicorn), and for
framings uvicorn never sends (chunked bodies, gzip, a body ended by closing the connection) a small
``http.server`` that answers exactly the bytes a test gives it.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from safetylens.errors import ConfigError, ModelError
from safetylens.models.base import Decoding, GenerationRequest
from safetylens.models.openai_compat import OpenAIBackend, _direct_http
from safetylens.testing.openai_server import InstantBackend, OpenAIServer

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}
SHORT = Decoding(temperature=0.0, max_new_tokens=4)
COMPLETION = json.dumps(
    {"choices": [{"index": 0, "text": "Hello", "finish_reason": "stop"}], "usage": {"completion_tokens": 1}}
).encode()


def _request(i: int = 0) -> GenerationRequest:
    return GenerationRequest(f"prompt {i}", SHORT)


def test_idle_connections_closed_by_the_server_are_replaced() -> None:
    instant = InstantBackend("Fine.")
    with (
        OpenAIServer(instant, instant, keep_alive_s=1) as srv,
        OpenAIBackend([srv.base_url], "instant", max_concurrency=4, max_retries=0, **FAST) as backend,  # type: ignore[arg-type]
    ):
        assert backend.generate([_request(i) for i in range(8)])[0].text == "Fine"
        time.sleep(1.6)  # the server closes the idle kept-alive connections
        got = backend.generate([_request(i) for i in range(8, 16)])
        # No retry budget: the new connections were opened inside the same attempt.
        assert [g.text for g in got] == ["Fine"] * 8
        assert all(r["errors"] == 0 for r in backend.replica_stats())


def test_transport_httpx_gives_the_same_answers() -> None:
    instant = InstantBackend("Fine.")
    with (
        OpenAIServer(instant, instant) as srv,
        OpenAIBackend([srv.base_url], "instant", transport="httpx", **FAST) as backend,  # type: ignore[arg-type]
    ):
        assert [g.text for g in backend.generate([_request(i) for i in range(4)])] == ["Fine"] * 4
    with pytest.raises(ConfigError, match="unknown transport"):
        OpenAIBackend([srv.base_url], "instant", transport="h2", probe=False)  # type: ignore[arg-type]


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_proxy_from_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    instant = InstantBackend("Fine.")
    with OpenAIServer(instant, instant) as srv:
        # A proxy that is down: requests that honour it fail, requests that bypass it succeed.
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_dead_port()}")
        backend = OpenAIBackend([srv.base_url], "instant", probe=False, max_retries=0, **FAST)  # type: ignore[arg-type]
        try:
            with pytest.raises(ModelError, match="connection error"):
                backend.generate([_request()])
        finally:
            backend.close()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with OpenAIBackend([srv.base_url], "instant", probe=False, max_retries=0, **FAST) as direct:  # type: ignore[arg-type]
            assert direct.generate([_request()])[0].text == "Fine"


def test_which_urls_use_the_built_in_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _direct_http("http://127.0.0.1:8000/v1")
    assert not _direct_http("https://api.example.com/v1")  # TLS: httpx
    assert not _direct_http("http://user:secret@127.0.0.1:8000/v1")  # basic auth: httpx
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example:3128")
    assert not _direct_http("http://10.0.0.5:8000/v1")
    monkeypatch.setenv("NO_PROXY", "10.0.0.5,localhost")
    assert _direct_http("http://10.0.0.5:8000/v1")
    assert not _direct_http("http://10.0.0.6:8000/v1")


Answer = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture()
def raw_server() -> Iterator[tuple[list[Answer], str]]:
    """A server whose answers are written by the test (one function per request, in order)."""
    answers: list[Answer] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            answers.pop(0)(self)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield answers, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _chunked(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for start in range(0, len(COMPLETION), 7):
        piece = COMPLETION[start : start + 7]
        handler.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
    handler.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")


def _gzip(handler: BaseHTTPRequestHandler) -> None:
    body = gzip.compress(COMPLETION)
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _until_close(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(COMPLETION)
    handler.close_connection = True


def _continue_then_answer(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(COMPLETION)))
    handler.end_headers()
    handler.wfile.write(COMPLETION)


def _error_503(handler: BaseHTTPRequestHandler) -> None:
    body = b'{"error": {"message": "busy"}}'
    handler.send_response(503)
    handler.send_header("Retry-After", "0")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _garbage(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"SPDY/3 200 OK\r\n\r\n")
    handler.close_connection = True


def test_answer_framings(raw_server: tuple[list[Answer], str]) -> None:
    answers, url = raw_server
    answers.extend([_chunked, _gzip, _until_close, _continue_then_answer, _error_503, _chunked])
    with OpenAIBackend([url], "raw", probe=False, max_concurrency=1, **FAST) as backend:  # type: ignore[arg-type]
        # One request at a time, so the answers are used in order; the 503 is retried.
        texts = [backend.generate([_request(i)])[0].text for i in range(5)]
    assert texts == ["Hello"] * 5
    assert answers == []


def test_an_answer_that_is_not_http_is_a_connection_error(raw_server: tuple[list[Answer], str]) -> None:
    answers, url = raw_server
    answers.append(_garbage)
    with (
        OpenAIBackend([url], "raw", probe=False, max_retries=0, **FAST) as backend,  # type: ignore[arg-type]
        pytest.raises(ModelError, match=r"connection error: not an HTTP/1\.x answer"),
    ):
        backend.generate([_request()])
