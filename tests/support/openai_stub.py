"""A loopback server speaking the OpenAI chat-completions protocol, with scripted replies, latency and faults.

Tests point the real `openai` SDK at it. In-process:

    with OpenAIStub(script=prefer_marker(), latency=0.2) as stub:
        ... base_url=stub.base_url ...
        stub.inject("429", {"kind": "http", "status": 503}, "timeout")
        assert stub.max_concurrency >= 8

As a process (Celery worker tests, benchmarks); it prints `READY <base_url>` once listening:

    python -m tests.support.openai_stub --port 0 --latency 0.2 --script prefer-marker

`POST /_control` reconfigures a running stub from another process (`control_stub(base_url, ...)`),
`GET /_control` returns its counters (`stub_stats(base_url)`).

Requests with `"stream": true` are answered with Server-Sent Events, one `chat.completion.chunk` per word,
`token_interval` seconds apart (after `latency`), then `data: [DONE]`. The stub counts streams started,
completed and abandoned (the client closed the connection before the end: a cancelled call).

Faults are served, in order, to the next chat-completion requests; `fault_rate` adds random ones.
A fault is a short string ("429", "500", "503", "400", "401", "403", "404", "timeout", "reset", "garbage",
"garbage_content", "midstream_error", "midstream_drop") or a dict such as {"kind": "http", "status": 429,
"retry_after": 2, "message": "..."}. The two midstream faults apply to streams: after `after_tokens` words
the stub sends an error event, or drops the connection.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[dict[str, Any]], str]

MARKER = "PREFERRED"

# --- scripts: request body -> reply content ------------------------------------------------------------

# Read prompts the way judges.prompting writes them: answers in <answer_a-ID>…</answer_a-ID> blocks and the
# output shape as {"verdicts": {"<slug>": "<A|B|tie>", ...}}.
_ANSWER = re.compile(r"<(answer_[ab])-[0-9a-f]+>\n?(.*?)\n?</\1-[0-9a-f]+>", re.DOTALL)
_DIMENSION = re.compile(r'"([A-Za-z0-9_-]+)": "<A\|B\|tie>"')


class ScriptError(ValueError):
    """The request is not what the script expects (e.g. no judge prompt); served as HTTP 400."""


def _user_text(body: dict[str, Any]) -> str:
    parts = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
    return "\n".join(p if isinstance(p, str) else json.dumps(p) for p in parts)


def _answers(body: dict[str, Any]) -> tuple[str, str]:
    found = dict(_ANSWER.findall(_user_text(body)))
    if set(found) != {"answer_a", "answer_b"}:
        raise ScriptError("judge script found no <answer_a-…>/<answer_b-…> blocks in the user messages")
    return found["answer_a"], found["answer_b"]


def _verdict_json(body: dict[str, Any], labels: str | dict[str, str], rationale: str) -> str:
    dimensions = list(dict.fromkeys(_DIMENSION.findall(_user_text(body)))) or ["overall"]
    pick = (lambda d: labels) if isinstance(labels, str) else (lambda d: labels.get(d, "tie"))
    return json.dumps({"verdicts": {d: pick(d) for d in dimensions}, "rationale": rationale})


def prefer_marker(marker: str = MARKER) -> Script:
    """Judge preferring the answer that contains `marker`; tie when both or neither do."""

    def script(body: dict[str, Any]) -> str:
        a, b = (marker in answer for answer in _answers(body))
        label = "A" if a and not b else "B" if b and not a else "tie"
        return _verdict_json(
            body, label, f"the {marker} answer is better" if label != "tie" else "no difference"
        )

    return script


def position_biased(label: str = "A") -> Script:
    """Judge that always names the same position, whatever the answers say."""
    return lambda body: _verdict_json(body, label, f"answer {label} reads better")


def prefer_longer() -> Script:
    """Judge with pure length bias."""

    def script(body: dict[str, Any]) -> str:
        a, b = (len(answer) for answer in _answers(body))
        return _verdict_json(body, "A" if a > b else "B" if b > a else "tie", "the longer answer is better")

    return script


def fixed_verdicts(verdicts: str | dict[str, str] = "tie") -> Script:
    """Judge giving fixed labels: one for every dimension, or per dimension (missing ones tie)."""
    return lambda body: _verdict_json(body, verdicts, "fixed verdict")


def answer_generator(marked_models: list[str] | tuple[str, ...] = ()) -> Script:
    """Contender: a deterministic answer naming the model; models in `marked_models` add the marker."""

    def script(body: dict[str, Any]) -> str:
        model = body.get("model", "")
        question = _user_text(body).strip()[:200]
        suffix = f" {MARKER}" if model in marked_models else ""
        return f"[{model}] answer to: {question}{suffix}"

    return script


def long_answer(words: int = 40) -> Script:
    """Contender: a plain answer of `words` words that never names the model (live battles, benchmarks);
    each model words it a little differently, so two sides can be told apart."""

    def script(body: dict[str, Any]) -> str:
        question = _user_text(body).strip().splitlines()[-1][:80] if _user_text(body).strip() else ""
        seed = sum(map(ord, str(body.get("model", ""))))
        vocabulary = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
        filler = [vocabulary[(seed + i * 7) % len(vocabulary)] for i in range(words)]
        return f"About {question!r}: " + " ".join(filler)

    return script


def fixed_text(text: str = "Both answers have merit; I cannot decide.") -> Script:
    """Same reply for everything, e.g. unparseable judge output or a `[[A]]` verdict token."""
    return lambda body: text


SCRIPTS: dict[str, Callable[..., Script]] = {
    "prefer-marker": prefer_marker,
    "position-biased": position_biased,
    "prefer-longer": prefer_longer,
    "fixed": fixed_verdicts,
    "echo": answer_generator,
    "long": long_answer,
    "text": fixed_text,
}


def script_named(name: str, **kwargs: Any) -> Script:
    if name not in SCRIPTS:
        raise ValueError(f"unknown stub script {name!r}; choose one of: {', '.join(SCRIPTS)}")
    return SCRIPTS[name](**kwargs)


# --- faults --------------------------------------------------------------------------------------------

_HTTP_FAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request: the stub was told to reject it."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "permission_denied", "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_KINDS = (
    "http", "timeout", "reset", "garbage", "garbage_content", "odd_usage", "midstream_error", "midstream_drop",
)  # fmt: skip


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 500
    message: str | None = None
    retry_after: float | None = None
    hang_s: float = 30.0  # "timeout": how long to hang before answering; longer than any client timeout
    after_tokens: int = 3  # midstream faults: words sent before the error event or the drop

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; use an HTTP status or one of {', '.join(_KINDS)}")

    @classmethod
    def parse(cls, spec: str | int | dict[str, Any] | Fault) -> Fault:
        if isinstance(spec, Fault):
            return spec
        if isinstance(spec, dict):
            return cls(**spec)
        if str(spec).isdigit():
            return cls(kind="http", status=int(spec), retry_after=1.0 if int(spec) == 429 else None)
        return cls(kind=str(spec))


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind, code, default = _HTTP_FAULTS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
    )
    return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}


# --- the server ----------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    authorization: str | None
    client_port: int  # the same port across requests means the client reused its connection
    received_at: float = field(default_factory=time.time)


class OpenAIStub:
    """Thread-safe; every setting can change while it runs. `api_key` set means other keys get 401;
    `models` set means other model names get 404; `reject_response_format` answers 400 to JSON mode,
    as some local servers do."""

    def __init__(
        self,
        *,
        script: Script | str = "echo",
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        token_interval: float = 0.0,
        api_key: str | None = None,
        models: list[str] | None = None,
        reject_response_format: bool = False,
    ) -> None:
        self.script = script_named(script) if isinstance(script, str) else script
        self.latency = latency
        self.token_interval = token_interval
        self.api_key = api_key
        self.models = models
        self.reject_response_format = reject_response_format
        self._address = (host, port)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # lifecycle
    def start(self) -> OpenAIStub:
        self._server = _Server(self._address, _Handler)
        self._server.stub = self
        self._stopping.clear()
        # A short poll interval keeps stop(), and so each test's teardown, fast.
        serve, poll = self._server.serve_forever, {"poll_interval": 0.02}
        self._thread = threading.Thread(target=serve, kwargs=poll, name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on latency or a "timeout" fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stub is not started; call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        host = self._address[0]
        return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{self.port}/v1"

    # scripting faults
    def inject(self, *faults: str | int | dict[str, Any] | Fault) -> None:
        """Serve these faults, in order, to the next chat-completion requests."""
        parsed = [Fault.parse(spec) for spec in faults]
        with self._lock:
            self._faults.extend(parsed)

    def set_fault_rate(
        self, rate: float, fault: str | int | dict[str, Any] | Fault = "503", seed: int = 0
    ) -> None:
        """Serve `fault` to a random `rate` share of requests (after queued faults), reproducibly."""
        with self._lock:
            self._fault_rate, self._rate_fault, self._rng = rate, Fault.parse(fault), random.Random(seed)

    def reset(self) -> None:
        with self._lock:
            self._faults: deque[Fault] = deque()
            self._fault_rate, self._rate_fault, self._rng = 0.0, Fault("http"), random.Random(0)
            self.requests: list[RecordedRequest] = []
            self.faults_served = 0
            self.in_flight = 0
            self.max_concurrency = 0
            self.streams_started = 0
            self.streams_completed = 0
            self.streams_abandoned = 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": len(self.requests),
                "faults_pending": len(self._faults),
                "faults_served": self.faults_served,
                "in_flight": self.in_flight,
                "max_concurrency": self.max_concurrency,
                "latency": self.latency,
                "token_interval": self.token_interval,
                "streams_started": self.streams_started,
                "streams_completed": self.streams_completed,
                "streams_abandoned": self.streams_abandoned,
            }

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply a `/_control` payload: reset, script (+script_args), latency, faults, fault_rate, ..."""
        if settings.get("reset"):
            self.reset()
        if "script" in settings:
            self.script = script_named(settings["script"], **settings.get("script_args", {}))
        for name in ("latency", "token_interval", "api_key", "models", "reject_response_format"):
            if name in settings:
                setattr(self, name, settings[name])
        self.inject(*settings.get("faults", []))
        if "fault_rate" in settings:
            self.set_fault_rate(**settings["fault_rate"])

    # used by the handler
    @contextmanager
    def _in_flight(self, record: RecordedRequest) -> Iterator[None]:
        with self._lock:
            self.requests.append(record)
            self.in_flight += 1
            self.max_concurrency = max(self.max_concurrency, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _next_fault(self) -> Fault | None:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self._fault_rate and self._rng.random() < self._fault_rate:
                fault = self._rate_fault
            self.faults_served += fault is not None
            return fault

    def _refusal(self, body: dict[str, Any], authorization: str | None) -> tuple[int, str] | None:
        """The error a real server would give for this request, if any."""
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return 401, "Incorrect API key provided."
        if not body.get("model") or not isinstance(body.get("messages"), list):
            return 400, "'model' and 'messages' are required."
        if self.models is not None and body["model"] not in self.models:
            return 404, f"The model `{body['model']}` does not exist or you do not have access to it."
        if self.reject_response_format and "response_format" in body:
            return 400, "response_format is not supported by this server."
        return None

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _count_stream(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for handlers hanging on a "timeout" fault
    request_queue_size = 256  # the listen backlog; 32+ clients connect at once
    allow_reuse_address = True
    stub: OpenAIStub

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client gave up (timeout test) or we reset the socket on purpose
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the SDK's connection pool is exercised
    # Headers and body go out in two writes; with Nagle on, the second waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # thousands of requests per benchmark; counters say what happened

    def do_GET(self) -> None:
        stub = self.server.stub
        if self.path.rstrip("/") == "/v1/models":
            names = stub.models or ["stub-model"]
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "stub"} for n in names]
            self._send_json(200, {"object": "list", "data": data})
        elif self.path == "/_control":
            self._send_json(200, stub.stats())
        else:
            self._send_json(404, error_body(404, f"no route GET {self.path}"))

    def do_POST(self) -> None:
        body = self._read_json()
        if body is None:
            self._send_json(400, error_body(400, "the request body is not a JSON object"))
        elif self.path == "/_control":
            try:
                self.server.stub.configure(body)
            except (TypeError, ValueError) as exc:
                self._send_json(400, error_body(400, f"bad control payload: {exc}"))
            else:
                self._send_json(200, self.server.stub.stats())
        elif self.path.rstrip("/") == "/v1/chat/completions":
            self._chat_completion(body)
        else:
            self._send_json(404, error_body(404, f"no route POST {self.path}"))

    def _read_json(self) -> dict[str, Any] | None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _chat_completion(self, body: dict[str, Any]) -> None:
        stub = self.server.stub
        authorization = self.headers.get("Authorization")
        with stub._in_flight(
            RecordedRequest("/v1/chat/completions", body, authorization, self.client_address[1])
        ):
            stub._sleep(stub.latency)
            fault = stub._next_fault()
            if fault is not None and not (body.get("stream") and fault.kind.startswith("midstream")):
                self._serve_fault(fault, body)
                return
            refusal = stub._refusal(body, authorization)
            if refusal is not None:
                self._send_json(refusal[0], error_body(*refusal))
                return
            try:
                content = stub.script(body)
            except ScriptError as exc:
                self._send_json(400, error_body(400, f"stub script: {exc}"))
                return
            if body.get("stream"):
                self._stream(body, content, fault)
            else:
                self._send_json(200, completion_body(body, content))

    def _stream(self, body: dict[str, Any], content: str, fault: Fault | None) -> None:
        """Send `content` as SSE chunks, one word each, in HTTP/1.1 chunked encoding."""
        stub = self.server.stub
        stub._count_stream("streams_started")
        pieces = re.findall(r"\S+\s*", content) or [content]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._event(chunk_body(body, {"role": "assistant", "content": ""}))
            for number, piece in enumerate(pieces):
                if fault is not None and number == fault.after_tokens:
                    self._midstream_fault(fault)
                    return
                if number and stub.token_interval:
                    stub._sleep(stub.token_interval)
                self._event(chunk_body(body, {"content": piece}))
            self._event(chunk_body(body, {}, finish_reason="stop"))
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
            stub._count_stream("streams_completed")
        except (BrokenPipeError, ConnectionResetError):
            stub._count_stream("streams_abandoned")
            self.close_connection = True

    def _midstream_fault(self, fault: Fault) -> None:
        if fault.kind == "midstream_error":
            self._event(error_body(fault.status, fault.message or "The model crashed while answering."))
            self._chunk(b"")
        else:  # midstream_drop: the connection ends without the end of the body
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _serve_fault(self, fault: Fault, body: dict[str, Any]) -> None:
        if fault.kind == "http":
            retry = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            self._send_json(fault.status, error_body(fault.status, fault.message), retry)
        elif fault.kind == "timeout":
            self.server.stub._sleep(fault.hang_s)
            self._send_json(200, completion_body(body, "too late"))
        elif fault.kind == "reset":
            # Linger 0 makes close() send RST instead of FIN: the client sees a connection reset.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif fault.kind == "garbage":
            self._send(200, b"<html>502 upstream hiccup{{{", "application/json")
        elif fault.kind == "odd_usage":  # a good answer whose server reports token counts as text and floats
            reply = completion_body(body, fault.message or "fine")
            reply["usage"] = {"prompt_tokens": "12", "completion_tokens": 3.0, "total_tokens": None}
            self._send_json(200, reply)
        else:  # garbage_content: a valid completion whose content is no verdict at all
            self._send_json(200, completion_body(body, fault.message or "~~ lorem ipsum, no verdict here ~~"))

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client timed out and left


