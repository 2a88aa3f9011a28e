"""Corpus files to tensors.

A corpus file is UTF-8 text with one sequence per line. :func:`load_lines` reads it
strictly (no silent dropping of blank lines, exact position of any encoding error);
:func:`encode_corpus` turns the lines into a padded id tensor with one ``<eos>`` after
each sequence; :func:`load_id_sequences` reads the oracle's fixed-length id format, which
needs no vocabulary.

Layout of :attr:`EncodedCorpus.tokens` for ``max_len=6`` and a 3-token line ``a b c``::

    [a, b, c, <eos>, <pad>, <pad>]      lengths = 4

so at most ``max_len - 1`` real tokens fit in a row.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from seqgan.data.tokenizers import SUBWORD, Tokenizer, canonical_id, get_tokenizer
from seqgan.data.vocab import EOS, PAD, UNK, Vocab
from seqgan.errors import SeqGANError

__all__ = ["EncodedCorpus", "load_lines", "encode_corpus", "load_id_sequences", "kept_tokens", "check_length"]

_LONG_LINES = ("truncate", "skip")
_INT64_MAX = 2**63 - 1
#: A length beyond the longest line is allowed up to here (a margin costs little); past it, positions
#: that no line reaches only cost time (sampling and roll-outs grow with the length, Eq. 4 with T^2).
UNUSED_LENGTH_LIMIT = 1024


@dataclass
class EncodedCorpus:
    """A corpus as ids: ``tokens`` (N, max_len) and ``lengths`` (N,), both int64.

    ``lengths[i]`` counts the positions of row ``i`` up to and including its ``<eos>``.
    ``n_truncated`` lines were cut to ``max_len - 1`` tokens, ``n_skipped`` lines were left
    out for being too long, and ``n_unk`` tokens (over the kept rows) became ``<unk>``: tokens
    outside the vocabulary, and a subword tokenizer's ``<unk>`` pieces (characters it never saw).
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    n_truncated: int = 0
    n_skipped: int = 0
    n_unk: int = 0

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def load_lines(path: str | os.PathLike[str]) -> list[str]:
    """Read a UTF-8 corpus file into its lines, without line terminators.

    Lines end with LF or CR LF and are otherwise kept verbatim (the tokenizer decides what
    whitespace means). A UTF-8 byte-order mark at the start is ignored. Raises :class:`SeqGANError`
    for a missing or empty file, bytes that are not UTF-8 (with line number and byte offset), a NUL
    byte (UTF-16 text without a byte-order mark reads as UTF-8 with one in every other byte), a
    CR that ends no line (old Mac line ends: the whole file would be one line) and any line that
    is empty or only whitespace (each with its line number).
    """
    p = Path(path)
    if not p.exists():
        raise SeqGANError(f"corpus file {p} does not exist; check the path")
    if not p.is_file():
        raise SeqGANError(f"corpus path {p} is not a file; give a text file with one sequence per line")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise SeqGANError(f"cannot read corpus file {p}: {e.strerror or e}; check its permissions") from None
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    data = data[bom:]
    if not data:
        raise SeqGANError(f"corpus file {p} is empty; it needs one sequence per line")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_no = data.count(b"\n", 0, e.start) + 1
        raise SeqGANError(
            f"corpus file {p} is not UTF-8: line {line_no}, byte offset {e.start + bom} "
            f"(byte {data[e.start:e.start + 1]!r}); re-save the file as UTF-8"
        ) from None
    if "\x00" in text:  # UTF-16 text without a byte-order mark decodes as "UTF-8" with a NUL in every other byte
        at = text.index("\x00")
        raise SeqGANError(f"corpus file {p}, line {text.count(chr(10), 0, at) + 1} holds a NUL byte: is the file "
                          "UTF-16? Re-save it as UTF-8 text")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line terminator
    out = []
    for i, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if "\r" in line:
            raise SeqGANError(
                f"corpus file {p}, line {i} holds a carriage return (\\r) that does not end a line: old Mac "
                "line ends? Convert the file to \\n line ends (e.g. tr '\\r' '\\n')"
            )
        if not line.strip():
            raise SeqGANError(
                f"corpus file {p}, line {i} is blank; every line must hold one sequence (remove blank lines)"
            )
        out.append(line)
    return out


