"""bot.adapters.matrix.format: Markdown to Matrix HTML, pills, spoilers, commands in texts, incoming text."""

from __future__ import annotations

from bot.adapters.matrix.format import (
    command_text,
    html_text,
    markdown_to_html,
    mentioned_in,
    message_text,
    render,
    strip_reply_fallback,
    user_pill,
)
from bot.core.events import Outgoing
from tests.matrix_fakes import ALICE, BOT, MOD, WORDS


def test_markdown_bold_code_links_and_escaping() -> None:
    html = markdown_to_html("**Hi** <b>you</b> `!haven claim 3` [site](https://x.org/a?b=1&c=2)\nnext")
    assert html == ('<strong>Hi</strong> &lt;b&gt;you&lt;/b&gt; <code>!haven claim 3</code> '
                    '<a href="https://x.org/a?b=1&amp;c=2">site</a><br>next')


def test_render_mentions_become_pills_and_m_mentions() -> None:
    text = f"Welcome {user_pill(ALICE, 'Alice')}!"
    content = render(Outgoing(text, mention_users=(ALICE,)))
    assert content["body"] == "Welcome Alice!"
    assert '<a href="https://matrix.to/#/@alice:example.org">Alice</a>' in content["formatted_body"]
    assert content["m.mentions"] == {"user_ids": [ALICE]}
    assert content["format"] == "org.matrix.custom.html"


def test_render_appends_pills_for_mentions_missing_from_text() -> None:
    content = render(Outgoing("New alert", mention_users=(MOD,)), extra_mentions=(ALICE,),
                     names={MOD: "Mod"})
    assert content["m.mentions"] == {"user_ids": [MOD, ALICE]}
    assert mentioned_in(user_pill(MOD)) == {MOD}
    assert "https://matrix.to/#/@mod:example.org" in content["formatted_body"]
    assert content["body"].endswith("Mod @alice:example.org")


def test_render_without_mentions_pings_nobody() -> None:
    assert render(Outgoing("hello"))["m.mentions"] == {}


def test_render_spoiler_hides_text_from_the_plain_body() -> None:
    content = render(Outgoing("CW: self-harm", spoiler="self-harm", spoiler_text="the secret words"))
    assert "the secret words" not in content["body"]
    assert "Spoiler: self-harm" in content["body"]
    assert '<span data-mx-spoiler="self-harm">the secret words</span>' in content["formatted_body"]


def test_render_alert_adds_no_second_hint() -> None:
    """The core's alert text names the commands where there are no buttons; the
    adapter adds nothing (it used to repeat the claim hint)."""
    content = render(Outgoing("Unclaimed: use `!haven claim 7` when you pick it up.",
                              alert_id=7), prefix="!haven", command_words=WORDS)
    assert content["body"].count("!haven claim 7") == 1
    assert "<code>!haven claim 7</code>" in content["formatted_body"]


def test_texts_that_name_commands_show_the_prefix() -> None:
    """Issue 12, item 15: on Matrix `resources` only works typed as `!haven resources`."""
    from bot.core.templates import DEFAULT_TEMPLATES

    welcome = render(Outgoing(DEFAULT_TEMPLATES["welcome"].replace("{command_prefix}", "")),
                     prefix="!haven", command_words=WORDS)  # the prefix also reaches texts without the placeholder
    assert "use the `!haven resources` command" in welcome["body"]
    assert "<code>!haven resources</code>" in welcome["formatted_body"]
    assert "`CW:`" in welcome["body"]  # not a command: untouched
    helped = render(Outgoing("Commands:\n- `warn <member> <rule>`: warn\n- `rules test <text>`: x\n"
                             "Try `help`, or `!haven alerts`."), prefix="!hv",
                    command_words=WORDS)
    assert "`!hv warn <member> <rule>`" in helped["body"]
    assert "`!hv rules test <text>`" in helped["body"] and "`!hv help`" in helped["body"]
    assert "`!haven alerts`" in helped["body"]  # already prefixed (another prefix): left alone
    quoted = render(Outgoing("Here is your text:\n> type `help` to see"), prefix="!haven",
                    command_words=WORDS)
    assert "> type `help` to see" in quoted["body"]  # a member's quoted words are never changed
    repost = render(Outgoing("see `help`"), prefix="!haven", commands=False,
                    command_words=WORDS)
    assert repost["body"] == "see `help`"


def test_message_text_prefers_html_and_strips_reply_fallback() -> None:
    content = {
        "body": "> <@bob:x> earlier\n\nmy answer",
        "format": "org.matrix.custom.html",
        "formatted_body": "<mx-reply><blockquote>earlier</blockquote></mx-reply>my <b>answer</b>",
    }
    assert message_text(content).text == "my answer"
    assert message_text({"body": "> <@bob:x> earlier\n\nplain"}).text == "plain"
    assert strip_reply_fallback("no quote") == "no quote"


def test_full_spoiler_detection() -> None:
    assert html_text('<span data-mx-spoiler="cw">all hidden</span>').spoilered
    assert html_text('<span data-mx-spoiler="">all hidden</span><br> ').spoilered
    partial = html_text('CW: food <span data-mx-spoiler="food">hidden</span>')
    assert not partial.spoilered
    assert partial.text == "CW: food hidden"  # rules still see spoilered words
    assert not html_text("plain").spoilered


def test_command_text_prefix_and_mentions() -> None:
    assert command_text({"body": "!haven rules test hello"}, "!haven", BOT) == "rules test hello"
    assert command_text({"body": "!HAVEN"}, "!haven", BOT) == ""
    assert command_text({"body": "!havenx"}, "!haven", BOT) is None
    assert command_text({"body": "hello"}, "!haven", BOT) is None
    pill = {
        "body": "Haven: alerts",
        "format": "org.matrix.custom.html",
        "formatted_body": '<a href="https://matrix.to/#/@haven:example.org">Haven</a>: alerts',
    }
    assert command_text(pill, "!haven", BOT) == "alerts"
    assert command_text({"body": "Haven, claim 3"}, "!haven", BOT, ("Haven",)) == "claim 3"
    other = {**pill, "formatted_body": pill["formatted_body"].replace("haven", "alice")}
    assert command_text(other, "!haven", BOT) is None


def test_command_arguments_pills_become_user_ids() -> None:
    content = {
        "body": "!haven warn Alice be kind",
        "format": "org.matrix.custom.html",
        "formatted_body": '!haven warn <a href="https://matrix.to/#/@alice:example.org">Alice</a>'
                          " be <b>kind</b>",
    }
    assert command_text(content, "!haven", BOT) == "warn @alice:example.org be kind"
