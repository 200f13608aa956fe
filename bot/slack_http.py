"""Slack's Web API over kept-alive connections: one per thread, reused call after call.

slack_sdk's WebClient sends each call with `urllib.request.urlopen`, which opens a new
connection and asks the server to close it after one answer. Against slack.com that is a
TCP and a TLS handshake before every call: two more round trips than the call itself, and
the handshake's CPU on both ends. Slack's API speaks HTTP/1.1, so here each thread keeps its
connection open and sends its next call on it. Everything else stays slack_sdk's: the
request it built (URL, headers, body) and what it makes of the answer; an HTTP error is
raised as urllib raises it, so slack_sdk reads its status, headers and body the same way.

Where a proxy is configured (the client's own `proxy`, or HTTPS_PROXY and its kin), urllib
sends the call as before: its proxy handling is kept whole.
"""

from __future__ import annotations

import http.client
import io
import os
import select
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_local = threading.local()
_default_context: ssl.SSLContext | None = None
# The environment's proxy settings, read at the first call, as urllib's default opener
# (which slack_sdk's urlopen uses when no SSL context is given, as here) reads them once.
# Read on every call, they were 3% of an outbox worker's interpreter time: a scan of the
# whole environment per call.
_proxies: dict[str, str] | None = None


def perform(url: str, request: urllib.request.Request, *, timeout: float,
            context: ssl.SSLContext | None) -> dict[str, Any] | None:
    """Send `request` on this thread's kept connection: {status, headers, body} as slack_sdk
    expects; None when this call should go through urllib (a proxy, another scheme)."""
    global _proxies
    if _proxies is None:
        _proxies = urllib.request.getproxies()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname is None or (
            _proxies.get(parts.scheme) and not urllib.request.proxy_bypass(parts.hostname)):
        return None
    connection = _connection(parts, timeout, context)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            connection.request("POST", path, body=request.data,
                               headers=dict(request.header_items()))
        except OSError as exc:  # as urllib: a connection that could not be made or used
            raise urllib.error.URLError(exc) from exc
        response = connection.getresponse()
        body = response.read()
    except BaseException:
        _drop()  # half a call on it: never reuse it
        raise
    if response.will_close:
        _drop()
    if response.status >= 300:  # as urllib (Slack's API never redirects)
        raise urllib.error.HTTPError(url, response.status, response.reason, response.headers,
                                     io.BytesIO(body))
    if response.headers.get_content_type() == "application/gzip":
        return {"status": response.status, "headers": response.headers, "body": body}
    charset = response.headers.get_content_charset() or "utf-8"
    return {"status": response.status, "headers": response.headers,
            "body": body.decode(charset)}


def _connection(parts: urllib.parse.SplitResult, timeout: float,
                context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    """This thread's connection to that host, reused while the server keeps it open. One
    per thread: a thread that calls elsewhere closes the old one (tests start many fakes)."""
    key = (parts.scheme, parts.hostname, parts.port)
    held = getattr(_local, "held", None)
    if held is not None:
        held_key, kept = held
        if held_key == key and kept.sock is not None and not _closed(kept.sock):
            return kept  # type: ignore[no-any-return]
        _drop()
    host, port = parts.hostname or "", parts.port
    connection = (http.client.HTTPSConnection(host, port, timeout=timeout,
                                              context=context or _context())
                  if parts.scheme == "https"
                  else http.client.HTTPConnection(host, port, timeout=timeout))
    _local.held = (key, connection)
    return connection


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed an idle connection: a socket with nothing asked of it is
    readable only at its end (or if the server sent what nobody asked for). Checked before
    reuse, so a call isn't sent into a connection already gone."""
    try:
        poll = select.poll()  # not select(): it can't watch a descriptor past 1023
        poll.register(sock, select.POLLIN)
        return bool(poll.poll(0))
    except (OSError, ValueError):
        return True


def _forget() -> None:
    """In a forked child: gunicorn's master checks the token with Slack, then forks its
    workers, and two processes sending on one connection would read each other's answers.
    The child leaves the parent's connection alone (closing its copy closes nothing)."""
    _local.held = None


os.register_at_fork(after_in_child=_forget)  # the forking thread is the child's only one


def _drop() -> None:
    held = getattr(_local, "held", None)
    _local.held = None
    if held is not None:
        held[1].close()


def _context() -> ssl.SSLContext:
    """urllib's default for HTTPS (certificates verified), built once: loading the system's
    certificates for each new connection would cost more than the handshake it saves."""
    global _default_context
    if _default_context is None:
        _default_context = ssl.create_default_context()
    return _default_context