def _check_max_len(max_len: int) -> None:
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 2:
        raise SeqGANError(f"max_len must be an integer >= 2 (room for one token and <eos>), got {max_len!r}")


def _memory_bytes() -> int:
    """Physical memory of this machine (a large number where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 2**50


def _check_fits(rows: int, max_len: int, flag: str = "max_len") -> None:
    """The padded (rows, max_len) int64 tensor must fit in half of this machine's memory."""
    need, have = rows * max_len * 8, _memory_bytes()
    if need > have // 2:
        raise SeqGANError(f"{flag} {max_len} makes the {rows} padded rows {need / 2**30:.1f} GiB, more than "
                          f"half of this machine's {have / 2**30:.1f} GiB of memory; give a smaller {flag}")


def check_length(token_lists: Sequence[Sequence[str]], max_len: int, flag: str = "max_len",
                 eos: bool = True, warn_flag: str | None = None) -> None:
    """Refuse a sequence length that no line can use, far past the longest line, or that memory cannot hold.

    ``eos``: each row holds its line's tokens and an ``<eos>`` (the longest line needs one position more).
    ``flag`` names the setting in the message (``--max-len`` for the command line); ``warn_flag`` in a
    warning (printed, so no caller can rename it as train renames its errors), ``flag`` by default, and
    "" for no warning.
    """
    _check_max_len(max_len)
    longest = max((len(t) for t in token_lists), default=0)
    needed = longest + int(eos)
    if max_len > needed and max_len > UNUSED_LENGTH_LIMIT:
        raise SeqGANError(
            f"{flag} {max_len} is longer than any line can use: the longest line has {longest} tokens, so "
            f"{flag} {needed} holds every line{' and its <eos>' if eos else ''}; lengths past "
            f"{UNUSED_LENGTH_LIMIT} that no line reaches only cost time. Give {flag} {needed} or less")
    if max_len > 2 * needed and max_len >= 40 and warn_flag != "":  # e.g. 1,000 for 40-token lines: ~2,000x slower
        name = flag if warn_flag is None else warn_flag
        print(f"warning: {name} {max_len} is more than twice what the longest line needs ({needed}"
              f"{' with <eos>' if eos else ''}); sampling and roll-outs cost grows with the length (roll-outs with "
              f"its square), so {needed} trains the same lines faster", file=sys.stderr)
    _check_fits(len(token_lists), max_len, flag)


def kept_tokens(token_lists: Sequence[Sequence[str]], room: int, long_lines: str = "truncate") -> list[list[str]]:
    """What :func:`encode_corpus` keeps of each line: its first ``room`` tokens (``"truncate"``), or only
    the lines of at most ``room`` tokens (``"skip"``). The vocabulary is built from this, so tokens that
    truncation throws away get no ids."""
    if long_lines not in _LONG_LINES:
        raise SeqGANError(f"long_lines must be one of {', '.join(_LONG_LINES)}, got {long_lines!r}")
    if long_lines == "skip":
        kept = [list(t) for t in token_lists if len(t) <= room]
        if token_lists and not kept:
            raise SeqGANError(f"all {len(token_lists)} lines are longer than {room} tokens and were skipped; "
                              "give a larger length or long_lines='truncate'")
        return kept
    return [list(t[:room]) for t in token_lists]


