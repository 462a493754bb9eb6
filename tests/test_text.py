"""Text from users and telemetry stays data: it cannot fake a line, a heading, HTML, a table cell or a terminal."""

from __future__ import annotations

import re
import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sprintgate.text import ELLIPSIS, MIN_LIMIT, limited, markdown_code, markdown_inline, terminal

# Bidi embeddings, overrides, isolates and marks ("Trojan Source", CVE-2021-42574).
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ASCII_PUNCTUATION = frozenset(string.punctuation)
ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}
# Any text, with the characters that matter here drawn often: controls, bidi, lone surrogates (what a
# non-UTF-8 byte in an environment variable decodes to) and Markdown punctuation.
SPECIAL = "\n\r\t\x00\x1b\x7f\x85\x9b\u2028\u2029\udcff\ud800" + "".join(sorted(BIDI)) + "\\`*_[]|#~!$<>&-+=. 1"
ANY_TEXT = st.text(st.characters(exclude_categories=()) | st.sampled_from(SPECIAL))


def is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"} or char in BIDI


def commonmark_text(source: str) -> str:
    """The text a CommonMark renderer shows for inline ``source`` that holds only escapes and entities.

    Backslash before ASCII punctuation is the punctuation (CommonMark 0.31, section 2.4); before any
    other character it is a literal backslash; the three entities are their characters (section 2.5).
    """
    shown, i = [], 0
    while i < len(source):
        entity = next((name for name in ENTITIES if source.startswith(name, i)), None)
        if entity is not None:
            shown.append(ENTITIES[entity])
            i += len(entity)
        elif source[i] == "\\" and i + 1 < len(source) and source[i + 1] in ASCII_PUNCTUATION:
            shown.append(source[i + 1])
            i += 2
        else:
            shown.append(source[i])
            i += 1
    return "".join(shown)


def unescaped(source: str, char: str) -> list[int]:
    """Positions of ``char`` in ``source`` not preceded by an odd number of backslashes."""
    found = []
    for match in re.finditer(re.escape(char), source):
        backslashes = len(source[: match.start()]) - len(source[: match.start()].rstrip("\\"))
        if backslashes % 2 == 0:
            found.append(match.start())
    return found


def code_span_content(source: str) -> str:
    """The content of a single CommonMark code span ``source`` (section 6.1), or fail if it is not one."""
    match = re.fullmatch(r"(`+)(.*?)(?<!`)\1(?!`)", source, re.DOTALL)
    assert match is not None, f"not one code span: {source!r}"
    fence, content = match.groups()
    assert not re.search(rf"(?<!`){fence}(?!`)", content), f"the fence closes early in {source!r}"
    if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
        content = content[1:-1]
    return content


class TestTerminal:
    def test_ansi_escape_cannot_clear_the_screen(self) -> None:
        """An ESC sequence that would clear the screen is shown as text."""
        assert terminal("reason\x1b[2J\x1b[Hgate passed") == "reason\\x1b[2J\\x1b[Hgate passed"

    def test_newline_and_carriage_return_cannot_fake_a_line(self) -> None:
        """CR, LF and tab become \\r, \\n and \\t, so one value stays one line."""
        assert terminal("x\r\nVerdict: PASS\t!") == "x\\r\\nVerdict: PASS\\t!"

    @pytest.mark.parametrize(
        "char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
    )
    def test_bidi_controls_are_shown(self, char: str) -> None:
        """Each bidi embedding, override and isolate is shown as its \\u escape instead of reordering the line."""
        assert terminal(f"invoice{char}fdp.exe") == f"invoice\\u{ord(char):04x}fdp.exe"

    def test_del_c1_and_surrogates_are_shown(self) -> None:
        """DEL, C1 controls (CSI included), line separators and lone surrogates are shown as escapes."""
        assert terminal("\x7f\x9b2J\u2028\udcff") == "\\x7f\\x9b2J\\u2028\\udcff"

    def test_plain_and_unicode_text_is_unchanged(self) -> None:
        """Printable text, accents, CJK and emoji with zero-width joiners pass through."""
        text = "hard.no_capacity — Zürich 東京 👩\u200d💻 100 %"
        assert terminal(text) == text

    @given(ANY_TEXT)
    def test_output_has_no_control_characters(self, text: str) -> None:
        """Whatever goes in, no control, separator, surrogate or bidi character comes out."""
        assert not any(is_control(char) for char in terminal(text))


