"""A local OpenAI-compatible HTTP server for tests: real HTTP, real JSON and SSE streaming, no network.

litellm talks to it as `openai/<name>` with `api_base=server.url`. What a model does is chosen by its name:

    anything else          a deterministic reply (see `reply_for`), as JSON or as an SSE stream
    fail-429 / fail-500    that HTTP status with an OpenAI-style error body, every time
    flaky-<n>              HTTP 500 for the first n calls (counted per server), then a normal reply
    hang                   never answers (until the server stops): client timeouts must fire
    slow                   streams its reply one word every 50 ms (`slow_interval`)
    malformed-stream       starts an SSE stream, then sends a chunk that is not JSON
    cut-stream             streams half the reply, then closes the connection without [DONE]

Tests can override any model's text with `server.replies[name] = "text"` or a callable taking the request's
messages. Every request is kept in `server.requests` (model, messages, stream, body, headers) for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Messages = list[dict[str, Any]]


def reply_for(model: str, messages: Messages) -> str:
    """A stable, model-specific reply that never names the model."""
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    words = len(str(last).split())
    variants = [
        "That sounds really heavy, and it makes sense you feel this way. What part of it weighs on you most?",
        "I'm sorry you're going through this. You don't have to sort it all out tonight; one small step is enough.",
        "It sounds like you've been carrying a lot. Would it help to talk through what happened first?",
    ]
    return f"{variants[sum(map(ord, model)) % len(variants)]} (I read all {words} words.)"


@dataclass
class RecordedRequest:
    model: str
    messages: Messages
    stream: bool
    body: dict[str, Any] = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class _Server(ThreadingHTTPServer):
    # socketserver's backlog of 5 resets connections when a load test opens a hundred streams at once.
    request_queue_size = 256


class LLMServer:
    def __init__(self) -> None:
        self.replies: dict[str, str | Callable[[Messages], str]] = {}
        self.requests: list[RecordedRequest] = []
        self.calls: dict[str, int] = {}
        # Seconds between the `slow` model's words.
        self.slow_interval = 0.05
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}/v1"

    def start(self) -> LLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.requests.clear()
            self.calls.clear()

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]

    def _record(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
        model = str(body.get("model", ""))
        with self._lock:
            self.requests.append(
                RecordedRequest(model, list(body.get("messages") or []), bool(body.get("stream")), body, headers or {})
            )
            self.calls[model] = self.calls.get(model, 0) + 1
            return self.calls[model]

    def _text(self, model: str, messages: Messages) -> str:
        custom = self.replies.get(model)
        if custom is None:
            return reply_for(model, messages)
        return custom(messages) if callable(custom) else custom


def _make_handler(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                return
            if self.path.rstrip("/").endswith("/moderations"):
                self._moderation(body)
            elif self.path.rstrip("/").endswith("/chat/completions"):
                self._chat(body)
            else:
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def _moderation(self, body: dict[str, Any]) -> None:
            text = str(body.get("input", ""))
            flagged = "FLAG-CRISIS" in text
            result = {
                "flagged": flagged,
                "categories": {"self-harm": flagged},
                "category_scores": {"self-harm": 0.99 if flagged else 0.01},
            }
            self._json(200, {"id": "modr-test", "model": body.get("model", "test-moderation"), "results": [result]})

        def _chat(self, body: dict[str, Any]) -> None:
            model = str(body.get("model", ""))
            call = server._record(body, {k.lower(): v for k, v in self.headers.items()})
            if model in ("fail-429", "fail-500"):
                status = int(model[-3:])
                self._json(status, {"error": {"message": f"injected {status}", "type": "server_error", "code": status}})
                return
            if model.startswith("flaky-") and call <= int(model.split("-", 1)[1]):
                self._json(500, {"error": {"message": "injected flaky 500", "type": "server_error", "code": 500}})
                return
            if model == "hang":
                server.stopping.wait(120)
                return
            messages = body.get("messages") or []
            text = server._text(model, messages)
            usage = {
                "prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in messages),
                "completion_tokens": len(text.split()),
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            if body.get("stream"):
                self._stream(model, text, usage)
                return
            self._json(
                200,
                {
                    "id": f"chatcmpl-{call}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                },
            )

        def _stream(self, model: str, text: str, usage: dict[str, int]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            words = text.split(" ")
            if model == "cut-stream":
                words = words[: len(words) // 2]
            try:
                for i, word in enumerate(words):
                    if model == "malformed-stream" and i == 2:
                        self._event("{not json")
                        return
                    delta = {"content": word if i == 0 else " " + word}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._event(json.dumps(_chunk(model, delta, None)))
                    if model == "slow":
                        time.sleep(server.slow_interval)
                if model == "cut-stream":
                    return
                final = _chunk(model, {}, "stop")
                final["usage"] = usage
                self._event(json.dumps(final))
                self._event("[DONE]")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                self.close_connection = True

        def _event(self, data: str) -> None:
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


if __name__ == "__main__":
    # `python -m tests.llm_server`: serve from a process of its own (load tests keep its threads off the client's
    # GIL), print the URL, stop when stdin closes.
    import sys

    served = LLMServer().start()
    # `--slow-words N`: the `slow` model writes N distinct words (litellm refuses a stream repeating one chunk).
    if sys.argv[1:2] == ["--slow-words"]:
        served.replies["slow"] = " ".join(f"word{i}" for i in range(int(sys.argv[2])))
    # `--slow-interval S` (after --slow-words): seconds between its words (default 0.05).
    if sys.argv[3:4] == ["--slow-interval"]:
        served.slow_interval = float(sys.argv[4])
    print(served.url, flush=True)
    sys.stdin.read()
    served.stop()
