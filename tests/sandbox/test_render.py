"""The sandbox's Block Kit renderer: what it shows, and that user text never becomes HTML."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from bot.blocks import text as slack_text
from bot.sandbox.render import blocks, mrkdwn

USERS = {"U0ALEX0001": "Alex"}
ALLOWED = {"b", "i", "s", "code", "span", "a", "br", "div", "button", "select", "option",
           "h3", "hr", "pre", "label", "input", "textarea"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def test_mrkdwn_formatting_mentions_dates_links_and_quotes() -> None:
    html = mrkdwn("*Bold* _it_ ~gone~ `code` <@U0ALEX0001> <!date^1795424400^{date}|Mon>\n"
                  ">quoted\n<https://example.com/a?b=1&c=2|the link>", USERS)
    assert "<b>Bold</b>" in html and "<i>it</i>" in html and "<s>gone</s>" in html
    assert "<code>code</code>" in html and '<span class="mention">@Alex</span>' in html
    assert "Mon 23 Nov 09:00 UTC" in html
    assert '<span class="quote">quoted</span>' in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener ' \
           'noreferrer">the link</a>' in html


def test_escaped_user_text_is_shown_as_typed_and_never_as_markup() -> None:
    typed = '<script>alert(1)</script> & <b>bold</b> <!channel> <@U0ALEX0001> "quotes"'
    html = mrkdwn(slack_text.escape(typed), USERS)
    parsed = parse(html)
    assert parsed.tags == []
    assert "".join(parsed.text) == typed


def test_unsafe_links_are_not_links() -> None:
    for body in ("<javascript:alert(1)|click>", "<data:text/html,x|click>"):
        assert "<a " not in mrkdwn(body, USERS)


@given(st.text())
def test_no_user_text_becomes_html(typed: str) -> None:
    for html in (mrkdwn(slack_text.escape(typed), USERS),
                 blocks([{"type": "section", "text": {"type": "plain_text", "text": typed}},
                         {"type": "context", "elements": [
                             {"type": "mrkdwn", "text": slack_text.escape(typed)}]}], USERS)):
        for tag, attrs in parse(html).tags:
            assert tag in ALLOWED
            assert not any(name.startswith("on") for name in attrs)
            assert tag != "a"  # escaped text can't make a link


def test_blocks_render_buttons_selects_inputs_and_unknown_blocks_as_json() -> None:
    html = blocks([
        {"type": "header", "text": {"type": "plain_text", "text": "C-0001 · Late"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "Step 1"},
         "accessory": {"type": "button", "action_id": "fix_step:0", "value": "1:0",
                       "text": {"type": "plain_text", "text": "Done"}}},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "approve", "value": "1:1", "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "static_select", "action_id": "snooze", "options": [
                {"text": {"type": "plain_text", "text": "1 day"}, "value": "1:1:24"}]}]},
        {"type": "rich_text", "elements": []},
    ], USERS)
    parsed = parse(html)
    buttons = [attrs for tag, attrs in parsed.tags if tag == "button"]
    assert len(buttons) == 2 and '"action_id": "fix_step:0"' in (buttons[0]["data-action"] or "")
    assert ("class", "btn primary") in buttons[1].items()
    assert any(tag == "option" and attrs.get("value") == "1:1:24" for tag, attrs in parsed.tags)
    assert any(tag == "pre" and attrs.get("class") == "unknown" for tag, attrs in parsed.tags)
    assert '"type": "rich_text"' in "".join(parsed.text)


def test_inputs_keep_typed_values_and_show_inline_errors() -> None:
    view_blocks = [
        {"type": "input", "block_id": "customer", "label": {"type": "plain_text", "text": "Name"},
         "element": {"type": "plain_text_input", "action_id": "value"}},
        {"type": "input", "block_id": "purchase", "optional": True,
         "label": {"type": "plain_text", "text": "Purchase"},
         "element": {"type": "plain_text_input", "action_id": "value", "multiline": True}},
    ]
    html = blocks(view_blocks, USERS, values={"customer": '"><img src=x>'},
                  errors={"purchase": "'ten' is not an amount"})
    parsed = parse(html)
    field = next(attrs for tag, attrs in parsed.tags if tag == "input")
    assert field["value"] == '"><img src=x>' and not any(t == "img" for t, _ in parsed.tags)
    assert "'ten' is not an amount" in "".join(parsed.text)
    assert "(optional)" in "".join(parsed.text)
