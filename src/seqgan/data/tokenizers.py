"""Tokenizers: how one line of a corpus file becomes a list of string tokens and back.

Three tokenizers, chosen by name with :func:`get_tokenizer`:

``char``
    Every Unicode code point is a token, spaces included. Keeping spaces makes
    ``detokenize(tokenize(line)) == line`` hold for every line, so a corpus written without
    separators (Chinese poems: 20 characters per line) and one written with spaces both
    survive a round trip unchanged. Corpora meant for ``char`` should simply not contain
    spaces they do not want modelled.
``word``
    Whitespace split (any run of Unicode whitespace separates tokens); ``detokenize`` joins
    with single spaces, so a round trip normalises spacing and is otherwise exact.
``ids``
    Whitespace-separated non-negative integers written in ASCII digits (music pitches, the
    oracle's token-id files). Tokens are canonical decimal strings (``"007"`` becomes
    ``"7"``) so one number is one token; ``detokenize`` writes the same space-separated format.
"""

from __future__ import annotations

import re
from typing import Protocol, Sequence

from seqgan.errors import SeqGANError

__all__ = ["Tokenizer", "CharTokenizer", "WordTokenizer", "IdsTokenizer", "TOKENIZERS", "get_tokenizer"]

_ASCII_INT = re.compile(r"[0-9]+")


class Tokenizer(Protocol):
    """What every tokenizer offers: a name and a pair of inverse-ish functions."""

    name: str

    def tokenize(self, line: str) -> list[str]:
        """Split one line (without its line terminator) into tokens."""
        ...

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join tokens back into one line of the corpus format."""
        ...


class CharTokenizer:
    """One token per Unicode code point; spaces are tokens too (see the module docstring)."""

    name = "char"

    def tokenize(self, line: str) -> list[str]:
        """Return the characters of ``line``."""
        return list(line)

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Concatenate the tokens; each must be a single character."""
        for i, tok in enumerate(tokens):
            if len(tok) != 1:
                raise SeqGANError(
                    f"char tokenizer: token {i} is {tok!r}, not a single character; "
                    "use the word tokenizer for multi-character tokens"
                )
        return "".join(tokens)


class WordTokenizer:
    """Whitespace-separated words; joined back with single spaces."""

    name = "word"

    def tokenize(self, line: str) -> list[str]:
        """Split ``line`` on runs of whitespace."""
        return line.split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join with single spaces; tokens must be non-empty and free of whitespace."""
        for i, tok in enumerate(tokens):
            if tok.split() != [tok]:
                raise SeqGANError(
                    f"word tokenizer: token {i} is {tok!r}; words must be non-empty and contain no whitespace"
                )
        return " ".join(tokens)


class IdsTokenizer:
    """Whitespace-separated non-negative integers, canonicalised to plain decimal."""

    name = "ids"

    def tokenize(self, line: str) -> list[str]:
        """Split ``line`` and check every piece is a non-negative integer."""
        out = []
        for tok in line.split():
            if not _ASCII_INT.fullmatch(tok):
                raise SeqGANError(
                    f"ids tokenizer: {tok!r} is not a non-negative integer; "
                    "an ids corpus holds only space-separated numbers such as '12 0 87'"
                )
            out.append(str(int(tok)))
        return out

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join with single spaces; every token must be a non-negative integer string."""
        for i, tok in enumerate(tokens):
            if not _ASCII_INT.fullmatch(tok):
                raise SeqGANError(f"ids tokenizer: token {i} is {tok!r}, not a non-negative integer")
        return " ".join(str(int(t)) for t in tokens)


TOKENIZERS: dict[str, type] = {"char": CharTokenizer, "word": WordTokenizer, "ids": IdsTokenizer}


def get_tokenizer(name: str) -> Tokenizer:
    """Return a tokenizer by name (``char``, ``word`` or ``ids``)."""
    cls = TOKENIZERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise SeqGANError(f"unknown tokenizer {name!r}; choose one of: {', '.join(TOKENIZERS)}")
    return cls()
