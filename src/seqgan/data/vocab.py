"""Vocabulary: the mapping between string tokens and the integer ids the models see.

Ids 0, 1 and 2 are always ``<pad>``, ``<eos>`` and ``<unk>``; corpus tokens follow by
descending frequency, ties broken by the token string, so building twice from the same
corpus gives the same ids. A literal ``<pad>``/``<eos>``/``<unk>`` in the corpus is not
counted as a corpus token: it encodes to the special id of that name.

:meth:`Vocab.to_dict` gives a dict of str/int/list only, so it can live inside a torch
checkpoint loaded with ``weights_only=True``; :meth:`Vocab.from_dict` checks such a dict
thoroughly and raises :class:`~seqgan.errors.SeqGANError` for anything malformed.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any, Iterable, Sequence

from seqgan.errors import SeqGANError

__all__ = ["Vocab", "PAD", "EOS", "UNK", "SPECIALS"]

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIALS: tuple[str, ...] = (PAD, EOS, UNK)
_FORMAT = "seqgan-vocab"
_VERSION = 1


class Vocab:
    """An immutable token <-> id table with ``<pad>``=0, ``<eos>``=1, ``<unk>``=2."""

    __slots__ = ("_itos", "_stoi")

    def __init__(self, corpus_tokens: Sequence[str]) -> None:
        """Make a vocabulary whose corpus tokens get ids 3, 4, ... in the given order.

        Most callers want :meth:`build` (from a corpus) or :meth:`from_dict` (from a checkpoint).
        """
        itos = list(SPECIALS)
        for i, tok in enumerate(corpus_tokens):
            if not isinstance(tok, str) or not tok:
                raise SeqGANError(f"vocabulary token {i} is {tok!r}; tokens must be non-empty strings")
            itos.append(tok)
        stoi = {tok: i for i, tok in enumerate(itos)}
        if len(stoi) != len(itos):
            dupes = sorted(t for t, c in Counter(itos).items() if c > 1)
            raise SeqGANError(f"vocabulary tokens must be unique (special tokens included); repeated: {dupes[:5]}")
        if len(itos) == len(SPECIALS):
            raise SeqGANError("vocabulary has no corpus tokens; it needs at least one token besides <pad>, <eos>, <unk>")
        self._itos: tuple[str, ...] = tuple(itos)
        self._stoi: dict[str, int] = stoi

    # -- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None
    ) -> "Vocab":
        """Count tokens over ``token_lists`` and keep the frequent ones.

        ``min_count``: a token must occur at least this often to get its own id.
        ``max_size``: the largest total size, the three special tokens included (the size
        of the models' embedding and output layers); the least frequent tokens are dropped.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise SeqGANError(f"min_count must be an integer >= 1, got {min_count!r}")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= len(SPECIALS)
        ):
            raise SeqGANError(
                f"max_size must be an integer > {len(SPECIALS)} (it counts the 3 special tokens), got {max_size!r}"
            )
        counts: Counter[str] = Counter()
        for i, tokens in enumerate(token_lists):
            if isinstance(tokens, str):
                raise SeqGANError(
                    f"Vocab.build takes lists of tokens, but item {i} is the string {tokens[:30]!r}; "
                    "tokenize the lines first (tokenizer.tokenize(line))"
                )
            counts.update(tokens)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted((tok for tok, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        if not ranked:
            raise SeqGANError(
                f"no token occurs at least min_count={min_count} times in the corpus "
                f"({len(counts)} distinct tokens); lower min_count or check the corpus is not empty"
            )
        return cls(ranked)

    # -- lookups ------------------------------------------------------------------------

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (always 0)."""
        return 0

    @property
    def eos_id(self) -> int:
        """Id of ``<eos>`` (always 1)."""
        return 1

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>`` (always 2)."""
        return 2

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in id order, the special tokens first."""
        return self._itos

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Map tokens to ids; tokens not in the vocabulary become ``<unk>``."""
        get, unk = self._stoi.get, self.unk_id
        return [get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Map ids to tokens, stopping at the first ``<eos>`` and dropping ``<pad>``.

        Accepts any iterable of integers, including a 1-D tensor or array.
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()  # type: ignore[union-attr]
        out: list[str] = []
        n = len(self._itos)
        for pos, raw in enumerate(ids):
            try:
                i = operator.index(raw)
            except TypeError:
                raise SeqGANError(f"decode: position {pos} holds {raw!r}, not an integer id") from None
            if not 0 <= i < n:
                raise SeqGANError(f"decode: id {i} at position {pos} is outside this vocabulary (0..{n - 1})")
            if i == self.eos_id:
                break
            if i != self.pad_id:
                out.append(self._itos[i])
        return out

    # -- comparison ---------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._itos == other._itos

    def __hash__(self) -> int:
        return hash(self._itos)

    def mismatch(self, other: "Vocab") -> str | None:
        """Describe how ``other`` differs from this vocabulary, or None when they are equal.

        Meant for messages such as "checkpoint vocabulary does not match the data: ...".
        """
        if self == other:
            return None
        for i, (a, b) in enumerate(zip(self._itos, other._itos)):
            if a != b:
                return f"sizes {len(self)} vs {len(other)}; first difference at id {i}: {a!r} vs {b!r}"
        return f"sizes {len(self)} vs {len(other)}; one is a prefix of the other"

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._itos[3:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocab(size={len(self)}, tokens=[{head}{more}])"

    # -- serialisation ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (str, int and a list of str) safe for ``torch.load(weights_only=True)``."""
        return {"format": _FORMAT, "version": _VERSION, "tokens": list(self._itos)}

    @classmethod
    def from_dict(cls, d: Any) -> "Vocab":
        """Rebuild a vocabulary from :meth:`to_dict` output, checking every field."""
        where = "vocabulary in checkpoint"
        if not isinstance(d, dict):
            raise SeqGANError(f"{where} must be a dict from Vocab.to_dict(), got {type(d).__name__}")
        if d.get("format") != _FORMAT:
            raise SeqGANError(f"{where}: 'format' must be {_FORMAT!r}, got {d.get('format')!r}")
        version = d.get("version")
        if version != _VERSION or isinstance(version, bool):
            raise SeqGANError(f"{where}: unsupported 'version' {version!r}; this seqgan reads version {_VERSION}")
        extra = sorted(str(k) for k in d if k not in ("format", "version", "tokens"))
        if extra:
            raise SeqGANError(f"{where}: unexpected keys {extra}; expected only format, version, tokens")
        tokens = d.get("tokens")
        if not isinstance(tokens, list):
            raise SeqGANError(f"{where}: 'tokens' must be a list of strings, got {type(tokens).__name__}")
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise SeqGANError(f"{where}: the first tokens must be {list(SPECIALS)}, got {tokens[:3]!r}")
        return cls(tokens[len(SPECIALS):])
