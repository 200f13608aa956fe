"""Reading a request body from whoever can reach the port: capped in size and in time.

The body is read before a signature (Slack's) or a token (a survey's) can be checked, so
the sender decides its size and pace: cap both, or a slow or huge body holds a request
thread and its memory.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]

# Slack's payloads are a few KB (a submitted modal with its whole view, tens of KB).
MAX_BODY_BYTES = 1024 * 1024
BODY_SECONDS = 10.0


def refuse(start_response: StartResponse, status: str, message: str,
           environ: dict[str, Any] | None = None) -> Iterable[bytes]:
    body = json.dumps({"error": message}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if environ is not None and "gunicorn.socket" in environ:
        # Don't keep the connection for a body left unread (gunicorn would read it all to
        # reach the next request). WSGI forbids the header elsewhere; wsgiref closes anyway.
        headers.append(("Connection", "close"))
    start_response(status, headers)
    return [body]


def read_body(environ: dict[str, Any], start_response: StartResponse,
              limit: int = MAX_BODY_BYTES) -> Iterable[bytes] | None:
    """Read the body under the size and time caps into environ; or the refusal to send."""
    length_text = environ.get("CONTENT_LENGTH") or ""
    if not length_text.isdigit():
        return refuse(start_response, "411 Length Required", "a Content-Length is required",
                      environ)
    length = int(length_text)
    if length > limit:
        return refuse(start_response, "413 Content Too Large",
                      f"bodies are limited to {limit} bytes", environ)
    sock = environ.get("gunicorn.socket")
    deadline = time.monotonic() + BODY_SECONDS
    chunks: list[bytes] = []
    received = 0
    stream = environ["wsgi.input"]
    try:
        while received < length:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if sock is not None:
                sock.settimeout(left)  # each read waits at most until the deadline
            chunk = stream.read(min(65536, length - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
    except (TimeoutError, OSError):
        return refuse(start_response, "408 Request Timeout",
                      f"the body did not arrive within {BODY_SECONDS:.0f} seconds", environ)
    finally:
        if sock is not None:
            sock.settimeout(None)
    if received < length:
        return refuse(start_response, "400 Bad Request", "the body is shorter than declared",
                      environ)
    environ["wsgi.input"] = io.BytesIO(b"".join(chunks))
    return None
