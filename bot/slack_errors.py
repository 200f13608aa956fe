"""What each Slack error means for Amends: one table, from the method pages' error tables.

Every Web API error Amends can meet is here with what to do about it:

- RETRY: Slack or the network had a bad moment; the outbox tries again with back-off (a 429
  waits for its Retry-After).
- ELSEWHERE: Amends may not post in that place (archived, read-only, thread-only, private
  without the bot, DMs refused); a case card goes to the recovery channel, then a DM; a
  private note to the person goes to a DM. Where there is no other place, it is PERMANENT.
- CLICK_AGAIN: a modal's trigger_id was older than 3 s or already used; only a new click
  makes a new one, so the person is told to click again.
- PERMANENT: no retry can succeed (a revoked token, a missing scope, a message Slack refuses
  as too long); dead-lettered at once with its reason, and whoever waits on it is told.

An error that isn't in the table is retried (with back-off, up to the outbox's attempts):
a new transient code from Slack must not lose a delivery. Sources, all on docs.slack.dev:
the error tables of chat.postMessage, chat.update, chat.postEphemeral, views.open,
views.push, views.update, conversations.open, conversations.history/replies, users.info and
usergroups.users.list, and "Web API rate limits" (429 with Retry-After).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from slack_sdk.errors import SlackApiError


class Kind(Enum):
    RETRY = "retry"
    ELSEWHERE = "post elsewhere"
    CLICK_AGAIN = "ask to click again"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Rule:
    kind: Kind
    means: str  # in words, for logs, dead letters and the README's table


RETRY, ELSEWHERE, CLICK_AGAIN, PERMANENT = (Kind.RETRY, Kind.ELSEWHERE, Kind.CLICK_AGAIN,
                                            Kind.PERMANENT)

ERRORS: dict[str, Rule] = {
    # Slack or the network, for a moment (every method's table lists these).
    "ratelimited": Rule(RETRY, "over the method's rate limit (HTTP 429, Retry-After)"),
    "internal_error": Rule(RETRY, "Slack had an internal error"),
    "fatal_error": Rule(RETRY, "Slack had a fatal error"),
    "service_unavailable": Rule(RETRY, "Slack is unavailable for a moment"),
    "request_timeout": Rule(RETRY, "the request timed out inside Slack"),
    "team_added_to_org": Rule(RETRY, "the workspace is moving into an Enterprise org"),
    "hash_conflict": Rule(RETRY, "the view changed since it was read (views.update)"),
    # Not allowed to post in that place: try another (chat.postMessage, chat.postEphemeral).
    "not_in_channel": Rule(ELSEWHERE, "the bot is not a member of the channel"),
    "channel_not_found": Rule(ELSEWHERE, "no such channel, or private without the bot"),
    "is_archived": Rule(ELSEWHERE, "the channel is archived"),
    "restricted_action": Rule(ELSEWHERE, "the workspace doesn't let the bot post there"),
    "restricted_action_read_only_channel": Rule(ELSEWHERE, "the channel is read-only"),
    "restricted_action_thread_only_channel": Rule(
        ELSEWHERE, "the channel takes thread replies only"),
    "restricted_action_non_threadable_channel": Rule(
        ELSEWHERE, "the channel doesn't allow threads"),
    "cannot_reply_to_message": Rule(ELSEWHERE, "that message can't be replied to"),
    "method_not_supported_for_channel_type": Rule(
        ELSEWHERE, "the bot can't post in this kind of conversation"),
    "messages_tab_disabled": Rule(ELSEWHERE, "the app's Messages tab is off: no DMs"),
    "user_not_in_channel": Rule(ELSEWHERE, "the person is not in that channel (ephemeral)"),
    "is_inactive": Rule(ELSEWHERE, "the channel is archived (chat.update)"),
    # A modal's trigger (views.open, views.push): valid 3 s, once.
    "expired_trigger_id": Rule(CLICK_AGAIN, "the click is more than 3 seconds old"),
    "exchanged_trigger_id": Rule(CLICK_AGAIN, "the click already opened a modal"),
    "invalid_trigger_id": Rule(CLICK_AGAIN, "Slack doesn't know that click"),
    # The token or the app's permissions: an operator has to act.
    "not_authed": Rule(PERMANENT, "no token was sent"),
    "invalid_auth": Rule(PERMANENT, "the token is not valid"),
    "account_inactive": Rule(PERMANENT, "the token's user or bot was deactivated"),
    "token_revoked": Rule(PERMANENT, "the token was revoked (app uninstalled?)"),
    "token_expired": Rule(PERMANENT, "the token expired (token rotation)"),
    "team_access_not_granted": Rule(PERMANENT, "the app isn't granted this workspace"),
    "ekm_access_denied": Rule(PERMANENT, "an administrator suspended access (EKM)"),
    "missing_scope": Rule(PERMANENT, "the app lacks a scope this needs: reinstall it"),
    "no_permission": Rule(PERMANENT, "the workspace denies the app this"),
    "not_allowed_token_type": Rule(PERMANENT, "this method needs another kind of token"),
    "access_denied": Rule(PERMANENT, "access to the resource was denied"),
    "org_login_required": Rule(PERMANENT, "the workspace is being migrated"),
    "two_factor_setup_required": Rule(PERMANENT, "the workspace requires two-factor"),
    # The request itself: sending it again sends the same refusal.
    "invalid_blocks": Rule(PERMANENT, "Slack refused the message's blocks"),
    "invalid_blocks_format": Rule(PERMANENT, "the blocks are not a list of blocks"),
    "msg_too_long": Rule(PERMANENT, "the message text is too long"),
    "msg_blocks_too_long": Rule(PERMANENT, "the message's blocks carry too much text"),
    "no_text": Rule(PERMANENT, "the message has no text"),
    "too_many_attachments": Rule(PERMANENT, "too many attachments"),
    "invalid_metadata_format": Rule(PERMANENT, "the message metadata is malformed"),
    "invalid_metadata_schema": Rule(PERMANENT, "the message metadata doesn't fit its schema"),
    "metadata_too_large": Rule(PERMANENT, "the message metadata is too large"),
    "invalid_arguments": Rule(PERMANENT, "the request's arguments are invalid"),
    "invalid_arg_name": Rule(PERMANENT, "an argument's name is invalid"),
    "invalid_array_arg": Rule(PERMANENT, "an array argument is malformed"),
    "invalid_charset": Rule(PERMANENT, "the request's charset is invalid"),
    "invalid_form_data": Rule(PERMANENT, "the form data is invalid"),
    "invalid_post_type": Rule(PERMANENT, "the content type is invalid"),
    "missing_post_type": Rule(PERMANENT, "the content type is missing"),
    "invalid_json": Rule(PERMANENT, "the JSON body is invalid"),
    "json_not_object": Rule(PERMANENT, "the JSON body is not an object"),
    "duplicate_message_not_found": Rule(PERMANENT, "no message to reply to"),
    "view_too_large": Rule(PERMANENT, "the view is too large"),
    "not_found": Rule(PERMANENT, "the view no longer exists"),
    "duplicate_external_id": Rule(PERMANENT, "a view with that external id exists"),
    "push_limit_reached": Rule(PERMANENT, "three modals are already stacked"),
    # chat.update: the message is not (or no longer) ours to edit.
    "cant_update_message": Rule(PERMANENT, "the message can't be edited by the bot"),
    "message_not_found": Rule(PERMANENT, "the message is gone"),
    "edit_window_closed": Rule(PERMANENT, "the message is too old to edit"),
    # People (conversations.open, users.info).
    "user_not_found": Rule(PERMANENT, "no such person"),
    "user_not_visible": Rule(PERMANENT, "the bot can't see that person"),
    "user_disabled": Rule(PERMANENT, "the person's account is deactivated"),
    "cannot_dm_bot": Rule(PERMANENT, "that is a bot, which can't get DMs"),
    "no_such_subteam": Rule(PERMANENT, "no such user group"),
}

UNKNOWN = Rule(RETRY, "an error Amends doesn't know: retried with back-off")


def error_of(exc: BaseException) -> str | None:
    """The Slack error code of a failed Web API call (None: not a Slack answer)."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "")
    return None


def rule(code: str | None) -> Rule:
    return ERRORS.get(code or "", UNKNOWN)


def kind(exc: BaseException) -> Kind | None:
    """What a failed call means; None when it isn't a Slack error at all."""
    code = error_of(exc)
    if code is None:
        return None
    if isinstance(exc, SlackApiError) and exc.response.status_code == 429:
        return Kind.RETRY
    return rule(code).kind


def nothing_done(exc: BaseException) -> bool:
    """Whether Slack surely did nothing with a call that raised `exc`: a 429 (turned away
    before any work), or a refusal in the table. A passing failure may come after the work
    was done: a 5xx, a dropped connection or a timeout, and fatal_error ("some aspect of the
    operation" may have succeeded, chat.postMessage#errors)."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return False
    if exc.response.status_code == 429:
        return True
    return exc.response.status_code < 500 and kind(exc) is not Kind.RETRY


def post_elsewhere(exc: BaseException) -> bool:
    return kind(exc) is Kind.ELSEWHERE


def click_again(exc: BaseException) -> bool:
    return kind(exc) is Kind.CLICK_AGAIN
