"""Outbound webhooks to the shop's own systems: signed like Slack signs its requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests

from bot import redact


class WebhookFailed(Exception):
    """The shop's endpoint failed this time (5xx, 408, 429, unreachable): retried."""


class WebhookRejected(Exception):
    """The receiving system refused the event (4xx): retrying won't help."""


def sign_webhook(body: str, secret: str, timestamp: int) -> dict[str, str]:
    """X-Amends-Signature: HMAC-SHA256 over "{timestamp}.{body}", as Slack signs its own."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return {"X-Amends-Timestamp": str(timestamp),
            "X-Amends-Signature": f"sha256={digest.hexdigest()}"}


def send(url: str, secret: str, event: dict[str, Any]) -> None:
    body = json.dumps(event, separators=(",", ":"), sort_keys=True)
    headers = {"Content-Type": "application/json", "User-Agent": "Amends-Webhook/1",
               **sign_webhook(body, secret, int(time.time()))}
    # Reasons end up in the outbox and `amends outbox status`: never the URL's secrets
    # (requests' own messages carry the whole URL, query string and all).
    where = redact.endpoint(url)
    try:
        response = requests.post(url, data=body.encode(), headers=headers, timeout=10)
    except requests.RequestException as exc:
        raise WebhookFailed(f"{where} unreachable ({type(exc).__name__})") from None
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise WebhookRejected(f"{where} answered {response.status_code}")
    if response.status_code >= 400:
        raise WebhookFailed(f"{where} answered {response.status_code}")
