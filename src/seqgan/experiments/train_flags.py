"""``seqgan train``'s flags checked in their own terms: --vocab-size against --max-vocab, and errors that
speak of --max-len where the config says model.seq_len."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Iterator

from seqgan.data.tokenizers import SUBWORD
from seqgan.errors import SeqGANError


@contextmanager
def flag_names() -> Iterator[None]:
    """Errors in the terms of train's flags: model.seq_len is what --max-len sets."""
    try:
        yield
    except SeqGANError as exc:
        if type(exc) is not SeqGANError or "model.seq_len" not in str(exc):
            raise
        raise SeqGANError(str(exc).replace("model.seq_len=", "--max-len ").replace("model.seq_len", "--max-len")) \
            from None


def vocab_size_flag(args: argparse.Namespace) -> int | None:
    """data.max_vocab from --vocab-size (bpe, unigram: the size to learn) or --max-vocab (the others: a cap)."""
    if args.tokenizer is None:  # --resume: the run's tokenizer; a differing size is refused by the config check
        return args.vocab_size if getattr(args, "vocab_size", None) is not None else args.max_vocab
    subword = args.tokenizer in SUBWORD
    if getattr(args, "vocab_size", None) is not None and not subword:
        raise SeqGANError(f"--vocab-size sizes a learnt tokenizer (bpe, unigram); --tokenizer {args.tokenizer} "
                          "keeps its tokens, so cap them with --max-vocab instead")
    if subword and args.max_vocab is not None:
        raise SeqGANError(f"--tokenizer {args.tokenizer} learns a vocabulary of --vocab-size N; give that "
                          "instead of --max-vocab")
    return getattr(args, "vocab_size", None) if subword else args.max_vocab
