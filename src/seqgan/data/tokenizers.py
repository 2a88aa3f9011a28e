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
    A number must be below 2**63, as a token id of :func:`seqgan.data.text.load_id_sequences` is.

And two that are learnt from the training data (:mod:`seqgan.data.subword`): ``bpe`` and
``unigram`` subword pieces. :func:`get_tokenizer` cannot make those from a name; a run trains
one and its checkpoints carry it (:func:`tokenizer_from_checkpoint`).
"""

from __future__ import annotations

import re
from typing import Protocol, Sequence

from seqgan.errors import SeqGANError

__all__ = ["Tokenizer", "CharTokenizer", "WordTokenizer", "IdsTokenizer", "TOKENIZERS", "SUBWORD", "get_tokenizer",
           "tokenizer_from_checkpoint", "tokenizer_entry"]

_ASCII_INT = re.compile(r"[0-9]+")
_MAX_ID_DIGITS = 19  # 2**63 - 1 has 19 digits


def canonical_id(tok: str) -> str | None:
    """``tok`` (ASCII digits) as plain decimal, or None past 2**63 - 1. Never int() on the whole string:
    Python refuses int() of more than 4,300 digits (a ValueError), e.g. an ids file written without spaces."""
    digits = tok.lstrip("0") or "0"
    if len(digits) > _MAX_ID_DIGITS or int(digits) >= 2**63:
        return None
    return digits


def _too_large(tok: str) -> str:
    shown = tok if len(tok) <= 24 else f"{tok[:20]}... ({len(tok)} digits)"
    return (f"ids tokenizer: {shown} is too large for a token id; an ids corpus holds space-separated numbers "
            "below 2**63 such as '12 0 87' (are spaces missing between them?)")


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
            canon = canonical_id(tok)
            if canon is None:
                raise SeqGANError(_too_large(tok))
            out.append(canon)
        return out

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join with single spaces; every token must be a non-negative integer string."""
        out = []
        for i, tok in enumerate(tokens):
            if not _ASCII_INT.fullmatch(tok):
                raise SeqGANError(f"ids tokenizer: token {i} is {tok!r}, not a non-negative integer")
            canon = canonical_id(tok)
            if canon is None:
                raise SeqGANError(_too_large(tok))
            out.append(canon)
        return " ".join(out)


SUBWORD = ("bpe", "unigram")
"""The tokenizers trained on a corpus (seqgan.data.subword)."""
TOKENIZERS: dict[str, type | None] = {"char": CharTokenizer, "word": WordTokenizer, "ids": IdsTokenizer,
                                      **dict.fromkeys(SUBWORD)}


def get_tokenizer(name: "str | Tokenizer") -> Tokenizer:
    """Return a tokenizer by name (``char``, ``word`` or ``ids``); a tokenizer object is returned as it is."""
    if not isinstance(name, str) and hasattr(name, "tokenize"):
        return name
    if name in SUBWORD:
        raise SeqGANError(f"the {name} tokenizer is learnt from a training file, so a name is not enough: take "
                          "it from a checkpoint of the run that trained it (eval --tokenizer-from CKPT)")
    cls = TOKENIZERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise SeqGANError(f"unknown tokenizer {name!r}; choose one of: {', '.join(TOKENIZERS)}")
    return cls()


def tokenizer_from_checkpoint(ckpt: dict, path: object = "checkpoint") -> Tokenizer:
    """The tokenizer a real-data checkpoint was trained with: by its name, or its stored subword model."""
    name = ckpt.get("tokenizer")
    if name in SUBWORD:
        from seqgan.data.subword import SubwordTokenizer

        tok = SubwordTokenizer.from_dict(ckpt.get("tokenizer_model"))
        if tok.name != name:
            raise SeqGANError(f"{path}: tokenizer {name!r} but a stored {tok.name} model; it is damaged")
        return tok
    if name not in TOKENIZERS:
        raise SeqGANError(f"{path} has no tokenizer of seqgan train (it names {name!r}); give a checkpoint "
                          "of seqgan train")
    return get_tokenizer(name)


def tokenizer_entry(tok: "Tokenizer | str") -> dict:
    """What a checkpoint stores beside the tokenizer's name: a subword tokenizer's model."""
    return {"tokenizer_model": tok.to_dict()} if hasattr(tok, "to_dict") else {}
