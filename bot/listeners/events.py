"""Events: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.blocks import home
from bot.listeners.common import Deps


def publish_home(client: WebClient, deps: Deps, user: str) -> None:
    is_manager = user in deps.managers.all()
    settings = deps.settings
    leads = user in settings.leaders or user == settings.escalation_user
    with deps.unit() as unit:
        week = home.leadership(deps.service.week_so_far(unit, settings.timezone), deps.style,
                               settings.on_time_goal) if leads else None
        view = home.home(
            is_manager=is_manager, cases=deps.service.open_cases_for(unit, user),
            approvals=deps.service.approvals_waiting_for(unit, user) if is_manager else [],
            follow_ups=deps.service.follow_ups_due_for(unit, user) if is_manager else [],
            style=deps.style, week=week)
    client.views_publish(user_id=user, view=view)


def home_opened(event: dict[str, Any], client: WebClient, deps: Deps) -> None:
    if event.get("tab", "home") == "home":
        # After the ack (Slack resends an event it doesn't hear back about in 3 s), and
        # soon: the person is looking at the tab.
        user = event["user"]
        deps.soon(lambda: publish_home(client, deps, user))


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
