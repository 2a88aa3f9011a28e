"""The value network V_psi: the value of every prefix of a sequence in one pass (Silver et al. 2016).

SeqGAN's future work (Yu et al. 2017, Section 6) names a value network, as AlphaGo's (Silver et al.
2016, "Mastering the game of Go with deep neural networks and tree search", the value network
v_theta(s) ~ v^p(s) trained by regression onto outcomes). In SeqGAN the state is the prefix and
the transition is deterministic, so the action value of Eq. 4 is the value of the next state:

    Q(s = Y_{1:t-1}, a = y_t) = E_{Y ~ G_beta}[ D(Y_{1:T}) | Y_{1:t} ] = V(Y_{1:t}).

A small LSTM reads the start token and Y, and a linear head with a sigmoid (D's rewards lie in
[0, 1]) reads every position: ``forward`` gives V(Y_{1:k}) for k = 0..T at once, (B, T) -> (B, T+1),
where column k has seen the start token and y_1..y_k only (the LSTM is causal). Column t is then
Q(Y_{1:t-1}, y_t) (the estimate of Eq. 4 without roll-outs) and column t-1 is the state value
V(Y_{1:t-1}), a baseline that does not depend on the action y_t.
"""

from __future__ import annotations

import torch
from torch import nn


class ValueNetwork(nn.Module):
    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, seq_len: int, start_token: int = 0):
        super().__init__()
        self.vocab_size, self.emb_dim, self.hidden_dim = vocab_size, emb_dim, hidden_dim
        self.seq_len, self.start_token = seq_len, start_token
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.head = nn.Linear(hidden_dim, 1)

    def config(self) -> dict[str, int]:
        """Constructor arguments, stored in checkpoints so the model can be rebuilt from the file alone."""
        return dict(vocab_size=self.vocab_size, emb_dim=self.emb_dim, hidden_dim=self.hidden_dim,
                    seq_len=self.seq_len, start_token=self.start_token)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Every weight ~ N(0, 0.1) (G's init), biases 0, from ``generator``: building V draws nothing
        from the global RNG, so a run's other draws are those of a run without V."""
        for name, p in self.named_parameters():
            if "bias" in name:
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.1)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) int64 -> (B, T+1) pre-sigmoid values; column k scores the prefix Y_{1:k}."""
        start = torch.full_like(tokens[:, :1], self.start_token)
        out, _ = self.lstm(self.embedding(torch.cat([start, tokens], dim=1)))  # (B, T+1, H)
        return self.head(out).squeeze(2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """V(Y_{1:k}) for k = 0..T: tokens (B, T) int64 -> (B, T+1) in (0, 1), float32 or wider."""
        v = self.logits(tokens)
        return torch.sigmoid(v.to(torch.promote_types(v.dtype, torch.float32)))
