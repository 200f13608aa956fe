"""The Dockerfile, kept honest without a Docker engine: its commands run here, for real."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.run import free_port

ROOT = Path(__file__).parents[1]


def _instructions() -> dict[str, str]:
    found: dict[str, str] = {}
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.setdefault(word.upper(), rest.strip())
            if word.upper() in ("RUN", "ENV", "USER", "CMD", "HEALTHCHECK"):
                found[word.upper()] = rest.strip()
    return found


def test_image_is_slim_runs_as_non_root_and_checks_health() -> None:
    steps = _instructions()
    assert steps["FROM"].startswith("python:3.11-slim")
    assert steps["USER"] not in ("root", "0")
    assert "/healthz" in steps["HEALTHCHECK"]
    assert json.loads(steps["CMD"])[-1] == "amends db upgrade && exec amends serve"


def test_the_images_command_and_health_check_work(tmp_path: Path) -> None:
    steps = _instructions()
    command = json.loads(steps["CMD"])  # ["sh", "-c", "amends db upgrade && exec amends serve"]
    health = json.loads(steps["HEALTHCHECK"].split("CMD", 1)[1].strip())
    fake = FakeSlack().start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AMENDS_"))}
    # `amends` on PATH as in the image: the one installed beside this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'amends.db'}",
                "PORT": str(port), "SLACK_BOT_TOKEN": "xoxb-test-token-0000",
                "SLACK_SIGNING_SECRET": sr.SECRET, "SLACK_API_URL": fake.url})
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(150):
            checked = subprocess.run(health, env=env, capture_output=True, timeout=10)
            if checked.returncode == 0:
                break
            assert server.poll() is None, server.communicate()[0]
            time.sleep(0.2)
        assert checked.returncode == 0, checked.stderr
    finally:
        server.send_signal(signal.SIGTERM)  # docker stop: a graceful shutdown
        output = server.communicate(timeout=40)[0]
        fake.stop()
    assert server.returncode == 0, output
    assert (tmp_path / "data" / "amends.db").exists()  # the migrations ran first
    # The health check fails when nothing answers.
    assert subprocess.run(health, env={**env, "PORT": str(free_port())},
                          capture_output=True).returncode != 0
    assert shlex.split(command[-1])[:3] == ["amends", "db", "upgrade"]


def test_compose_runs_amends_on_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    amends, database = compose["services"]["amends"], compose["services"]["db"]
    assert amends["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:5432/" in amends["environment"]["DATABASE_URL"]
    assert amends["depends_on"]["db"]["condition"] == "service_healthy"
    assert database["image"].startswith("postgres:") and "healthcheck" in database
