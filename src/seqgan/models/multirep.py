"""RelGAN's discriminator: a CNN over multiple embedded representations (Nie et al. 2019, Section 2.4).

D reads a sequence as one-hot rows (B, T, V) -- real tokens, or the generator's Gumbel-softmax
relaxation, which is what lets the gradient reach G without roll-outs -- and embeds it S times
with S small embedding matrices (the paper's multiple representations, which give D several
views of one sequence and so richer feedback for G). Each representation goes through the same
CNN; every representation's logit is a separate output, and the loss averages over them:

    E = onehot(Y) W_e,  W_e (V, d) = [W_e^1 ... W_e^S],  each W_e^s (V, d / S)
    for each s and window width w: conv over (T x d/S), max over time, ReLU  ->  (B*S, F)
    highway -> dropout -> linear F -> 100 -> linear 100 -> 1                  ->  (B, S) logits

As the authors' code (weilinie/RelGAN ``models/rmc_vanilla.py``, read, not copied): d = 64 in all
and S = 64 (one dimension per representation), widths 2, 3, 4, 5 with 300 filters each, dropout keep
0.75; the highway layer's linear maps have no bias (gate bias 0); no activation between the two
output layers; weights truncated N(0, 1/fan_in) (convolutions: N(0, 2/fan_in)), biases 0, the
embedding truncated N(0, 1/V). The filters are shared by the representations: a 2-D convolution
with a (w, d/S) kernel and stride d/S along the embedding, i.e. a 1-D convolution of width w with
d/S input channels applied to each representation. Max-pooling before the ReLU is the same as
after it (ReLU is monotone) and cheaper. With no activation between the two output layers, their
biases add one constant to every logit; under RSGAN, which sees only D(x_r) - D(x_f), they cancel
and never learn (the authors' model has the same property).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqgan.models.relational import truncated_normal_
from seqgan.precision import autocast_dtype

HIDDEN = 100  # the authors' 'fc' layer between the highway and the logit


class MultiRepDiscriminator(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int, emb_dim: int = 64, num_rep: int = 64,
                 filter_sizes: list[int] = (2, 3, 4, 5), num_filters: list[int] = (300, 300, 300, 300),
                 dropout_keep: float = 0.75):
        super().__init__()
        if emb_dim % num_rep:
            raise ValueError(f"emb_dim {emb_dim} must be a multiple of num_rep {num_rep}")
        self.vocab_size, self.seq_len, self.emb_dim, self.num_rep = vocab_size, seq_len, emb_dim, num_rep
        self.filter_sizes, self.num_filters, self.dropout_keep = list(filter_sizes), list(num_filters), dropout_keep
        single, total = emb_dim // num_rep, sum(num_filters)
        self.embedding = nn.Embedding(vocab_size, emb_dim)  # W_e; one-hot rows multiply it
        self.convs = nn.ModuleList(nn.Conv1d(single, n, w) for w, n in zip(filter_sizes, num_filters))
        self.highway_hidden = nn.Linear(total, total, bias=False)     # relu(W_h x)
        self.highway_transform = nn.Linear(total, total, bias=False)  # t = sigmoid(W_t x + 0)
        self.dropout = nn.Dropout(1.0 - dropout_keep)
        self.hidden = nn.Linear(total, HIDDEN)
        self.logit = nn.Linear(HIDDEN, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            truncated_normal_(self.embedding.weight, 1 / math.sqrt(self.vocab_size))
            for conv in self.convs:  # the authors' conv2d: stddev sqrt(2 / (k_h * k_w * in))
                truncated_normal_(conv.weight, math.sqrt(2.0 / (conv.weight.shape[1] * conv.weight.shape[2])))
                conv.bias.zero_()
            for lin in (self.highway_hidden, self.highway_transform, self.hidden, self.logit):
                truncated_normal_(lin.weight, 1 / math.sqrt(lin.in_features))
                if lin.bias is not None:
                    lin.bias.zero_()

    def config(self) -> dict:
        return dict(vocab_size=self.vocab_size, seq_len=self.seq_len, emb_dim=self.emb_dim, num_rep=self.num_rep,
                    filter_sizes=self.filter_sizes, num_filters=self.num_filters, dropout_keep=self.dropout_keep)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (B, T) int64 or one-hot-like rows (B, T, V) float -> (B, T, d). A lookup equals the
        product of a one-hot row with W_e."""
        if x.dtype == torch.long:
            return self.embedding(x)
        w = self.embedding.weight
        return x @ w if autocast_dtype(x.device.type) is not None else x.to(w.dtype) @ w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of every representation: x (B, T) or (B, T, V) -> (B, S)."""
        emb = self.embed(x)
        B, T, d = emb.shape
        S = self.num_rep
        rep = emb.view(B, T, S, d // S).permute(0, 2, 3, 1).reshape(B * S, d // S, T)  # (B*S, d/S, T)
        pooled = torch.cat([conv(rep).amax(dim=2) for conv in self.convs], dim=1).relu()  # (B*S, F)
        t = torch.sigmoid(self.highway_transform(pooled))
        h = t * torch.relu(self.highway_hidden(pooled)) + (1.0 - t) * pooled
        return self.logit(self.hidden(self.dropout(h))).view(B, S)

    @torch.no_grad()
    def prob_real(self, tokens: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """sigmoid of the mean logit over the representations: (N, T) -> (N,), dropout off. Under the
        standard loss this is D's probability that the sequence is real; under RSGAN only differences
        of logits mean anything, so the 0.5 threshold of ``disc/acc_*`` is arbitrary there."""
        self.eval()
        return torch.cat([torch.sigmoid(self(tokens[i:i + batch_size]).float().mean(dim=1))
                          for i in range(0, tokens.shape[0], batch_size)])
