"""Text from users and telemetry, made safe to show: it stays data and never becomes structure.

A ``--force`` reason, a change-record id, a goal title or a ``reasonCode`` read from telemetry may hold
newlines, Markdown, HTML, terminal escape sequences or Unicode bidi overrides. Pass it through the
function for the place it goes before it is written:

- :func:`markdown_inline` for a Markdown paragraph or table cell,
- :func:`markdown_code` for an inline code span,
- :func:`terminal` for one line on a terminal (and for JUnit XML and Allure, which cannot hold most
  control characters either),
- :func:`limited` first, on the raw text, to bound its length.

Control characters are shown as visible escapes (``\\n``, ``\\x1b``, ``\\u202e``) rather than
dropped, so what was sent can still be read.
"""

from __future__ import annotations

import re

__all__ = ["ELLIPSIS", "MIN_LIMIT", "limited", "markdown_code", "markdown_inline", "terminal"]

#: What :func:`limited` puts where it cut the text.
ELLIPSIS = "…"
#: The smallest ``max_chars`` for :func:`limited`: room for the marker of any realistic count and one kept character.
MIN_LIMIT = 32

# C0 controls, DEL and C1 controls (Unicode category Cc), the line and paragraph separators (Zl, Zp),
# lone surrogates (Cs: what a non-UTF-8 byte in an environment variable decodes to, and what no file
# can be written with), and the bidi marks, embeddings, overrides and isolates of "Trojan Source"
# (CVE-2021-42574), which reorder how the rest of a line is displayed.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Backslash escapes work before any ASCII punctuation in CommonMark; these are the characters that
# can start structure inline: code, emphasis, strikethrough, links and images, table cells, headings,
# math on GitHub. `<`, `>` and `&` become entities, which also hold in renderers that pass HTML
# through. Escaping the backslash itself keeps a user's `\*` from cancelling our escape.
_MARKDOWN_ESCAPES = {char: "\\" + char for char in "\\`*_[]|#~!$"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MARKDOWN = re.compile(f"{_CONTROL.pattern}|[{re.escape(''.join(_MARKDOWN_ESCAPES))}]")
# What only means something at the start of a line: a list item (`-`, `+`, `1.`, `1)`) or a setext
# underline (`=`). Escaped there in case the caller puts the text at the start of a line.
_LINE_START = re.compile(r"^([ \t]*)([-+=]|\d{1,9}(?=[.)]))")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str) -> str:
    """``text`` as one line for a terminal: control characters and bidi controls as visible escapes."""
    return _CONTROL.sub(_visible, text)


def _line_start(match: re.Match[str]) -> str:
    indent, marker = match.groups()
    # `1.` becomes `1\.`: the escape goes on the punctuation, the only place CommonMark honours it.
    return f"{indent}\\{marker}" if not marker.isdigit() else f"{indent}{marker}\\"


def _markdown(match: re.Match[str]) -> str:
    char = match.group()
    return _MARKDOWN_ESCAPES[char] if char in _MARKDOWN_ESCAPES else _visible(match)


def markdown_inline(text: str, *, cell: bool = False) -> str:
    """``text`` for a Markdown paragraph or table cell: it renders as :func:`terminal` shows it, on one line.

    In a table ``cell`` nothing is at the start of a line, so a leading ``1.`` or ``-`` is left alone.
    """
    # One pass, so the backslash of a visible escape such as \n is not itself escaped.
    escaped = _MARKDOWN.sub(_markdown, text)
    return escaped if cell else _LINE_START.sub(_line_start, escaped, count=1)


def markdown_code(text: str, *, table: bool = True) -> str:
    """``text`` as an inline code span no content can close, on one line.

    GitHub-flavoured Markdown splits table rows at every unescaped ``|``, even inside code, so by
    default a ``|`` is written as ``\\|``, which a table cell renders as ``|``. In a paragraph the
    backslash would show: pass ``table=False`` there.
    """
    content = terminal(text)
    if table:
        content = content.replace("|", "\\|")
    if not content:
        return "` `"
    fence = "`" * (max((len(run) for run in re.findall("`+", content)), default=0) + 1)
    # CommonMark strips one space from each end when both ends are spaces (and not all is space);
    # padding both ends lets a content that starts or ends with a backtick or a space survive intact.
    if (content[0] in "` " or content[-1] in "` ") and content.strip(" "):
        content = f" {content} "
    return f"{fence}{content}{fence}"


def limited(text: str, max_chars: int = 200) -> str:
    """``text`` if it has at most ``max_chars`` characters, else its start, ``…`` and how many were dropped.

    The result never exceeds ``max_chars``. Apply it before escaping, so an escape is never cut in two.
    """
    if max_chars < MIN_LIMIT:
        raise ValueError(
            f"max_chars={max_chars} is too small to hold the truncation marker; pass at least {MIN_LIMIT}."
        )
    if len(text) <= max_chars:
        return text
    keep = max_chars
    while True:
        marker = f"{ELLIPSIS} ({len(text) - keep} more characters)"
        if keep + len(marker) <= max_chars:
            return text[:keep] + marker
        keep = max_chars - len(marker)
