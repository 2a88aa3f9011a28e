"""The real corpus as the models see it: the vocabulary and tokenizer learnt from the training file, S and
the held-out rows, and the checks that a resumed run or a checkpoint was built from the same data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import torch

from seqgan import distributed as dist
from seqgan.checkpoint import load_checkpoint
from seqgan.config import Config
from seqgan.data.subword import make_tokenizer, model_mismatch
from seqgan.data.text import check_length, encode_corpus, kept_tokens, load_lines
from seqgan.data.tokenizers import SUBWORD, Tokenizer, get_tokenizer, tokenizer_from_checkpoint
from seqgan.data.vocab import Vocab
from seqgan.errors import SeqGANError


@dataclass
class Corpus:
    """A real corpus as the models see it: S (N, T) and the held-out set (M, T), both int64."""

    vocab: Vocab
    tokenizer: str
    train: torch.Tensor
    valid: torch.Tensor | None
    stats: dict[str, Any]
    tok: Tokenizer | None = None  # the tokenizer itself; bpe / unigram: the one trained on the data


def _tokenized(path: str, tokenizer: Tokenizer | str) -> list[list[str]]:
    tok = get_tokenizer(tokenizer)
    out = []
    for i, line in enumerate(load_lines(path), start=1):
        try:
            out.append(tok.tokenize(line))
        except SeqGANError as exc:
            raise SeqGANError(f"{path}, line {i}: {exc}") from None
    return out


def room(cfg: Config) -> int:
    """Most tokens a line keeps: T - 1 and an <eos>, or all T with data.fixed_length."""
    return cfg.model.seq_len if cfg.data.fixed_length else cfg.model.seq_len - 1


def _encode(path: str, vocab: Vocab, cfg: Config, tok: Tokenizer) -> tuple[torch.Tensor, dict[str, int]]:
    """A corpus file -> (rows (N, T) int64, counts of lines kept / truncated / skipped and <unk> tokens).
    With data.fixed_length every line must have at least T tokens, and the rows hold no <eos>."""
    lines = load_lines(path)
    T = cfg.model.seq_len
    if cfg.data.fixed_length:
        for i, line in enumerate(lines, start=1):
            if len(tok.tokenize(line)) < T:
                raise SeqGANError(
                    f"{path}, line {i} has {len(tok.tokenize(line))} tokens, but data.fixed_length needs every line "
                    f"to have model.seq_len = {T} (longer ones are cut or skipped); drop --fixed-length to train "
                    "on variable lengths, or remove the short lines")
    try:  # fixed length: encode with room for an <eos>, then drop that column
        enc = encode_corpus(lines, tok, vocab, room(cfg) + 1, cfg.data.long_lines)
    except SeqGANError as exc:
        raise SeqGANError(f"{path}: {exc}") from None
    if cfg.data.fixed_length:
        enc.tokens, enc.lengths = enc.tokens[:, :T], enc.lengths - 1
    stats = {"lines": len(lines), "kept": len(enc), "truncated": enc.n_truncated, "skipped": enc.n_skipped,
             "unk_tokens": enc.n_unk, "tokens": int(enc.lengths.sum()),
             "sha256": hashlib.sha256(enc.tokens.contiguous().numpy().tobytes()).hexdigest()[:16]}  # resume checks it
    return enc.tokens, stats


def load_corpus(cfg: Config, tok: Tokenizer | None = None) -> Corpus:
    """Build the vocabulary from the tokens of the training file that its rows keep, then encode
    training and validation. ``tok``: a run's own (stored) tokenizer; by default it is named or learnt."""
    d = cfg.data
    if d.train_path is None:
        raise SeqGANError("no training data: give --data FILE (one sequence per line)")
    tok = tok or make_tokenizer(d.tokenizer, d.train_path, d.max_vocab, room(cfg))
    lines = _tokenized(d.train_path, tok)
    check_length(lines, cfg.model.seq_len, "model.seq_len", eos=not d.fixed_length,  # its warning once, not per process
                 warn_flag="--max-len (model.seq_len)" if dist.is_main() else "")
    vocab = Vocab.build(kept_tokens(lines, room(cfg), d.long_lines), min_count=d.min_count, max_size=d.max_vocab)
    train, train_stats = _encode(d.train_path, vocab, cfg, tok)
    stats: dict[str, Any] = {"vocab_size": len(vocab), "train": train_stats}
    valid = None
    if d.valid_path is not None:
        valid, stats["valid"] = _encode(d.valid_path, vocab, cfg, tok)
    return Corpus(vocab, d.tokenizer, train, valid, stats, tok)


