"""Normalising English prose into space-separated lowercase word tokens.

Used by the ``speech`` and ``coco`` corpora so both read with the ``word`` tokenizer:

* lowercase; curly quotes and apostrophes become straight ones;
* bracketed editorial notes such as ``[Applause]`` or ``[Laughter]`` are removed;
* a word is a run of letters/digits, possibly joined by internal ``'`` ``.`` ``,`` ``-``
  (``don't``, ``u.s``, ``1,000``, ``well-being``, ``21st``);
* every other non-space character is a token of its own (``.`` ``,`` ``?`` ``$`` ``%``),
  except that a run of two or more hyphens (a dash) is one token ``--``.

Sentences are split after ``.``, ``!`` or ``?`` (optionally followed by a closing quote or
bracket) when whitespace and an uppercase letter, digit or opening quote follow, unless the
word before the full stop is a common abbreviation (Mr., Dr., U.S., ...) or a single
initial. It is a simple rule, not a trained splitter: a few sentences stay joined or split
early, which is harmless for a language-model corpus.
"""

from __future__ import annotations

import re

__all__ = ["normalize_words", "split_sentences"]

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "--", "\u2013": "-"})
_BRACKETED = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"\w+(?:['.,\-]\w+)*|-{2,}|[^\w\s]")
_BOUNDARY = re.compile(r"""([.!?]["')\]]*)\s+(?=["'(]?[A-Z0-9])""")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr sen rep gen gov lt col sgt capt messrs no vs etc inc co corp dept "
    "u.s u.n u.s.s.r d.c a.m p.m e.g i.e jan feb mar apr aug sept sep oct nov dec mt ft".split()
)


def normalize_words(text: str) -> str:
    """Return ``text`` as lowercase tokens joined by single spaces (see the module docstring)."""
    text = _BRACKETED.sub(" ", text.translate(_QUOTES)).lower()
    return " ".join(_TOKEN.findall(text))


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph of prose into sentences (original text, stripped)."""
    paragraph = _BRACKETED.sub(" ", paragraph.translate(_QUOTES))
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(paragraph):
        before = paragraph[start:m.start(1)].split()
        last = before[-1].lower().rstrip(".") if before else ""
        if m.group(1).startswith(".") and (last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
            continue
        out.append(paragraph[start:m.end(1)].strip())
        start = m.end()
    out.append(paragraph[start:].strip())
    return [s for s in out if s]
