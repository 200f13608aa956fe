"""The baseline: a Bolt app that only acknowledges, served exactly as `amends serve` serves."""

from __future__ import annotations

import re
import sys

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler


def build(secret: str, api_url: str) -> App:
    from slack_sdk import WebClient

    app = App(signing_secret=secret, client=WebClient(token="xoxb-bare", base_url=api_url),
              token_verification_enabled=False)
    app.command("/recover")(lambda ack: ack())
    app.action(re.compile(".*"))(lambda ack: ack())
    app.view(re.compile(".*"))(lambda ack: ack())
    return app


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, port: int, secret: str, api_url: str) -> None:
        self.port, self.secret, self.api_url = port, secret, api_url
        super().__init__()

    def load_config(self) -> None:
        for key, value in {"bind": f"127.0.0.1:{self.port}", "worker_class": "gthread",
                           "threads": 16, "timeout": 30, "loglevel": "warning"}.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        return SlackRequestHandler(build(self.secret, self.api_url))


if __name__ == "__main__":
    Server(int(sys.argv[1]), sys.argv[2], sys.argv[3]).run()
