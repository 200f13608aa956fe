"""The digest's chart in Slack: shared after the text with files.uploadV2, once, and never at
the text's expense. Through the outbox and the fake Slack's file methods, on both databases."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from PIL import Image
from sqlalchemy import select

from bot.domain.weeks import Week, send_time
from bot.jobs import digest
from storage.models import OutboxRow
from tests.bot.conftest import Harness, reassembled
from tests.bot.test_followthrough import LEADERS, jobs_for
from tests.bot.test_journey import open_case

FILENAME = "amends-trend-2026-W47.png"
EVERY_SCOPE_BUT_FILES = {"chat:write", "chat:write.public", "im:write", "users:read",
                         "usergroups:read", "channels:history", "groups:history",
                         "im:history", "commands"}


def send_week_47(harness: Harness, library: Any) -> None:
    open_case(harness)  # Mon 16 Nov: week 47
    due = send_time(Week(2026, 47), day=0, hour=9, zone=harness.settings.timezone)
    assert digest.run(jobs_for(harness, library), due + timedelta(minutes=1)) is True
    harness.deliver()


def the_digest(harness: Harness) -> Any:
    (posted,) = harness.fake.posts_in(LEADERS)
    assert "cases opened" in str(posted.blocks)
    return posted


def test_the_chart_follows_the_digest_as_a_png_shared_once(harness: Harness,
                                                           library: Any) -> None:
    send_week_47(harness, library)
    text = the_digest(harness)
    (share,) = harness.fake.shares_in(LEADERS)
    assert float(share.ts) > float(text.ts)  # after the text, never before it
    (file,) = share.files
    assert (file["name"], file["mimetype"]) == (FILENAME, "image/png")
    assert "12 weeks" in file["title"] and "12 weeks" in share.text
    # The upload: asked for with the PNG's true length and a description for screen readers,
    # then completed into the leadership channel.
    (asked,) = harness.fake.called("files.getUploadURLExternal")
    data = harness.fake.file_bytes(file["id"])
    assert data is not None and int(asked.args["length"]) == len(data)
    assert "1 cases opened" in asked.args["alt_txt"] and len(asked.args["alt_txt"]) <= 1000
    (done,) = harness.fake.called("files.completeUploadExternal")
    assert done.args["channel_id"] == LEADERS and done.error is None
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel, not only the header
        assert (image.format, image.size) == ("PNG", (1200, 750))
    # The week again: nothing more, neither text nor chart.
    due = send_time(Week(2026, 47), day=0, hour=9, zone=harness.settings.timezone)
    assert digest.run(jobs_for(harness, library), due + timedelta(hours=2)) is False
    harness.deliver()
    assert len(harness.fake.posts_in(LEADERS)) == 1 and len(harness.fake.shares_in(LEADERS)) == 1


def test_a_share_whose_reply_was_lost_is_found_not_repeated(harness: Harness,
                                                            library: Any) -> None:
    # Slack shared the chart, and the reply never came back: the retry finds the share in
    # the channel's history by its file name and does not upload again.
    harness.fake.lose_next["files.completeUploadExternal"] = ["drop"]
    send_week_47(harness, library)
    the_digest(harness)
    assert len(harness.fake.shares_in(LEADERS)) == 1
    assert len(harness.fake.called("files.completeUploadExternal")) == 1
    assert len(harness.fake.called("conversations.history")) >= 1
    with harness.sessions() as session:
        kinds = session.execute(select(OutboxRow.kind, OutboxRow.sent_at)).all()
    assert [k for k, sent in kinds if sent is None] == []
    assert [k for k, _ in kinds].count("digest_chart") == 1


def test_a_digest_post_retried_after_a_lost_reply_queues_one_chart(harness: Harness,
                                                                    library: Any) -> None:
    harness.fake.lose_next["chat.postMessage"] = ["drop"]
    send_week_47(harness, library)
    the_digest(harness)
    assert len(harness.fake.shares_in(LEADERS)) == 1


def test_a_failed_upload_is_retried_and_the_digest_is_not_held(harness: Harness,
                                                               library: Any) -> None:
    harness.fake.fail_uploads = [500, 503]  # files.slack.com down for two attempts
    send_week_47(harness, library)
    the_digest(harness)
    assert len(harness.fake.shares_in(LEADERS)) == 1
    assert len(harness.fake.called("files.getUploadURLExternal")) == 3


def test_without_files_write_the_digest_goes_out_and_its_thread_says_why(
        harness: Harness, library: Any) -> None:
    harness.fake.scopes = EVERY_SCOPE_BUT_FILES  # installed before the chart existed
    send_week_47(harness, library)
    text = the_digest(harness)
    assert harness.fake.shares_in(LEADERS) == []
    (note,) = harness.fake.posts_in(LEADERS, thread_ts=text.ts)
    said = str(note.blocks)
    assert "chart for this digest couldn't be shared" in said
    assert "missing_scope" in said and "files:write" in said and "AMENDS_DIGEST_CHART" in said
    # Refused for good: one try, not twelve.
    assert len(harness.fake.called("files.getUploadURLExternal")) == 1


def test_a_chart_refused_for_good_after_upload_says_so_once(harness: Harness,
                                                            library: Any) -> None:
    # The bytes arrived, then Slack refused to share them: the channel went private.
    harness.fake.fail_next["files.completeUploadExternal"] = [
        (200, {"ok": False, "error": "channel_not_found"})]
    send_week_47(harness, library)
    text = the_digest(harness)
    (note,) = harness.fake.posts_in(LEADERS, thread_ts=text.ts)
    assert "channel_not_found" in str(note.blocks) and "digest preview --week 2026-W47" \
        in str(note.blocks)
    assert harness.fake.shares_in(LEADERS) == []


def test_the_chart_can_be_turned_off(harness: Harness, library: Any) -> None:
    plain, _parts = reassembled(harness, library, AMENDS_DIGEST_CHART="off")
    try:
        send_week_47(plain, library)
        the_digest(plain)
        assert plain.fake.called("files.getUploadURLExternal") == []
        assert plain.fake.shares_in(LEADERS) == []
    finally:
        plain.executor.shutdown(wait=True)
