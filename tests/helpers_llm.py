"""A local LLM server for tests: OpenAI chat completions and Anthropic messages on 127.0.0.1.

Each request is answered by ``server.behave(request) -> Reply`` (grounded by default); the server
records what it received and the tokens it reported, so tests compare the monitor with what was
really sent. Real client libraries (openai, anthropic) talk to it; nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MOVIE = re.compile(r"- Recommended movie: (.+)")


@dataclass
class Reply:
    """What the server answers: ``text`` (or a raw ``body``), after ``delay`` seconds, with ``status``."""

    text: str | None = None
    delay: float = 0.0
    status: int = 200
    body: dict[str, Any] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


def movie_of(request: dict[str, Any]) -> str:
    """The recommended movie's label in a request's prompt."""
    return MOVIE.search(prompt_text(request)).group(1).strip()


def prompt_text(request: dict[str, Any]) -> str:
    body = request["body"]
    texts = [m["content"] for m in body["messages"] if isinstance(m.get("content"), str)]
    return "\n".join([str(body.get("system", "")), *texts])


def grounded(request: dict[str, Any]) -> Reply:
    """A grounded answer naming only the recommended movie."""
    return Reply(text=f"You might enjoy {movie_of(request)} tonight. It fits the way you like to watch.")


@dataclass
class FakeLLM:
    url: str
    behave: Callable[[dict[str, Any]], Reply] = grounded
    requests: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0  # reported in successful answers
    output_tokens: int = 0
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, behave: Callable[[dict[str, Any]], Reply] = grounded) -> None:
        with self.lock:
            self.behave, self.requests, self.input_tokens, self.output_tokens, self.answered = behave, [], 0, 0, 0


def _handler(server: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            request = {"path": self.path, "body": body, "headers": {k.lower(): v for k, v in self.headers.items()}}
            with server.lock:
                server.requests.append(request)
                behave = server.behave
            reply = behave(request)
            time.sleep(reply.delay)
            anthropic = self.path.rstrip("/").endswith("/messages")
            if reply.body is not None:
                payload = reply.body
            elif reply.status != 200:
                payload = {"type": "error", "error": {"type": "api_error", "message": reply.text or "server error"}}
            else:
                tokens_in = reply.input_tokens if reply.input_tokens is not None else len(prompt_text(request).split())
                tokens_out = reply.output_tokens if reply.output_tokens is not None else len(reply.text.split())
                with server.lock:
                    server.input_tokens += tokens_in
                    server.output_tokens += tokens_out
                    server.answered += 1
                model = body.get("model", "local")
                payload = (
                    {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [{"type": "text", "text": reply.text}],
                     "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}
                    if anthropic else
                    {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}}
                )
            data = json.dumps(payload).encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                pass

    return Handler


@contextmanager
def running_llm() -> Iterator[FakeLLM]:
    """A :class:`FakeLLM` on a free port of 127.0.0.1; ``url`` is its root (OpenAI base URL: ``url + "/v1"``)."""
    fake = FakeLLM(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.helpers_llm --port 8080 [--delay 0.3]``: the grounded stand-in on a fixed
    port, to try ``explain=openai`` / ``explain=anthropic`` without a model (prints its URL)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer (a model's latency)")
    args = parser.parse_args(argv)
    fake = FakeLLM(url=f"http://127.0.0.1:{args.port}", behave=lambda r: Reply(text=grounded(r).text, delay=args.delay))
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(fake))
    httpd.daemon_threads = True
    print(f"stand-in LLM at {fake.url}/v1 (OpenAI) and {fake.url} (Anthropic), {args.delay} s per answer", flush=True)
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
