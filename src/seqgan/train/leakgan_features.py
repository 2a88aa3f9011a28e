"""LeakGAN's cache of D's leaked features of the training set, valid while D's weights do not change."""

from __future__ import annotations

import torch

from seqgan.models.leakgan import LeakGANGenerator


class FeatureCache:
    """D's leaked features f_0..f_T of the training set's sequences, kept while D does not change.

    Pre-training runs several MLE epochs between D steps (authors: 8; the ``paper`` preset 12, ``fast`` 5),
    and D's highway on every prefix is ~40% of an MLE batch; each row is computed the first time it is seen
    after D changed, exactly as without the cache, then read back. Rows past the memory budget (the first
    ``max_mb`` MiB of S's rows are kept) are always computed. D's weights are compared with a copy once per
    epoch (:meth:`bind`), so no caller has to say when D changed."""

    def __init__(self, num_seqs: int, max_mb: int):
        self.num_seqs, self.max_bytes = num_seqs, max_mb << 20
        self.store: torch.Tensor | None = None     # (rows, T + 1, F)
        self.filled: torch.Tensor | None = None    # (rows,) bool
        self.weights: list[torch.Tensor] = []      # D's weights the stored features were computed with

    def bind(self, disc: torch.nn.Module) -> None:
        """Forget every stored feature unless D's weights are bit for bit those they were computed with."""
        params = [p.detach() for p in disc.parameters()]
        same = len(params) == len(self.weights) and all(torch.equal(a, b) for a, b in zip(params, self.weights))
        if not same:
            self.weights = [p.clone() for p in params]
            if self.filled is not None:
                self.filled.zero_()

    @torch.no_grad()
    def features(self, gen: LeakGANGenerator, leak, seqs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The leaked features (b, T + 1, F) of seqs (b, T) = S[idx], through the cache."""
        if self.store is None:
            first = gen.leaked_features(seqs, leak)
            per_seq = first[0].numel() * first.element_size()
            rows = min(self.num_seqs, self.max_bytes // per_seq)
            if rows == 0:
                return first
            self.store = first.new_empty((rows, *first.shape[1:]))
            self.filled = torch.zeros(rows, dtype=torch.bool, device=first.device)
            self._keep(idx, first)
            return first
        rows = self.store.shape[0]
        kept = idx < rows
        have = kept & self.filled[idx.clamp(max=rows - 1)]
        if not bool(have.any()):
            feats = gen.leaked_features(seqs, leak)
        else:
            feats = torch.empty((seqs.shape[0], *self.store.shape[1:]), dtype=self.store.dtype, device=seqs.device)
            feats[have] = self.store[idx[have]]
            if not bool(have.all()):
                feats[~have] = gen.leaked_features(seqs[~have], leak).to(feats.dtype)
        self._keep(idx, feats, ~have)
        return feats

    def _keep(self, idx: torch.Tensor, feats: torch.Tensor, new: torch.Tensor | None = None) -> None:
        keep = idx < self.store.shape[0]
        if new is not None:
            keep &= new
        self.store[idx[keep]] = feats[keep].to(self.store.dtype)
        self.filled[idx[keep]] = True
