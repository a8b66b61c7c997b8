"""A fake OpenAI-compatible chat-completions server (a real HTTP server on 127.0.0.1, no network),
for the tests (tests/agent/) and the agent benchmark (bench/agent.py).

Every request is checked against the chat-completions request schema (what the `openai` SDK must
send and any compatible server expects): the path, the bearer key, a model, messages with valid
roles, tool results answering the tool calls the assistant made, tools declared as JSON-schema
functions, a user message's content parts (text, and images as base64 data URLs: `images()`). A request that breaks it is answered 400 and recorded in `invalid` (tests assert it stays
empty). Valid requests are answered by `responder(request) -> dict | Scripted`: a completion built
with `text()` / `calls()`, or a scripted status, body and delay.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEST_LLM_KEY = "sk-test-llm-0f9e8d7c6b5a"
ROLES = {"system", "user", "assistant", "tool", "developer"}


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b"{}"
    delay: float = 0.0


def _usage(tokens_in: int = 100, tokens_out: int = 20) -> dict:
    return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}


def text(content: str, *, tokens_in: int = 100, tokens_out: int = 20) -> dict:
    """A completion whose answer is `content`."""
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": "fake-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": _usage(tokens_in, tokens_out)}


def calls(*tool_calls: tuple[str, dict | str], tokens_in: int = 100, tokens_out: int = 20) -> dict:
    """A completion that calls tools: (name, arguments) each (a str is sent as the raw arguments)."""
    made = [{"id": f"call_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(tool_calls)]
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": "fake-model",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None, "tool_calls": made}}],
            "usage": _usage(tokens_in, tokens_out)}


def schema_errors(path: str, headers: dict, body: Any) -> list[str]:
    errors = []
    if not path.endswith("/chat/completions"):
        errors.append(f"path {path}")
    if {k.lower(): v for k, v in headers.items()}.get("authorization") != f"Bearer {TEST_LLM_KEY}":
        errors.append("no bearer key")
    if not isinstance(body, dict):
        return [*errors, "body is not an object"]
    if not isinstance(body.get("model"), str) or not body["model"]:
        errors.append("model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*errors, "messages"]
    open_calls: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            errors.append(f"messages[{i}].role")
            continue
        content = message.get("content")
        if role == "assistant":
            tool_calls = message.get("tool_calls") or []
            if content is None and not tool_calls:
                errors.append(f"messages[{i}]: assistant without content or tool_calls")
            for call in tool_calls:
                ok = (call.get("type") == "function" and isinstance(call.get("id"), str)
                      and isinstance(call.get("function", {}).get("name"), str)
                      and isinstance(call.get("function", {}).get("arguments"), str))
                if not ok:
                    errors.append(f"messages[{i}].tool_calls")
                else:
                    open_calls.add(call["id"])
        elif role == "tool":
            if message.get("tool_call_id") not in open_calls or not isinstance(content, str):
                errors.append(f"messages[{i}]: tool result for no call")
        elif role == "user" and isinstance(content, list):
            errors += [f"messages[{i}].content[{j}]: {error}" for j, part in enumerate(content)
                       for error in _part_errors(part)]
        elif not isinstance(content, str):
            errors.append(f"messages[{i}].content")
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict) or not isinstance(function.get("name"), str) \
                or function.get("parameters", {}).get("type") != "object":
            errors.append("tools")
    if body.get("tool_choice") not in (None, "auto", "none", "required"):
        errors.append("tool_choice")
    return errors


_DATA_URL = re.compile(r"data:image/(?:jpeg|png|gif|webp);base64,([A-Za-z0-9+/]+={0,2})")


def _part_errors(part: Any) -> list[str]:
    """A user message's content part: {type: text, text} or {type: image_url, image_url: {url}} with a
    base64 data URL of an image (what the bot sends; an http URL would make the provider fetch it)."""
    if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
        return ["type"]
    if part["type"] == "text":
        return [] if isinstance(part.get("text"), str) and part.keys() == {"type", "text"} else ["text part"]
    image = part.get("image_url")
    match = _DATA_URL.fullmatch(image.get("url", "")) if isinstance(image, dict) else None
    if match is None:
        return ["image_url: not a base64 data URL of an image"]
    try:
        base64.b64decode(match.group(1), validate=True)
    except ValueError:
        return ["image_url: bad base64"]
    return []


def images(request: dict) -> list[bytes]:
    """The images a request carries (decoded), in order."""
    return [base64.b64decode(part["image_url"]["url"].partition(",")[2])
            for message in request["messages"] if isinstance(message.get("content"), list)
            for part in message["content"] if part.get("type") == "image_url"]


class FakeLLM:
    def __init__(self, responder: Callable[[dict], dict | Scripted] | None = None) -> None:
        self.responder = responder or (lambda request: text("OK"))
        self.requests: list[dict] = []
        self.invalid: list[list[str]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one write: with keep-alive, two small writes meet the client's delayed
            # ACK (about 40 ms a response), which would be measured as the provider's latency.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                errors = schema_errors(self.path, dict(self.headers), body)
                with fake.lock:
                    fake.requests.append(body)
                    if errors:
                        fake.invalid.append(errors)
                answer = Scripted(400, json.dumps({"error": {"message": "; ".join(errors)}}).encode()) if errors \
                    else fake.responder(body)
                if isinstance(answer, dict):
                    answer = Scripted(200, json.dumps(answer).encode())
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:  # the client gave up (a timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def last(request: dict) -> dict:
    return request["messages"][-1]


def tool_results(request: dict) -> list[Any]:
    """The tool results of the last round, parsed."""
    results: list[Any] = []
    for message in reversed(request["messages"]):
        if message["role"] != "tool":
            break
        results.insert(0, json.loads(message["content"]))
    return results


def user_text(request: dict) -> str:
    """The last user message's text (of a message with content parts: its text parts)."""
    content = next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")
    if isinstance(content, list):
        return " ".join(part["text"] for part in content if part.get("type") == "text")
    return content


def by_tool(tool: str, arguments: dict | None = None, answer: Callable[[list], str] | None = None):
    """A responder that calls `tool` once, then answers with `answer(results)` (default: the JSON)."""
    def respond(request: dict) -> dict:
        if last(request)["role"] == "user":
            return calls((tool, arguments or {}))
        results = tool_results(request)
        return text(answer(results) if answer else json.dumps(results))
    return respond
