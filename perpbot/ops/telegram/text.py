"""Provides reply text: blocks of plain, bold or preformatted text, escaped for HTML and split to Telegram's limit.

Replies are built as `Block`s of raw text and rendered here only, so every character that came
from elsewhere (a symbol, an engine error, a reason) is escaped exactly once. A message may hold
at most 4,096 characters; longer replies are split between blocks, a too-long block between
its lines, and a preformatted block that is split is closed and reopened so every part parses.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_CHARS = 4096
"""Telegram's limit per message. Counted here in UTF-16 units of the HTML, which is never less
than what Telegram counts (characters after entity parsing), so a chunk is never too long."""

PLAIN, BOLD, PRE = "", "b", "pre"


@dataclass(frozen=True, slots=True)
class Block:
    """Raw (unescaped) text and how to show it."""

    text: str
    style: str = PLAIN


@dataclass(frozen=True, slots=True)
class Chunk:
    """One message: the HTML to send, and the same text without markup for a plain-text retry."""

    html: str
    plain: str


def escape(text: str) -> str:
    """Text safe inside HTML parse mode: only <, > and & need it (the Bot API's rule)."""
    return html.escape(text, quote=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render(block: Block) -> str:
    body = escape(block.text)
    return f"<{block.style}>{body}</{block.style}>" if block.style else body


def chunks(blocks: Sequence[Block], limit: int = MAX_CHARS) -> list[Chunk]:
    """The blocks as messages of at most `limit` characters, blocks separated by a newline."""
    out: list[Chunk] = []
    html_parts: list[str] = []
    plain_parts: list[str] = []
    size = 0
    for block in _fitting(blocks, limit):
        rendered = render(block)
        length = utf16_len(rendered)
        if html_parts and size + 1 + length > limit:
            out.append(Chunk("\n".join(html_parts), "\n".join(plain_parts)))
            html_parts, plain_parts, size = [], [], 0
        size += length + (1 if html_parts else 0)
        html_parts.append(rendered)
        plain_parts.append(block.text)
    if html_parts:
        out.append(Chunk("\n".join(html_parts), "\n".join(plain_parts)))
    return out


def _fitting(blocks: Iterable[Block], limit: int) -> Iterable[Block]:
    """The blocks, each too-long one cut into blocks of whole lines (a too-long line into pieces)."""
    markup = 2 * 3 + 1 + 3  # <pre></pre> is the longest wrapper
    for block in blocks:
        if utf16_len(render(block)) <= limit:
            yield block
            continue
        part: list[str] = []
        size = 0
        for line in _pieces(block.text.split("\n"), (limit - markup) // 5):
            length = utf16_len(escape(line)) + 1
            if part and size + length > limit - markup:
                yield Block("\n".join(part), block.style)
                part, size = [], 0
            part.append(line)
            size += length
        if part:
            yield Block("\n".join(part), block.style)


def _pieces(lines: Iterable[str], width: int) -> Iterable[str]:
    """Lines no longer than `width` characters (escaping grows a character to at most 5: &amp;)."""
    for line in lines:
        while len(line) > width:
            yield line[:width]
            line = line[width:]
        yield line
