"""Secrets out of what people and logs see: a URL's password, credentials and query string."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^/@:\s]*)"
                       r"(?::[^/@\s]*)?@")


def database_url(url: str) -> str:
    """'postgresql://amends:s3cret@db/amends' -> 'postgresql://amends:***@db/amends'.

    Works on URLs that don't parse too, since those are the ones echoed in errors."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def endpoint(url: str) -> str:
    """A URL with no credentials, query or fragment: where it goes, never what unlocks it
    (webhook URLs often carry their token in the path's last segment or the query)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the webhook URL"
    path = parts.path.rsplit("/", 1)[0] + "/…" if parts.path.count("/") > 1 else parts.path
    return f"{parts.scheme}://{host}{port}{path}"


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")


def text(message: str) -> str:
    """Any URLs in a free-text message (an exception's, say) reduced to their endpoint."""
    return _URL.sub(lambda m: endpoint(m.group(0)), message)
