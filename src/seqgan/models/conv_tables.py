"""Frozen-discriminator scoring by table look-up: each convolution output is a sum of table rows."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from seqgan.models.conv import _window_sums

__all__ = ["ConvTables"]


class ConvTables:
    """Frozen-discriminator scoring by table look-up.

    With the embedding ``emb`` (V, E) and the conv weights fixed, the conv output of a window
    ``tokens[p : p+w]`` for width ``w`` is ``b + sum_j T_{w,j}[tokens[p+j]]`` with the table
    ``T_{w,j} = emb @ W[:, :, j].T`` (V, F).  :meth:`pooled` gathers and sums those rows with
    ``embedding_bag`` (``w * F`` adds per window instead of ``w * E * F`` multiply-adds) and
    equals ``conv_relu_maxpool(emb[tokens], weights, biases)`` to float32 rounding.

    Table memory is ``V * sum_w w F_w`` entries (250 MB in float32 for the paper's D) for ~64x
    fewer operations than the convolutions; if memory is short restrict ``widths`` to the narrow
    ones (the others are then convolved).  In float32 the result differs from the convolution only
    by summation order (~1e-6 relative); ``dtype=torch.bfloat16`` halves the memory but is not
    exact (~1e-3 median relative error).  Measurements: docs/performance.md.

    The tables are only valid for the weights they were built from: rebuild (``build`` or,
    reusing the memory, :meth:`update`) whenever D changes, e.g. once per generator update.
    """

    def __init__(
        self,
        embedding: torch.Tensor,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        *,
        widths: Sequence[int] | None = None,
        dtype: torch.dtype = torch.float32,
        chunk_size: int = 512,
    ) -> None:
        weights, biases = list(weights), list(biases)
        if embedding.dim() != 2:
            raise ValueError(f"embedding must be (vocab, emb), got shape {tuple(embedding.shape)}")
        emb = embedding.shape[1]
        for w in weights:
            if w.dim() != 3 or w.shape[1] != emb:
                raise ValueError(f"weight of shape {tuple(w.shape)} does not fit embedding size {emb}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        all_widths = [w.shape[2] for w in weights]
        chosen = set(all_widths if widths is None else widths)
        self.widths = all_widths
        self.tabulated = [w in chosen for w in all_widths]
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.tables: list[torch.Tensor | None] = [None] * len(weights)
        self.update(embedding, weights, biases)

    @classmethod
    def build(
        cls,
        embedding: torch.Tensor,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        **kwargs,
    ) -> "ConvTables":
        """New tables for the given (frozen) discriminator parameters."""
        return cls(embedding, weights, biases, **kwargs)

    @torch.no_grad()
    def update(
        self,
        embedding: torch.Tensor,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
    ) -> "ConvTables":
        """Recompute the tables in place (same shapes) for new parameter values."""
        weights, biases = list(weights), list(biases)
        if [w.shape[2] for w in weights] != self.widths:
            raise ValueError("update() needs the same widths as the tables were built with")
        self.embedding = embedding.detach()
        self.weights = [w.detach() for w in weights]
        self.bias = torch.cat([b.detach() for b in biases]).float()
        emb = self.embedding.float()
        with torch.autocast(emb.device.type, enabled=False):  # float32 tables even under bf16 autocast
            self._build_tables(emb)
        return self

    def _build_tables(self, emb: torch.Tensor) -> None:
        for i, (w, tab) in enumerate(zip(self.weights, self.tabulated)):
            if not tab:
                continue
            filters, _, width = w.shape
            # (V, E) @ (E, w*F) -> (V, w*F): row v holds [T_{w,0}[v], ..., T_{w,w-1}[v]], so
            # the w rows of one token are adjacent; as (V*w, F), T_{w,j}[v] is row v*w + j.
            rhs = w.detach().float().permute(1, 2, 0).reshape(w.shape[1], width * filters)
            old = self.tables[i]
            if old is not None and self.dtype == torch.float32 and old.shape == (emb.shape[0] * width, filters):
                torch.mm(emb, rhs, out=old.view(emb.shape[0], width * filters))
            else:
                self.tables[i] = torch.mm(emb, rhs).view(-1, filters).to(self.dtype)

    @property
    def nbytes(self) -> int:
        """Bytes held by the tables."""
        return sum(t.numel() * t.element_size() for t in self.tables if t is not None)

    @torch.no_grad()
    def pooled(self, tokens: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """``(B, sum F)`` pooled features (float32) of ``tokens`` ``(B, L)`` (int64)."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (batch, length), got shape {tuple(tokens.shape)}")
        chunk = chunk_size or self.chunk_size
        tokens = tokens.to(self.embedding.device, torch.long)
        out = []
        with torch.autocast(tokens.device.type, enabled=False):  # float32 look-ups, as documented
            for tc in tokens.split(chunk):
                out.append(self._pooled_chunk(tc.contiguous()))
        return out[0] if len(out) == 1 else torch.cat(out)

    def _pooled_chunk(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length = tokens.shape
        x = None
        maxima = []
        for w, tab, table in zip(self.weights, self.tabulated, self.tables):
            filters, _, width = w.shape
            if width > length:
                raise ValueError(f"sequences of length {length} are shorter than width {width}")
            positions = length - width + 1
            if tab:
                offs = torch.arange(width, device=tokens.device)
                idx = tokens.unfold(1, width, 1) * width + offs  # (B, P, w): rows v*w + j
                s = F.embedding_bag(idx.reshape(batch * positions, width), table, mode="sum")
                s = s.view(batch, positions, filters)
            else:
                if x is None:
                    x = F.embedding(tokens, self.embedding.float())
                s = _window_sums(x, w, torch.float32)
            maxima.append(s.amax(1).float())
        return torch.cat(maxima, 1).add_(self.bias).relu_()