class TestMarkdownInline:
    def test_newline_cannot_fake_a_verdict_line(self) -> None:
        """A --force reason with a newline and 'Verdict: PASS' stays inside its own line."""
        document = f"Reason: {markdown_inline('ok' + chr(10) + 'Verdict: PASS')}\nVerdict: FAIL\n"
        assert [line for line in document.splitlines() if line.startswith("Verdict:")] == ["Verdict: FAIL"]

    def test_heading_cannot_be_started(self) -> None:
        """Neither a newline followed by '#' nor a leading '#' starts a heading."""
        for text in ("x\n# Gate passed", "# Gate passed", "\r## Gate passed"):
            line = markdown_inline(text)
            assert "\n" not in line
            assert not re.match(r" {0,3}#", line)

    def test_script_tag_is_not_html(self) -> None:
        """<script> becomes entities, so no HTML tag or autolink survives."""
        assert markdown_inline("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"

    def test_pipe_cannot_add_a_table_cell(self) -> None:
        """A '|' in a cell is escaped, so the row keeps its three cells."""
        row = f"| {markdown_inline('a | b | c')} | pass |"
        assert len(unescaped(row, "|")) == 3

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("- item", "\\- item"),
            ("+ item", "\\+ item"),
            ("1. item", "1\\. item"),
            ("12) item", "12\\) item"),
            ("> quote", "&gt; quote"),
            ("===", "\\==="),
        ],
    )
    def test_block_markers_at_line_start_are_escaped(self, text: str, expected: str) -> None:
        """A list item, blockquote or setext marker at the start is escaped in case the text starts a line."""
        assert markdown_inline(text) == expected

    def test_links_images_emphasis_and_code_are_escaped(self) -> None:
        """Link, image, emphasis, strikethrough, code and math markers are backslash-escaped."""
        assert markdown_inline("![x](y) [a](b) *b* _i_ ~~s~~ `c` $m$") == (
            "\\!\\[x\\](y) \\[a\\](b) \\*b\\* \\_i\\_ \\~\\~s\\~\\~ \\`c\\` \\$m\\$"
        )

    def test_backslash_cannot_cancel_an_escape(self) -> None:
        """A user's own backslash before '*' is escaped too, so the '*' stays escaped."""
        assert markdown_inline("\\*") == "\\\\\\*"
        assert commonmark_text(markdown_inline("\\*")) == "\\*"

    def test_reason_code_stays_readable(self) -> None:
        """hard.no_capacity only gains an escape that CommonMark renders as the plain text."""
        assert markdown_inline("hard.no_capacity") == "hard.no\\_capacity"
        assert commonmark_text(markdown_inline("hard.no_capacity")) == "hard.no_capacity"

    def test_newline_is_shown_as_backslash_n(self) -> None:
        """A newline is written as the two characters backslash and n."""
        assert markdown_inline("a\nb") == "a\\nb"

    @given(ANY_TEXT)
    def test_output_is_one_line_without_unescaped_pipe(self, text: str) -> None:
        """No newline, no line or paragraph separator, and no '|' that a table would split at."""
        line = markdown_inline(text)
        assert not any(is_control(char) for char in line)
        assert unescaped(line, "|") == []

    @given(ANY_TEXT)
    def test_renders_as_the_terminal_text(self, text: str) -> None:
        """What CommonMark shows is exactly the visible-escape form terminal() prints."""
        assert commonmark_text(markdown_inline(text)) == terminal(text)


class TestMarkdownCode:
    @pytest.mark.parametrize("text", ["plain", "a`b", "a``b```c", "`start", "end`", "``", " both ", " x`"])
    def test_content_survives_any_backticks(self, text: str) -> None:
        """The fence is longer than any backtick run and padding keeps edge backticks and spaces."""
        assert code_span_content(markdown_code(text)) == text

    def test_newline_cannot_end_the_span(self) -> None:
        """A newline (or blank line) inside is shown as \\n, so the span and paragraph cannot be closed."""
        assert markdown_code("a\n\n# b") == "`a\\n\\n# b`"

    def test_pipe_is_escaped_for_tables_by_default(self) -> None:
        """In a table row a '|' inside code is escaped; table=False leaves it for paragraphs."""
        assert markdown_code("a|b") == "`a\\|b`"
        assert markdown_code("a|b", table=False) == "`a|b`"

    def test_empty_text_is_a_visible_span(self) -> None:
        """Empty text gives a one-space span, not two backticks that would open a longer fence."""
        assert markdown_code("") == "` `"

    @given(ANY_TEXT)
    def test_any_text_is_one_span_on_one_line(self, text: str) -> None:
        """Any text becomes exactly one code span whose content is the terminal form, with no unescaped '|'."""
        source = markdown_code(text, table=False)
        assert not any(is_control(char) for char in source)
        assert code_span_content(source) == (terminal(text) or " ")
        # GitHub's table extension treats a '|' right after a backslash as part of the cell, inside code too.
        assert re.search(r"(?<!\\)\|", markdown_code(text)) is None


class TestLimited:
    def test_short_text_is_unchanged(self) -> None:
        """Text within the limit comes back as it is."""
        assert limited("x" * 200) == "x" * 200

    def test_long_text_is_cut_with_a_count(self) -> None:
        """Long text keeps its start, an ellipsis and the number of characters dropped, within the limit."""
        result = limited("y" * 500)
        assert result == "y" * 177 + f"{ELLIPSIS} (323 more characters)"
        assert len(result) == 200

    def test_too_small_a_limit_is_refused(self) -> None:
        """A limit that cannot hold the marker is a usage error that names the minimum."""
        with pytest.raises(ValueError, match=f"at least {MIN_LIMIT}"):
            limited("text", max_chars=5)

    @given(st.text(), st.integers(min_value=MIN_LIMIT, max_value=400))
    def test_never_longer_than_the_limit(self, text: str, max_chars: int) -> None:
        """The result fits the limit, starts with the text's start and counts exactly what was dropped."""
        result = limited(text, max_chars)
        assert len(result) <= max_chars
        if result != text:
            kept, _, marker = result.rpartition(ELLIPSIS)
            assert text.startswith(kept)
            assert marker == f" ({len(text) - len(kept)} more characters)"