def encode_corpus(
    lines: Sequence[str],
    tokenizer: Tokenizer | str,
    vocab: Vocab,
    max_len: int,
    long_lines: str = "truncate",
) -> EncodedCorpus:
    """Tokenize and encode ``lines`` into an :class:`EncodedCorpus` of width ``max_len``.

    Each row is the line's ids, one ``<eos>``, then ``<pad>`` up to ``max_len``. Lines with
    more than ``max_len - 1`` tokens are cut to their first ``max_len - 1`` tokens
    (``long_lines="truncate"``) or left out (``"skip"``).
    """
    _check_max_len(max_len)
    if long_lines not in _LONG_LINES:
        raise SeqGANError(f"long_lines must be one of {', '.join(_LONG_LINES)}, got {long_lines!r}")
    if not isinstance(vocab, Vocab):
        raise SeqGANError(f"vocab must be a seqgan Vocab, got {type(vocab).__name__}")
    tok = get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    if len(lines) == 0:
        raise SeqGANError("no lines to encode; the corpus is empty")
    room = max_len - 1
    # a literal <unk> in char/word/ids text is the data's own; a subword <unk> piece is a character never seen
    subword = getattr(tok, "name", None) in SUBWORD
    rows: list[list[int]] = []
    n_truncated = n_skipped = n_unk = 0
    for i, line in enumerate(lines, start=1):
        tokens = tok.tokenize(line)
        if not tokens:
            raise SeqGANError(f"line {i} has no tokens under the {tok.name} tokenizer; remove it or fix it")
        if PAD in tokens or EOS in tokens:
            raise SeqGANError(f"line {i} contains a literal {PAD} or {EOS} token; these are reserved, remove them")
        if len(tokens) > room:
            if long_lines == "skip":
                n_skipped += 1
                continue
            tokens = tokens[:room]
            n_truncated += 1
        ids = vocab.encode(tokens)
        n_unk += sum(1 for t, j in zip(tokens, ids) if j == vocab.unk_id and (subword or t != UNK))
        rows.append(ids)
    if not rows:
        raise SeqGANError(
            f"all {len(lines)} lines are longer than max_len - 1 = {room} tokens and were skipped; "
            "raise max_len or use long_lines='truncate'"
        )
    _check_fits(len(rows), max_len)
    lengths = torch.tensor([len(ids) + 1 for ids in rows], dtype=torch.long)
    padded = torch.full((len(rows), max_len), vocab.pad_id, dtype=torch.long)
    for i, ids in enumerate(rows):
        padded[i, :len(ids) + 1] = torch.tensor(ids + [vocab.eos_id], dtype=torch.long)
    return EncodedCorpus(padded, lengths, n_truncated, n_skipped, n_unk)


def load_id_sequences(
    path: str | os.PathLike[str], vocab_size: int | None = None, seq_len: int | None = None
) -> torch.Tensor:
    """Read a file of space-separated token ids, all lines of one length, as an (N, L) int64 tensor.

    This is the oracle experiment's format (e.g. 20 ids per line); ids are used as they are,
    with no vocabulary, ``<eos>`` or padding. ``seq_len``, when given, is the required line
    length (otherwise the first line sets it); ``vocab_size``, when given, bounds the ids.
    """
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1):
        raise SeqGANError(f"vocab_size must be a positive integer, got {vocab_size!r}")
    if seq_len is not None and (isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1):
        raise SeqGANError(f"seq_len must be a positive integer, got {seq_len!r}")
    lines = load_lines(path)
    limit = _INT64_MAX if vocab_size is None else vocab_size - 1
    expected = seq_len
    rows: list[list[int]] = []
    for i, line in enumerate(lines, start=1):
        parts = line.split()
        if expected is None:
            expected = len(parts)
        elif len(parts) != expected:
            first = "the required seq_len" if seq_len is not None else "line 1"
            raise SeqGANError(
                f"{path}, line {i} has {len(parts)} ids but {first} has {expected}; "
                "every line of an id file must have the same length"
            )
        row = []
        for tok in parts:
            if not (tok.isascii() and tok.isdigit()):
                raise SeqGANError(f"{path}, line {i}: {tok!r} is not a non-negative integer token id")
            canon = canonical_id(tok)  # None past 2**63 - 1, where int() could fail (over 4,300 digits)
            if canon is None or int(canon) > limit:
                bound = f"below vocab_size={vocab_size}" if vocab_size is not None else "below 2**63"
                shown = canon if canon is not None else f"{tok[:20]}... ({len(tok)} digits)"
                raise SeqGANError(f"{path}, line {i}: id {shown} is out of range; ids must be {bound}")
            row.append(int(canon))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)
