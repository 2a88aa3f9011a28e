"""The generator G_theta: an LSTM language model used as a stochastic policy (paper, Section 3).

State = the prefix Y_{1:t-1}, action = the next token y_t, deterministic transition.
Architecture (authors' code): embedding -> LSTM -> linear -> softmax, with a start token fed
first and h0 = c0 = 0. The same class, with N(0, 1) parameters, is the synthetic oracle.

Two code paths share one set of parameters:

* :meth:`Generator.forward` runs ``nn.LSTM`` over whole sequences (teacher forcing, MLE, the
  policy-gradient loss, NLL) -- the fast fused kernel;
* :meth:`Generator.step` advances one token for many rows at once (sampling, roll-outs). The
  input projection ``emb @ W_ih^T + b_ih + b_hh`` of every token is one row of a (V, 4H) table,
  so a step is a gather, one (R, H) x (H, 4H) matmul and the (R, H) x (H, V) logits.

The token-at-a-time methods are the :class:`seqgan.models.policy.Policy` interface that sampling,
roll-outs and Scheduled Sampling use, so that other generators (hierarchical, relational memory)
can stand in for this one.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.models.linear_ce import linear_nll, weighted_linear_ce
from seqgan.models.policy import StepContext

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (R, H)


def token_nll(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """-log softmax(logits)[token]: logits (B, T, V), tokens (B, T) -> (B, T) float32 or wider.
    Computed on the (B*T, V) view: cross-entropy over a transposed (B, V, T) tensor is 2-5x slower."""
    B, T, V = logits.shape
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return F.cross_entropy(logits.reshape(B * T, V), tokens.reshape(B * T), reduction="none").view(B, T)


class Generator(nn.Module):
    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, seq_len: int,
                 start_token: int = 0, init_std: float = 0.1, eos_token: int | None = None,
                 pad_token: int | None = None):
        super().__init__()
        if (eos_token is None) != (pad_token is None):
            raise ValueError("eos_token and pad_token go together: give both or neither")
        bad = {k: v for k, v in (("start_token", start_token), ("eos_token", eos_token), ("pad_token", pad_token))
               if v is not None and not 0 <= v < vocab_size}
        if bad or seq_len < 1:  # else the first sample fails deep in an embedding (on CUDA: a device assert)
            raise ValueError(f"token ids must lie in [0, vocab_size={vocab_size}) and seq_len be at least 1; got "
                             f"{', '.join(f'{k}={v}' for k, v in bad.items()) or f'seq_len={seq_len}'}")
        self.vocab_size, self.emb_dim, self.hidden_dim = vocab_size, emb_dim, hidden_dim
        self.seq_len, self.start_token = seq_len, start_token
        # Variable-length data (real text): a sequence ends at its first <eos>; every position after it
        # holds <pad>, is never sampled, and counts in no loss. None: fixed length (the synthetic task).
        self.eos_token, self.pad_token = eos_token, pad_token
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.output = nn.Linear(hidden_dim, vocab_size)
        self.reset_parameters(init_std)

    def reset_parameters(self, std: float) -> None:
        """Every weight and bias ~ N(0, std), as the authors' ``init_matrix`` (std 0.1 for G, 1.0 for
        the oracle). ``nn.LSTM`` has two bias vectors where the authors have one: ``bias_ih`` gets the
        N(0, std) draw and ``bias_hh`` starts at 0, so their sum has the authors' distribution."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name == "lstm.bias_hh_l0":
                    p.zero_()
                else:
                    p.normal_(0.0, std)

    def config(self) -> dict[str, int | float]:
        """Constructor arguments, stored in checkpoints so the model can be rebuilt from the file alone."""
        return dict(vocab_size=self.vocab_size, emb_dim=self.emb_dim, hidden_dim=self.hidden_dim,
                    seq_len=self.seq_len, start_token=self.start_token, eos_token=self.eos_token,
                    pad_token=self.pad_token)

    # ---------------------------------------------------------------- variable length
    def ended(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T) bool: True where an <eos> is at or before the position. All False without eos."""
        if self.eos_token is None:
            return torch.zeros_like(tokens, dtype=torch.bool)
        return (tokens == self.eos_token).cumsum(dim=1) > 0

    def valid_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: the positions that count in a loss: up to and including the first <eos>."""
        ended = self.ended(tokens)
        return torch.cat([torch.ones_like(ended[:, :1]), ~ended[:, :-1]], dim=1)

    def pad_after_end(self, tok: torch.Tensor, finished: torch.Tensor | None) -> torch.Tensor:
        """Rows that already emitted <eos> get <pad>; updates ``finished`` in place."""
        if finished is None:
            return tok
        tok = torch.where(finished, torch.full_like(tok, self.pad_token), tok)
        finished |= tok == self.eos_token
        return tok

    # ---------------------------------------------------------------- whole sequences
    def shift_right(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) targets -> (B, T) inputs: the start token, then y_1 .. y_{T-1}."""
        start = torch.full_like(tokens[:, :1], self.start_token)
        return torch.cat([start, tokens[:, :-1]], dim=1)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced LSTM outputs: tokens (B, T) int64 -> (B, T, H); [:, t] scores y_t given y_<t."""
        out, _ = self.lstm(self.embedding(self.shift_right(tokens)))
        return out

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits. tokens (B, T) int64 -> logits (B, T, V): row t scores y_t given y_<t."""
        return self.logits(self.hidden(tokens))

    def log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """log G(y_t | Y_{1:t-1}) of each given token: (B, T) int64 -> (B, T) float.
        Positions after an <eos> hold <pad>, whose log-probability is -inf: select with :meth:`valid_mask`
        (``torch.where``), do not multiply. Without gradients the logits are never materialised whole."""
        if torch.is_grad_enabled():
            return -token_nll(self.forward(tokens), tokens)
        B, T = tokens.shape
        h = self.hidden(tokens).reshape(B * T, -1)
        return -linear_nll(h, self.output.weight, self.output_bias(), tokens.reshape(-1)).view(B, T)

    def weighted_nll(self, tokens: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """sum_{b,t} weights_bt * -log G(y_bt | Y_{1:t-1}), with gradients, through the fused chunked
        output layer (``linear_ce.py``): the loss of MLE (weights 1/count) and of the policy gradient
        (weights Q). tokens, weights (B, T) -> scalar."""
        B, T = tokens.shape
        h = self.hidden(tokens).reshape(B * T, -1)
        return weighted_linear_ce(h, self.output.weight, self.output_bias(), tokens.reshape(-1), weights.reshape(-1))

    def prefix_states(self, tokens: torch.Tensor) -> State:
        """LSTM (h, c) after each prefix: (B, T) -> h, c of shape (B, T, H), where [:, t] is the state
        after consuming the start token and y_1..y_t (1-based), i.e. the state that scores y_{t+1}.
        Index 0 is the state after the start token alone."""
        B, T = tokens.shape
        inputs = self.shift_right(tokens)
        h, c = self.initial_state(B, tokens.device)
        hs, cs = [], []
        proj = self.input_table()
        for t in range(T):  # T steps over the whole batch: cheap (B x 4H per step)
            h, c = self._cell(proj[inputs[:, t]], h, c)
            hs.append(h)
            cs.append(c)
        return torch.stack(hs, 1), torch.stack(cs, 1)

    # ---------------------------------------------------------------- one token at a time
    def initial_state(self, rows: int, device: torch.device | str) -> State:
        """h0 = c0 = 0 (authors' code)."""
        z = torch.zeros(rows, self.hidden_dim, device=device, dtype=self.output.weight.dtype)
        return z, z.clone()

    def input_table(self) -> torch.Tensor:
        """(V, 4H): the LSTM's input projection of every token, biases folded in."""
        lstm = self.lstm
        return torch.addmm(lstm.bias_ih_l0 + lstm.bias_hh_l0, self.embedding.weight, lstm.weight_ih_l0.t())

    def _cell(self, x_proj: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> State:
        """One LSTM step with PyTorch's gate order (i, f, g, o); x_proj (R, 4H) from :meth:`input_table`."""
        gates = torch.addmm(x_proj, h, self.lstm.weight_hh_l0.t())
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def step_context(self) -> StepContext:
        """What every step of one sampling or roll-out pass shares: the input table and output bias."""
        return StepContext(self.input_table(), self.output_bias())

    def step(self, tokens: torch.Tensor, state: State, ctx: StepContext | None = None) -> State:
        """Feed one token per row: tokens (R,) int64 -> new (h, c)."""
        table = self.input_table() if ctx is None else ctx.table
        return self._cell(table[tokens], *state)

    def next_logits(self, state: State, ctx: StepContext) -> torch.Tensor:
        """(R, V) logits of the next token from ``state``."""
        return F.linear(state[0], self.output.weight, ctx.bias)

    def draw(self, state: State, ctx: StepContext, generator: torch.Generator | None = None,
             uniforms: torch.Tensor | None = None) -> torch.Tensor:
        """One next token per row of ``state``, drawn from G (never materialising all logits): (R,) int64."""
        from seqgan.sampling import sample_from_hidden  # here to keep models free of a module cycle

        return sample_from_hidden(state[0], self.output.weight, ctx.bias, generator=generator, uniforms=uniforms)

    def start_state(self, rows: int, device: torch.device | str, ctx: StepContext) -> State:
        """The state after the start token: the one that scores y_1."""
        return self.step(torch.full((rows,), self.start_token, device=device), self.initial_state(rows, device), ctx)

    def output_bias(self) -> torch.Tensor:
        """(V,) output bias; with variable-length data <pad> gets -inf, so G never emits it (it only
        fills positions after <eos>) and its probabilities sum to one over the real tokens."""
        if self.pad_token is None:
            return self.output.bias
        pad = torch.zeros_like(self.output.bias, dtype=torch.bool)
        pad[self.pad_token] = True  # a fill on the device: no host-to-device copy per call
        return self.output.bias.masked_fill(pad, float("-inf"))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V)."""
        return F.linear(h, self.output.weight, self.output_bias())

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None,
               batch_size: int = 4096) -> torch.Tensor:
        """Draw ``num`` sequences of length T from the policy: (num, T) int64.
        Sampled in batches of ``batch_size`` rows so memory stays bounded for 100,000 samples."""
        from seqgan.models.policy import sample_sequences

        return sample_sequences(self, num, generator, batch_size)
