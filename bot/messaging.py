"""Talking to Slack's Web API: posting with a fallback place, editing in place, names.

The calls here never sleep and never retry for long: deliveries run from the outbox, which
retries with its own back-off after the case is committed, so a failed call never loses a case.
A retried delivery must not post twice: each post carries message metadata naming its
delivery, and a retry first looks for that tag where it would post (conversations.history,
or conversations.replies in a thread), so a post whose reply was lost is found, not doubled.
It looks only for the posts an earlier attempt sent (the outbox keeps their labels with the
row): a post never sent can't be there, and each look is one more call that can fail. A post
that meets a 5xx or a dropped connection is looked for and sent again once, at once, in the
same delivery; only a second failure waits for the outbox's back-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import slack_errors
from bot.blocks.base import Message, context, message, section
from bot.blocks.text import escape, mention
from bot.slack_pacing import PacedClient, blip

log = logging.getLogger("amends.messaging")

METADATA_TYPE = "amends_delivery"
LOOK_BACK_PAGES = 5  # of 200 messages: a retry looks at most this far for its earlier post
CLOCK_SKEW = 120  # seconds: Slack's clock and ours may differ a little


@dataclass(eq=False)
class Attempt:
    """The outbox delivery being made: its posts are tagged with `key`; a post an earlier
    attempt sent (it may have landed before its reply was lost) first looks for its tag in
    messages since the delivery was queued."""

    key: str
    since: datetime
    # Labels of the posts earlier attempts sent; None when not known (an attempt's worker
    # died mid-delivery): then every post looks first.
    sent_before: frozenset[str] | None = frozenset()
    # Labels this attempt sent (landed, or lost on the way back): kept with the row if the
    # delivery fails, for the next attempt.
    sent: set[str] = field(default_factory=set)
    # A post landed that no earlier attempt had sent: the delivery moved on.
    progressed: bool = False

    def may_be_posted(self, label: str) -> bool:
        """Whether a post with `label` may already be in Slack from an earlier attempt."""
        return self.sent_before is None or label in self.sent_before

    def posting(self, label: str, landed: bool) -> None:
        self.sent.add(label)
        if landed and label not in (self.sent_before or ()):
            self.progressed = True

    def labels(self) -> list[str] | None:
        """What to keep with the row when this attempt fails (None: still not known)."""
        if self.sent_before is None:
            return None  # posts before the crash that this attempt never reached
        return sorted(self.sent | self.sent_before)


# Set by the deliverer around one delivery (deliveries run on several threads; each has
# its own context). Posts made outside a delivery (a refusal, a modal's note) are untagged.
attempt: ContextVar[Attempt | None] = ContextVar("amends_delivery_attempt", default=None)


def make_client(*, token: str, base_url: str) -> WebClient:
    """A WebClient that never sleeps and never sends a post twice.

    slack_sdk's retry handlers resend any call after a 5xx or a dropped connection, sleeping
    in between: a post whose reply was lost would be posted twice, and the sleep holds a
    thread. The outbox is the place that retries (its row's next attempt time is the
    back-off); a modal's trigger_id can't be retried at all. The client resends only calls
    that are harmless twice (reads, edits), once and at once, and honours Slack's 429s per
    method and channel, refusing locally what Slack would refuse (bot.slack_pacing).
    """
    client = PacedClient(token=token, base_url=base_url, timeout=10)
    client.retry_handlers = []
    return client


MAX_NAMES = 10_000  # people whose names are kept


def _tagged(key: str) -> Callable[[dict[str, Any]], bool]:
    def match(found: dict[str, Any]) -> bool:
        tag = found.get("metadata") or {}
        return bool(tag.get("event_type") == METADATA_TYPE
                    and (tag.get("event_payload") or {}).get("delivery") == key)
    return match


def _shares(filename: str) -> Callable[[dict[str, Any]], bool]:
    def match(found: dict[str, Any]) -> bool:
        return any(isinstance(f, dict) and f.get("name") == filename
                   for f in found.get("files") or [])
    return match


class Slack:
    """The few Web API calls Amends makes, each with a plain outcome."""

    def __init__(self, client: WebClient, *, recovery_channel: str | None) -> None:
        self.client = client
        self.recovery_channel = recovery_channel
        self._names: dict[str, str] = {}
        self._dms: dict[str, str] = {}

    def name(self, user: str) -> str:
        """A person's display name (users.info), "" when Slack can't say; never raises.
        Cached: messages are re-rendered on every change, and names rarely change. A failed
        lookup isn't cached, so a passing outage doesn't blank a name for good."""
        known = self._names.get(user)
        if known is not None:
            return known
        try:
            profile = self.client.users_info(user=user)["user"]
        except (SlackApiError, OSError, KeyError, TypeError):
            return ""
        found = str(profile.get("profile", {}).get("display_name") or profile.get("real_name")
                    or profile.get("name") or "")
        if len(self._names) < MAX_NAMES:
            self._names[user] = found
        return found

    def known_name(self, user: str) -> str | None:
        """The cached name, without asking Slack (None: not looked up yet)."""
        return self._names.get(user)

    def post_case(self, channel: str, user: str, msg: Message) -> tuple[str, str]:
        """Post where the case was opened; where Amends may not post (archived, read-only,
        thread-only, private without the bot), the recovery channel; else a DM."""
        for candidate in dict.fromkeys(c for c in (channel, self.recovery_channel) if c):
            try:
                return self.post(candidate, msg, label="card")
            except SlackApiError as exc:
                if not slack_errors.post_elsewhere(exc):
                    raise
                log.info("cannot post in %s (%s); trying the next place", candidate,
                         slack_errors.error_of(exc))
        return self.post(self.open_dm(user), msg, label="card")

    def reply(self, channel: str, thread_ts: str, msg: Message, *, label: str = "reply"
              ) -> str:
        return self.post(channel, msg, thread_ts=thread_ts, label=label)[1]

    def post(self, channel: str, msg: Message, *, thread_ts: str | None = None,
             label: str = "post") -> tuple[str, str]:
        """chat.postMessage, at most once per delivery and label, however often it's tried."""
        kwargs: dict[str, Any] = msg.kwargs()
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        current = attempt.get()
        if current is None:
            response = self.client.chat_postMessage(channel=channel, **kwargs)
            return str(response["channel"]), str(response["ts"])
        key = f"{current.key}.{label}"
        if current.may_be_posted(label):
            found = self._posted(channel, thread_ts, key, current.since)
            if found is not None:
                return channel, found
        kwargs["metadata"] = {"event_type": METADATA_TYPE, "event_payload": {"delivery": key}}
        try:
            response = self.client.chat_postMessage(channel=channel, **kwargs)
        except Exception as exc:
            if not slack_errors.nothing_done(exc):  # it may have landed: the retry looks
                current.posting(label, landed=False)
            if not blip(exc):
                raise
            # A 5xx or a dropped connection: look for it and post again once, at once, rather
            # than a round of the outbox's back-off and everything of the case queued behind
            # it (in the soak, a blip was a third of a second's wait for the case, each time).
            # A second failure goes to the outbox, which remembers the post may be there.
            found = self._posted(channel, thread_ts, key, current.since)
            if found is not None:
                current.posting(label, landed=True)
                return channel, found
            response = self.client.chat_postMessage(channel=channel, **kwargs)
        current.posting(label, landed=True)
        return str(response["channel"]), str(response["ts"])

    def _posted(self, channel: str, thread_ts: str | None, key: str, since: datetime
                ) -> str | None:
        """The ts of the post tagged `key`, if an earlier try landed it (its reply lost)."""
        found = self.find(channel, thread_ts, _tagged(key), since)
        if found is not None:
            log.info("delivery %s was posted before its reply was lost; not again", key)
        return found

    def share_file(self, channel: str, data: bytes, *, filename: str, title: str, alt: str,
                   comment: str) -> None:
        """Upload `data` and share it in `channel` (files.uploadV2: files.getUploadURLExternal,
        the bytes to its upload URL, files.completeUploadExternal), at most once per
        delivery: Slack allows no metadata on a file share, so a retry looks for a share of
        `filename` (unique to what is shared) instead of a tag."""
        current = attempt.get()
        label = f"file:{filename}"
        if current is not None and current.may_be_posted(label) and \
                self.find(channel, None, _shares(filename), current.since) is not None:
            log.info("%s was shared before its reply was lost; not again", filename)
            return
        if current is not None:
            current.posting(label, landed=False)  # three calls: any may have shared it
        self.client.files_upload_v2(channel=channel, file=data, filename=filename, title=title,
                                    alt_txt=alt, initial_comment=comment)

    def find(self, channel: str, thread_ts: str | None,
             match: Callable[[dict[str, Any]], bool], since: datetime) -> str | None:
        """The ts of a message `match` accepts (its delivery's tag, a file it shares) in the
        channel (or thread) since `since`.
        None when there is none, or when Slack won't let Amends read there (the history
        scopes missing, not a member): the post goes out, and may then be a second copy.
        A passing failure (rate limit, Slack down) raises: the delivery is tried later."""
        oldest = f"{max(since.timestamp() - CLOCK_SKEW, 0):.6f}"
        cursor: str | None = None
        try:
            for _ in range(LOOK_BACK_PAGES):
                args: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": 200,
                                        "include_all_metadata": True}
                if cursor:
                    args["cursor"] = cursor
                page = (self.client.conversations_replies(ts=thread_ts, **args) if thread_ts
                        else self.client.conversations_history(**args))
                for found in page.get("messages") or []:
                    if match(found):
                        return str(found["ts"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except SlackApiError as exc:
            if slack_errors.kind(exc) is slack_errors.Kind.RETRY:
                raise
            log.warning("could not look in %s for an earlier copy (%s): posting, which may "
                        "show it twice", channel, slack_errors.error_of(exc))
        return None

    def update(self, channel: str, ts: str, msg: Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, **msg.kwargs())

    def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message (chat.getPermalink, no scope needed). None when Slack says
        the message or channel is gone or hidden from the bot, which no retry will change;
        anything worth retrying (rate limit, outage) raises."""
        try:
            link = self.client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        except SlackApiError as exc:
            if slack_errors.kind(exc) is slack_errors.Kind.RETRY:
                raise
            log.info("no link to the message %s in %s (%s)", ts, channel,
                     slack_errors.error_of(exc))
            return None
        # Only a plain https link goes into mrkdwn's <link|label> (and its column).
        if isinstance(link, str) and link.startswith("https://") and len(link) <= 1000 \
                and not any(c in link for c in "<>| \n"):
            return link
        return None

    def open_dm(self, user: str) -> str:
        """The app's DM channel with `user` (conversations.open). Slack gives the same one
        every time, so it is asked once per person: one call fewer per DM, and one fewer
        to fail."""
        known = self._dms.get(user)
        if known is not None:
            return known
        channel = str(self.client.conversations_open(users=user)["channel"]["id"])
        if len(self._dms) < MAX_NAMES:
            self._dms[user] = channel
        return channel

    def dm(self, user: str, msg: Message, *, label: str = "dm") -> tuple[str, str]:
        """A direct message; where Slack refuses the app's DMs (its Messages tab off), the
        recovery channel instead, naming the person, so a follow-up is never silenced."""
        channel = self.open_dm(user)
        try:
            return self.post(channel, msg, label=label)
        except SlackApiError as exc:
            if not (slack_errors.post_elsewhere(exc) and self.recovery_channel):
                raise
            reason = slack_errors.error_of(exc)
            log.warning("cannot DM %s (%s); posting in the recovery channel", user, reason)
        note = context(f"For {mention(user)}: Amends can't send you direct messages "
                       f"(Slack says {escape(reason)}).")
        addressed = Message(text=msg.text, blocks=[note.to_dict(), *msg.blocks][:50])
        return self.post(self.recovery_channel, addressed, label=label)

    def tell(self, channel: str, user: str, text: str, thread_ts: str | None = None, *,
             about: str | None = None) -> None:
        """A note only `user` sees, e.g. a refusal: ephemeral where they are, else (not in
        that channel, or it's gone) a DM, which names what it is `about` (a case). Never
        raises."""
        try:
            kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
            self.client.chat_postEphemeral(**kwargs)
            return
        except SlackApiError as exc:
            log.info("could not tell %s in %s (%s); sending a DM", user, channel,
                     slack_errors.error_of(exc))
        except OSError as exc:
            log.warning("could not tell %s: %s", user, exc)
            return
        self.tell_directly(user, text, about=about)

    def tell_directly(self, user: str, text: str, *, about: str | None = None) -> None:
        """A DM to one person, e.g. a refusal from a modal or Home, naming what it is
        `about` (a case) when known. Never raises."""
        if about:
            text = f"{about}: {text}"
        try:
            self.dm(user, message(text, [section(text)]), label="note")
        except (SlackApiError, OSError) as exc:
            log.warning("could not tell %s by DM either: %s", user,
                        slack_errors.error_of(exc) or exc)
