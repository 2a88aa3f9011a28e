"""Subword tokenizers for your own text: ``bpe`` and ``unigram``, trained on the training split.

Both come from `sentencepiece <https://github.com/google/sentencepiece>`_ (Kudo and Richardson, 2018):
byte-pair encoding (Sennrich et al., 2016) and the unigram language model (Kudo, 2018). Why
sentencepiece rather than Hugging Face ``tokenizers``: it has no dependencies of its own (``tokenizers``
pulls in ``huggingface_hub`` and its HTTP stack), it splits raw text with or without spaces (Chinese
poems need no pre-tokenizer), both algorithms come through one trainer, and its model serialises to
bytes, which a checkpoint stores as a uint8 tensor that ``torch.load(weights_only=True)`` reads.

Settings, chosen so that a line survives the round trip: no normalisation (``identity``; the default
NFKC would change full-width characters), whitespace kept as it is (spaces become the piece prefix
``▁``, U+2581, so a literal ``▁`` in the text comes back as a space), every character of the training
text in the model (``character_coverage=1``), one thread (the same model on every run and process, which
``--resume`` and distributed runs need). ``--vocab-size N`` counts the 3 special tokens of
:mod:`seqgan.data.vocab`: sentencepiece learns up to N - 2 pieces, its ``<unk>`` among them, which is
seqgan's ``<unk>``; an unknown character reads as ``<unk>`` and is written as U+FFFD.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from seqgan.data.vocab import SPECIALS, UNK
from seqgan.errors import SeqGANError

__all__ = ["KINDS", "SubwordTokenizer", "train_subword", "MAX_PIECE_CHARS"]

KINDS = ("bpe", "unigram")
MAX_PIECE_CHARS = 16  # sentencepiece's max_piece_length: room pieces never span more characters than this
_FORMAT, _VERSION = "seqgan-subword", 1
_SPACE = "\u2581"


class SubwordTokenizer:
    """A trained sentencepiece model as a seqgan tokenizer: a line <-> its pieces (strings)."""

    def __init__(self, kind: str, model: bytes) -> None:
        import sentencepiece as spm

        if kind not in KINDS:
            raise SeqGANError(f"subword tokenizer kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not isinstance(model, bytes) or not model:
            raise SeqGANError("the subword tokenizer's model is empty; it is damaged")
        try:
            sp = spm.SentencePieceProcessor(model_proto=model)
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            raise SeqGANError(f"the {kind} tokenizer's model cannot be read ({type(exc).__name__}); "
                              "it is damaged") from None
        if sp.get_piece_size() < 2 or sp.unk_id() != 0 or sp.id_to_piece(0) != UNK:
            raise SeqGANError(f"the {kind} tokenizer's model is not one seqgan trained (no {UNK} at id 0)")
        self.name, self.model, self._sp = kind, model, sp

    def tokenize(self, line: str) -> list[str]:
        """The pieces of ``line``; an unknown character becomes ``<unk>``."""
        return self._sp.id_to_piece(self._sp.encode(line))

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join pieces back into text (``<unk>`` is written as U+FFFD)."""
        return self._sp.decode_pieces(list(tokens))

    def __len__(self) -> int:
        return self._sp.get_piece_size()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubwordTokenizer) and (self.name, self.model) == (other.name, other.model)

    def __hash__(self) -> int:
        return hash((self.name, self.model))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint (``weights_only=True``): the model as a uint8 tensor."""
        return {"format": _FORMAT, "version": _VERSION, "kind": self.name,
                "model": torch.frombuffer(bytearray(self.model), dtype=torch.uint8)}

    @classmethod
    def from_dict(cls, d: Any) -> "SubwordTokenizer":
        """Rebuild from :meth:`to_dict` output, checking every field."""
        where = "subword tokenizer in checkpoint"
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise SeqGANError(f"{where} must be a dict from SubwordTokenizer.to_dict(); it is damaged")
        if d.get("version") != _VERSION:
            raise SeqGANError(f"{where}: unsupported version {d.get('version')!r}; this seqgan reads {_VERSION}")
        model = d.get("model")
        if not isinstance(model, torch.Tensor) or model.dtype != torch.uint8 or model.dim() != 1:
            raise SeqGANError(f"{where}: 'model' must be a 1-D uint8 tensor; it is damaged")
        return cls(d.get("kind"), model.numpy().tobytes())


def _alphabet(lines: Sequence[str]) -> set[str]:
    """The characters sentencepiece must keep: every character, spaces as U+2581 (which it always adds)."""
    chars = set().union(*map(set, lines)) if lines else set()
    return (chars - {" "}) | {_SPACE}


def train_subword(lines: Sequence[str], kind: str, vocab_size: int | None, room: int | None = None,
                  flag: str = "--vocab-size") -> SubwordTokenizer:
    """Train a ``kind`` tokenizer on ``lines`` with at most ``vocab_size`` ids, seqgan's 3 special tokens included.

    ``room``: the most tokens a row keeps; each line is then trained on its first ``room * 16`` characters,
    which hold every piece a row can keep, so text that truncation throws away does not shape the pieces.
    """
    import io

    import sentencepiece as spm

    if kind not in KINDS:
        raise SeqGANError(f"subword tokenizer must be one of {', '.join(KINDS)}, got {kind!r}")
    if vocab_size is None:
        raise SeqGANError(f"--tokenizer {kind} learns its pieces from the training data: give {flag} N, "
                          "the size of the vocabulary (e.g. 2000)")
    if room is not None:
        lines = [line[: room * MAX_PIECE_CHARS] for line in lines]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise SeqGANError(f"the {kind} tokenizer has no text to learn from; the training file is empty")
    least = len(_alphabet(lines)) + len(SPECIALS)
    if vocab_size < least:
        raise SeqGANError(f"{flag} {vocab_size} is too small for the {kind} tokenizer: the training text has "
                          f"{least - len(SPECIALS)} distinct characters (a space counts as one), which with "
                          f"<pad>, <eos>, <unk> need {flag} {least} or more")
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=buf, model_type=kind,
            vocab_size=vocab_size - (len(SPECIALS) - 1), hard_vocab_limit=False, character_coverage=1.0,
            normalization_rule_name="identity", remove_extra_whitespaces=False,
            max_sentence_length=max(4192, 4 * max(map(len, lines)) + 1), num_threads=1,
            pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0, unk_piece=UNK, unk_surface="\ufffd", minloglevel=2)
    except RuntimeError as exc:
        reason = str(exc).rsplit("]", 1)[-1].strip() or str(exc)
        raise SeqGANError(f"the {kind} tokenizer could not be trained on this data ({reason[:200]}); "
                          f"try another {flag}") from None
    return SubwordTokenizer(kind, buf.getvalue())


def make_tokenizer(name: str, train_path: str, vocab_size: int | None, room: int | None = None):
    """The tokenizer of a run: ``char``/``word``/``ids`` by name, ``bpe``/``unigram`` trained on ``train_path``."""
    from seqgan.data.text import load_lines
    from seqgan.data.tokenizers import get_tokenizer

    if name not in KINDS:
        return get_tokenizer(name)
    try:
        return train_subword(load_lines(train_path), name, vocab_size, room)
    except SeqGANError as exc:
        raise SeqGANError(f"{train_path}: {exc}") from None


def model_mismatch(ckpt: dict, tok: object) -> str | None:
    """How a checkpoint's stored subword model differs from ``tok``'s, or None when they agree."""
    stored = ckpt.get("tokenizer_model")
    if not isinstance(tok, SubwordTokenizer):
        return None if stored is None else "the checkpoint has a subword model, the data's tokenizer has none"
    if stored is None:
        return "the checkpoint has no subword model"
    return None if SubwordTokenizer.from_dict(stored) == tok else "the subword models learnt from the data differ"


def save_model(directory, tok: object) -> None:
    """``directory/tokenizer.model`` for a subword tokenizer (sentencepiece reads it as it is); nothing otherwise."""
    if isinstance(tok, SubwordTokenizer):
        from pathlib import Path

        from seqgan.checkpoint import write_atomic

        write_atomic(Path(directory) / "tokenizer.model", tok.model)
