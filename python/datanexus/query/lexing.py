"""The token pass before sqlglot parses a query: refusals and the dialect's spellings.

Three spellings of the DataNexus dialect are not SQL, so they are rewritten at token
level (never inside string literals) before sqlglot sees the text:

* ``distinct(field)`` → ``dn_distinct(field)`` (SQL would read ``SELECT DISTINCT (x)``);
* ``p99.9(field)`` → ``p99_9(field)`` (SQL would read ``p99 . 9(...)``);
* ``5m``, ``1.5h``, ``250ms`` (a number glued to a duration unit) → ``'5m'``.

Refused here, before any parsing: ``;`` (stacked statements, even a trailing one) and
comments (``--``, ``/* */``), which carry nothing a query needs and are the classic way
to hide the tail of an injected statement. :class:`Prepared` maps positions in the
rewritten text back to the user's text, so every error points at what the user wrote.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from datanexus.errors import QueryError

__all__ = ["DURATION_UNITS", "MAX_QUERY_CHARS", "Prepared", "prepare"]

MAX_QUERY_CHARS = 20_000
"""Longer text is refused before tokenising: no legitimate query is that long."""

DURATION_UNITS = ("ms", "s", "m", "h", "d", "w")
_PERCENTILE = re.compile(r"p\d+", re.IGNORECASE)
_DIALECT = Postgres()


@dataclass(frozen=True)
class Prepared:
    """The rewritten text and how to map its offsets back to the original."""

    original: str
    text: str
    # Sorted offsets in ``text`` where a piece starts, and the offset in ``original``
    # each piece came from.
    _new_starts: tuple[int, ...]
    _old_starts: tuple[int, ...]

    def original_offset(self, offset: int) -> int:
        """The offset in the user's text of ``offset`` in the rewritten text."""
        i = bisect.bisect_right(self._new_starts, offset) - 1
        if i < 0:
            return max(0, min(offset, len(self.original)))
        delta = offset - self._new_starts[i]
        return max(0, min(self._old_starts[i] + delta, len(self.original)))

    def error(self, message: str, offset: int | None) -> QueryError:
        """A :class:`QueryError` at ``offset`` of the rewritten text."""
        if offset is None:
            return QueryError(message)
        return QueryError(message, position=self.original_offset(offset), text=self.original)


def _tokens(text: str) -> list[Token]:
    try:
        return list(_DIALECT.tokenize(text))
    except SqlglotError as error:
        raise QueryError(f"cannot read the query: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _adjacent(a: Token, b: Token) -> bool:
    return a.end + 1 == b.start


def prepare(text: str) -> Prepared:
    """Check and rewrite ``text`` (see the module doc). Raises :class:`QueryError` for
    text that is not a string, too long, empty, or holds ``;`` or a comment."""
    if not isinstance(text, str):
        raise QueryError(f"the query must be a string, not {type(text).__name__}")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text)} characters long; at most {MAX_QUERY_CHARS}")
    if "\x00" in text:
        raise QueryError("the query contains a NUL character", position=text.index("\x00"))
    tokens = _tokens(text)
    if not tokens:
        raise QueryError("the query is empty; expected SELECT … FROM <stream>")
    # (start, end inclusive, replacement) in the original text, ascending.
    edits: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.comments:
            raise QueryError("comments are not allowed in queries", position=tok.start, text=text)
        if tok.token_type == TokenType.SEMICOLON:
            raise QueryError(
                "';' is not allowed: one SELECT statement per query", position=tok.start, text=text
            )
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.token_type == TokenType.DISTINCT and nxt and nxt.token_type == TokenType.L_PAREN:
            edits.append((tok.start, tok.end, "dn_distinct"))
        elif (
            tok.token_type == TokenType.VAR
            and _PERCENTILE.fullmatch(tok.text)
            and i + 3 < len(tokens)
            and tokens[i + 1].token_type == TokenType.DOT
            and tokens[i + 2].token_type == TokenType.NUMBER
            and tokens[i + 2].text.isdigit()
            and tokens[i + 3].token_type == TokenType.L_PAREN
            and _adjacent(tok, tokens[i + 1])
            and _adjacent(tokens[i + 1], tokens[i + 2])
        ):
            edits.append((tok.start, tokens[i + 2].end, f"{tok.text}_{tokens[i + 2].text}"))
            i += 2
        elif (
            tok.token_type == TokenType.NUMBER
            and nxt is not None
            and nxt.token_type == TokenType.VAR
            and _adjacent(tok, nxt)
            and nxt.text.lower() in DURATION_UNITS
        ):
            edits.append((tok.start, nxt.end, f"'{tok.text}{nxt.text.lower()}'"))
            i += 1
        i += 1
    return _apply(text, edits)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> Prepared:
    pieces: list[str] = []
    new_starts: list[int] = []
    old_starts: list[int] = []
    old = 0
    new = 0
    for start, end, replacement in edits:
        if start > old:
            new_starts.append(new)
            old_starts.append(old)
            pieces.append(text[old:start])
            new += start - old
        new_starts.append(new)
        old_starts.append(start)
        pieces.append(replacement)
        new += len(replacement)
        old = end + 1
    new_starts.append(new)
    old_starts.append(old)
    pieces.append(text[old:])
    return Prepared(text, "".join(pieces), tuple(new_starts), tuple(old_starts))
