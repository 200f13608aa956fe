"""The Slack app manifest declares what the code uses, and no more."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def test_manifest_matches_the_code() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/recover"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    # Each shortcut the code listens for is declared, as Slack's manifest schema has it.
    from bot.ids import Shortcut

    shortcuts = manifest["features"]["shortcuts"]
    assert {s["callback_id"] for s in shortcuts} == {s.value for s in Shortcut}
    for shortcut in shortcuts:
        assert shortcut["type"] in ("message", "global")
        assert len(shortcut["name"]) <= 25 and len(shortcut["description"]) <= 150
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    urls = {command["url"], manifest["settings"]["interactivity"]["request_url"],
            manifest["settings"]["event_subscriptions"]["request_url"]}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    # Each Web API method the bot calls is covered by a declared scope.
    history = {"channels:history", "groups:history", "im:history"}
    needs = {"chat_postMessage": {"chat:write"}, "chat_update": {"chat:write"},
             "chat_postEphemeral": {"chat:write"}, "conversations_open": {"im:write"},
             "users_info": {"users:read"}, "usergroups_users_list": {"usergroups:read"},
             # A retried post looks for its earlier copy in channels, private channels, DMs.
             "conversations_history": history, "conversations_replies": history,
             "chat_getPermalink": set(),  # no scope required
             "files_upload_v2": {"files:write"}}  # the digest's chart
    source = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py"))
    called = set(re.findall(r"\.(chat_\w+|conversations_\w+|users_info|usergroups_\w+|files_\w+)\(",
                            source))
    assert called <= set(needs), called - set(needs)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert set().union(*(needs[m] for m in called)) | {"commands", "chat:write.public"} \
        == scopes


def test_the_messages_tab_is_on_because_amends_sends_direct_messages() -> None:
    """Follow-up requests, reminders, escalations and refusals outside a channel are DMs; Slack
    refuses a DM from an app whose Messages tab is off (`messages_tab_disabled`)."""
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    source = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py")
                       if "sandbox" not in p.parts)
    assert "conversations_open(" in source  # how every DM starts
    home = manifest["features"]["app_home"]
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is True  # nothing to type to Amends there

