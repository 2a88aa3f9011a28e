"""The discriminator D_phi: a CNN with a highway layer (paper, Section 3; authors' discriminator.py).

embedding (T x k) -> for each window width w: convolution over the full embedding width,
ReLU, max-pool over time -> concatenation (1720 features in the paper) -> one highway layer ->
dropout -> linear to 2 classes. softmax(...)[:, 1] is P(real); real sequences are class 1.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.models.conv import conv_relu_maxpool
from seqgan.models.conv_tables import ConvTables


class Discriminator(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int, emb_dim: int, filter_sizes: list[int],
                 num_filters: list[int], dropout_keep: float = 0.75, l2_reg: float = 0.2,
                 pad_token: int | None = None):
        super().__init__()
        self.pad_token = pad_token  # variable-length data: <pad> positions embed to zero vectors
        self.vocab_size, self.seq_len, self.emb_dim = vocab_size, seq_len, emb_dim
        self.filter_sizes, self.num_filters = list(filter_sizes), list(num_filters)
        self.dropout_keep, self.l2_reg = dropout_keep, l2_reg
        total = sum(num_filters)
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.conv_weights = nn.ParameterList(
            [nn.Parameter(torch.empty(f, emb_dim, w)) for w, f in zip(filter_sizes, num_filters)])
        self.conv_biases = nn.ParameterList([nn.Parameter(torch.empty(f)) for f in num_filters])
        self.highway_transform = nn.Linear(total, total)  # t = sigmoid(W_t x + b_t)
        self.highway_hidden = nn.Linear(total, total)     # relu(W_h x + b_h)
        self.dropout = nn.Dropout(1.0 - dropout_keep)
        self.output = nn.Linear(total, 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Authors' initialisers: embedding U(-1, 1); conv and output weights truncated-normal(0.1),
        their biases 0.1; highway weights Glorot-uniform (TensorFlow's default for their ``linear``).
        Departure: the highway biases start at 0, where TensorFlow's default gives them Glorot-uniform
        too (1-D: U(+-sqrt(3 / n)), +-0.042 at n = 1720); kept, so that every result here reproduces."""
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
            for w, b in zip(self.conv_weights, self.conv_biases):
                nn.init.trunc_normal_(w, std=0.1, a=-0.2, b=0.2)
                b.fill_(0.1)
            nn.init.trunc_normal_(self.output.weight, std=0.1, a=-0.2, b=0.2)
            self.output.bias.fill_(0.1)
            for lin in (self.highway_transform, self.highway_hidden):
                bound = math.sqrt(6.0 / (2 * lin.in_features))  # Glorot-uniform, as TensorFlow's default
                nn.init.uniform_(lin.weight, -bound, bound)
                lin.bias.zero_()

    def config(self) -> dict:
        return dict(vocab_size=self.vocab_size, seq_len=self.seq_len, emb_dim=self.emb_dim,
                    filter_sizes=self.filter_sizes, num_filters=self.num_filters,
                    dropout_keep=self.dropout_keep, l2_reg=self.l2_reg, pad_token=self.pad_token)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T, E). <pad> positions (after a sequence's <eos>) are zero vectors, so real and
        generated sequences of the same length look the same to D past their end."""
        x = self.embedding(tokens)
        if self.pad_token is not None:
            x = x * (tokens != self.pad_token).unsqueeze(-1).to(x.dtype)
        return x

    def token_embedding(self) -> torch.Tensor:
        """(V, E): the embedding row of every token id (a subclass may hold more rows, e.g. for padding)."""
        return self.embedding.weight

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) int64 -> (B, sum F) pooled convolution features. One GEMM per width; the backward
        pass goes only through each filter's arg-max window (``conv.py``), same gradients."""
        return conv_relu_maxpool(self.embed(tokens), list(self.conv_weights), list(self.conv_biases))

    def highway(self, pooled: torch.Tensor) -> torch.Tensor:
        """The highway layer (authors: one layer, bias 0) on pooled features (B, F) -> (B, F)."""
        t = torch.sigmoid(self.highway_transform(pooled))
        return t * F.relu(self.highway_hidden(pooled)) + (1.0 - t) * pooled

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Highway, dropout (active only in train mode), output. -> (B, 2)."""
        return self.output(self.dropout(self.highway(pooled)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 2); class 1 = real."""
        return self.head(self.features(tokens))

    def loss(self, tokens: torch.Tensor, labels: torch.Tensor,
             weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 5 as the authors' code computes it: mean cross-entropy plus
        l2_reg * (|W|^2 + |b|^2) / 2 on the output layer only. Returns (loss, logits).
        ``weights`` (B,): the cross-entropy is sum_b weights_b * CE_b instead of the mean (a process's
        rows of a larger batch weigh 1 / that batch's size; see ``seqgan.distributed.shard_batch``)."""
        logits = self.forward(tokens)
        ce = F.cross_entropy(logits.float(), labels, reduction="none" if weights is not None else "mean")
        if weights is not None:
            ce = (ce * weights).sum()
        l2 = 0.5 * (self.output.weight.square().sum() + self.output.bias.square().sum())
        return ce + self.l2_reg * l2, logits

    @torch.no_grad()
    def frozen_pooled(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """D's pooled features while D is fixed: (R, T) -> (R, F), in the embedding's dtype.

        Each convolution output is a sum of rows of the tables ``embedding @ W[:, :, j]^T`` built once
        here (``ConvTables``): ~64x fewer multiply-adds than the convolutions, same values to float
        rounding. Build it again after D changes. For rewards: dropout must be off (eval mode)."""
        assert not self.training, "call discriminator.eval() before scoring rewards"
        emb = self.token_embedding()
        if self.pad_token is not None:
            emb = emb.index_fill(0, torch.tensor([self.pad_token], device=emb.device), 0.0)
        tables = ConvTables.build(emb, list(self.conv_weights), list(self.conv_biases))
        # the tables are float32 by design; a float64 D (tests) takes its head in float64
        return lambda tokens: tables.pooled(tokens).to(emb.dtype)

    @torch.no_grad()
    def frozen_scorer(self, batch_size: int = 4096) -> Callable[[torch.Tensor], torch.Tensor]:
        """A reward function for one generator update, while D is fixed: (R, T) -> (R,) P(real), through
        :meth:`frozen_pooled`. Build a new scorer after D changes."""
        pooled = self.frozen_pooled()

        def score(tokens: torch.Tensor) -> torch.Tensor:
            logits = torch.cat([self.head(pooled(tokens[i:i + batch_size]))
                                for i in range(0, tokens.shape[0], batch_size)])
            return logits.to(torch.promote_types(logits.dtype, torch.float32)).softmax(dim=1)[:, 1]

        return score

    @torch.no_grad()
    def prob_real(self, tokens: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """D(Y) = softmax(logits)[:, 1] with dropout off (reward scoring, Eq. 4): (R, T) -> (R,).
        Callers switch to eval mode; this function asserts it so a reward never sees dropout."""
        assert not self.training, "call discriminator.eval() before scoring rewards"
        out = [self.forward(tokens[i:i + batch_size]) for i in range(0, tokens.shape[0], batch_size)]
        logits = torch.cat(out)
        return logits.to(torch.promote_types(logits.dtype, torch.float32)).softmax(dim=1)[:, 1]