def stored_tokenizer(cfg: Config, ckpt: dict[str, Any] | Path) -> dict[str, Any] | None:
    """The subword model a run learnt (``to_dict``), read from its checkpoint: a newer sentencepiece may learn
    other pieces from the same data, so the run keeps its own. None for named tokenizers, a missing checkpoint
    (the caller's own error follows) or one of another tokenizer (check_resume_config names the difference)."""
    if cfg.data.tokenizer not in SUBWORD or (isinstance(ckpt, Path) and not ckpt.is_file()):
        return None
    path = ckpt if isinstance(ckpt, Path) else "the checkpoint"
    data = load_checkpoint(ckpt) if isinstance(ckpt, Path) else ckpt
    if data.get("tokenizer") != cfg.data.tokenizer:
        return None
    try:
        return tokenizer_from_checkpoint(data, path).to_dict()
    except SeqGANError as exc:
        raise SeqGANError(f"{path}: {exc}; restore it, or start a new run") from None


def check_same_data(saved: dict[str, Any], now: dict[str, Any], out: Path) -> None:
    """--resume reads --data and --valid again: they must encode to the rows the run began with (an edited or
    re-fetched file would change NLL-test midway). Checkpoints of older runs hold fewer keys; those are compared."""
    if not isinstance(saved, dict) or not all(isinstance(saved.get(s) or {}, dict) for s in ("train", "valid")):
        raise SeqGANError(f"--resume {out}: the checkpoint's data_stats are damaged; restore it, or start a new run")
    for split in ("train", "valid"):
        was, new = saved.get(split) or {}, now.get(split) or {}
        keys = sorted((was.keys() & new.keys()) - {"unk_tokens"})  # a count whose rule changed (subword <unk>
        diff = [k for k in keys if was[k] != new[k]]                # pieces); the rows' sha256 covers the content
        if diff:
            raise SeqGANError(f"--resume {out}: the {split} file changed since the run began ({diff[0]}: {was[diff[0]]} "
                              f"then, {new[diff[0]]} now); give the files it began with, or start a new run")


def describe(stats: dict[str, Any], cfg: Config) -> str:
    """The data lines of the log: how many lines were kept, truncated, skipped; the vocabulary."""
    parts = []
    for split in ("train", "valid"):
        if split in stats:
            s = stats[split]
            parts.append(f"{split}: {s['kept']} of {s['lines']} lines kept, {s['truncated']} truncated and "
                         f"{s['skipped']} skipped (longer than {room(cfg)} tokens), "
                         f"{s['unk_tokens']} <unk> tokens")
    parts.append(f"vocabulary: {stats['vocab_size']} tokens with <pad>, <eos>, <unk> "
                 f"(min_count {cfg.data.min_count}, tokenizer {cfg.data.tokenizer}); sequences of "
                 + (f"exactly {cfg.model.seq_len} tokens, no <eos>" if cfg.data.fixed_length else
                    f"up to {cfg.model.seq_len - 1} tokens and an <eos>"))
    return "\n".join(parts)


def check_vocab(ckpt: dict[str, Any], corpus: Corpus, path: Path, flag: str) -> None:
    """The checkpoint's vocabulary and tokenizer must be the ones built from the data."""
    if ckpt.get("vocab") is None:
        raise SeqGANError(f"{flag} {path}: the checkpoint has no vocabulary (it is from the synthetic task); "
                          "give a checkpoint of seqgan train")
    theirs = Vocab.from_dict(ckpt["vocab"])
    diff = corpus.vocab.mismatch(theirs) or model_mismatch(ckpt, corpus.tok)
    if diff is not None or ckpt.get("tokenizer") != corpus.tokenizer:
        why = diff if diff is not None else f"tokenizer {ckpt.get('tokenizer')!r} vs {corpus.tokenizer!r}"
        raise SeqGANError(
            f"{flag} {path}: the checkpoint's vocabulary does not match the one built from the data "
            f"({why}; data first). Use the same --data, --tokenizer, --max-len, --long-lines, data.min_count and "
            "data.max_vocab as the run that wrote it (cut or skipped lines change the token counts, and so the "
            "vocabulary); " + ("a data file edited since the run began gives another vocabulary too: restore it"
                               if flag == "--resume" else "or start without it")
        )