def completion_body(request: dict[str, Any], content: str) -> dict[str, Any]:
    """A chat.completion as OpenAI shapes it; token counts are whitespace words (deterministic)."""
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
    completion_tokens = len(content.split())
    return {
        "id": f"chatcmpl-stub-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "stub-model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chunk_body(request: dict[str, Any], delta: dict[str, Any], finish_reason: str | None = None) -> dict:
    """One chat.completion.chunk of a streamed reply."""
    return {
        "id": "chatcmpl-stub-stream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", "stub-model"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


# --- driving a stub in another process -----------------------------------------------------------------


def _control_url(base_url: str) -> str:
    return base_url.rstrip("/").removesuffix("/v1") + "/_control"


def control_stub(base_url: str, **settings: Any) -> dict[str, Any]:
    """Reconfigure a running stub (any process); same keys as `OpenAIStub.configure`. Returns its stats."""
    data = json.dumps(settings).encode()
    request = urllib.request.Request(_control_url(base_url), data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def stub_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(_control_url(base_url), timeout=10) as reply:
        return json.load(reply)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Loopback OpenAI-compatible server for tests and benchmarks."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see the READY line)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every completion")
    parser.add_argument("--token-interval", type=float, default=0.0, help="seconds between streamed words")
    parser.add_argument("--script", default="echo", choices=sorted(SCRIPTS))
    parser.add_argument("--script-args", type=json.loads, default={}, help='JSON, e.g. \'{"marker": "X"}\'')
    parser.add_argument("--fault", action="append", default=[], help="queue a fault (repeatable)")
    parser.add_argument("--api-key", default=None, help="refuse other keys with 401")
    parser.add_argument("--models", default=None, help="comma-separated; refuse other models with 404")
    parser.add_argument("--reject-response-format", action="store_true")
    args = parser.parse_args(argv)

    stub = OpenAIStub(
        script=script_named(args.script, **args.script_args),
        latency=args.latency,
        token_interval=args.token_interval,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        models=args.models.split(",") if args.models else None,
        reject_response_format=args.reject_response_format,
    )
    stub.inject(*args.fault)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stub.start()
    print(f"READY {stub.base_url}", flush=True)
    while not stop.wait(0.5):
        pass
    stub.stop()


if __name__ == "__main__":
    main()
