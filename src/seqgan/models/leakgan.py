"""LeakGAN's generator and discriminator (Guo et al., AAAI 2018, "Long Text Generation via Adversarial
Training with Leaked Information", Section "Methodology").

D (:class:`LeakDiscriminator`) is SeqGAN's CNN with a highway layer; its highway output on a prefix is
the feature f_t = F(s_t; phi_f) that it *leaks* to G (Eq. 1; D(s) = sigmoid(phi_l . f), Eq. 2). A prefix
of t tokens is padded with -1 up to T, and -1 has an embedding row of its own (the authors' ``W_fe`` of
V + 1 rows, looked up at token + 1).

G (:class:`LeakGANGenerator`) is a Manager and a Worker, both LSTMs:

    h^M_t = LSTM_M(f_t, h^M_{t-1}),   g^_t = W_o h^M_t + b_o                             (Eq. 3)
    g_t   = g^_t / |g^_t|                                                                  (Eq. 4)
    w_t   = normalise(W_psi G_k),     G_k = the goal of the segment k that holds token t    (Eq. 5)
    h^W_t = LSTM_W(e(y_{t-1}), h^W_{t-1}),   O_t = (W_w h^W_t + b_w) as a (V, k) matrix    (Eq. 6)
    G_theta(. | s_{t-1}) = softmax(O_t w_t / alpha), alpha = 1                             (Eq. 7)

(Equation numbers of the arXiv version, 1709.08624, as transcribed at gabormelli.com/RKB; the PDF could
not be fetched here.)

Goals, as the authors' code (CR-Gjx/LeakGAN ``Synthetic Data/LeakGANModel.py``, read, not copied),
not the paper's sliding sum over the last c goals: tokens come in segments of c (the horizon, 4);
segment k = 0 (tokens 1..c) uses the learned ``goal_init``; segment k >= 1 (tokens ck+1..ck+c) uses
G_k = sum_{j=c(k-1)+1}^{ck} g_j, the Manager's goals of the previous segment's steps, fixed for
the whole segment. w_t is l2-normalised (the authors' code; the paper's Eq. 5 has no norm).

The goal off-by-one. The authors' two graphs disagree: their training graph (MLE, the Manager's and
Worker's losses) sums g_{c(k-1)+1}..g_{ck} as above, their generation graph g_{c(k-1)}..g_{ck-1}, so
their teacher-forced log-probabilities are not those of the sequences they sample. Here both paths
use the training graph's sum: it is causal (g_{ck} reads f_{ck}, the prefix before token ck+1) and
it is the one their Manager is trained on; so the log-probabilities (NLL-oracle, NLL-test) are exact
for the policy that samples. g_0 (from the all-padding prefix) advances the Manager but is unused,
as in both of the authors' graphs.

Departures: ``goal_init`` is one learned vector, not the authors' one per batch row (which ties a
row's distribution to its position in the batch); the authors' unused ``W_workerOut_change`` is left
out; no temperature (see ``train/leakgan.py``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.models.conv_tables import ConvTables
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.models.policy import StepContext

PAD_PREFIX = -1    # a position not generated yet (the authors' padding_array)
FEATURE_ROWS = 2048  # prefixes per D pass when leaking features without gradients (bounds memory)
EVAL_ROWS = 128      # sequences per teacher-forced pass in log_probs without gradients (bounds memory)

# (prefix (R, T) int64, tokens in it (R,) int64, worker h, c (R, H), manager h, c (R, H),
#  sum of this segment's goals so far (R, F), the goal G_k of the next token (R, F))
State = tuple[torch.Tensor, ...]


class LeakDiscriminator(Discriminator):
    """SeqGAN's D with an embedding row for the -1 padding of prefixes (row 0; token v is row v + 1)."""

    def __init__(self, vocab_size: int, seq_len: int, emb_dim: int, filter_sizes: list[int],
                 num_filters: list[int], dropout_keep: float = 1.0, l2_reg: float = 0.0,
                 pad_token: int | None = None):
        super().__init__(vocab_size, seq_len, emb_dim, filter_sizes, num_filters, dropout_keep, l2_reg, pad_token)
        self.embedding = nn.Embedding(vocab_size + 1, emb_dim)
        nn.init.uniform_(self.embedding.weight, -1.0, 1.0)  # the authors' W_fe: U(-1, 1)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) int64 with -1 for padding -> (B, T, E); <pad> (after <eos>) embeds to zero as in SeqGAN's D."""
        x = self.embedding(tokens + 1)
        if self.pad_token is not None:
            x = x * (tokens != self.pad_token).unsqueeze(-1).to(x.dtype)
        return x

    def token_embedding(self) -> torch.Tensor:
        return self.embedding.weight[1:]

    def leak(self, prefixes: torch.Tensor) -> torch.Tensor:
        """f = the highway output on prefixes (R, T) padded with -1 -> (R, F) (Eq. 1). No dropout: the
        authors' synthetic D keeps every unit (keep 1.0), and features for G are never dropped."""
        return self.highway(self.features(prefixes))

    @torch.no_grad()
    def leak_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """:meth:`leak` for a D that stays fixed meanwhile (one sampling pass, one epoch). In float32 the
        convolutions are table look-ups (``ConvTables``, ~64x fewer operations, the same values to float
        rounding); in float64 (tests) the convolutions themselves. Build a new one after D changes."""
        if self.embedding.weight.dtype != torch.float32:
            return self.leak
        emb = self.embedding.weight
        if self.pad_token is not None:
            emb = emb.index_fill(0, torch.tensor([self.pad_token + 1], device=emb.device), 0.0)
        tables = ConvTables.build(emb, list(self.conv_weights), list(self.conv_biases))
        return lambda prefixes: self.highway(tables.pooled(prefixes + 1))


def prefixes_of(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B, T + 1, T): [:, t] holds y_1..y_t, then -1."""
    T = tokens.shape[1]
    keep = torch.arange(T, device=tokens.device) < torch.arange(T + 1, device=tokens.device).unsqueeze(1)
    return torch.where(keep, tokens.unsqueeze(1), PAD_PREFIX)


def lstm_cell(lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of a one-layer ``nn.LSTM`` (gate order i, f, g, o): x (R, in), h, c (R, H)."""
    gates = F.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0) + F.linear(h, lstm.weight_hh_l0, lstm.bias_hh_l0)
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class Worker(nn.Module):
    """Embedding -> LSTM_W -> O_t (V x k), and W_psi (F -> k): the parameters the Worker's losses train."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, goal_size: int, feature_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.output = nn.Linear(hidden_dim, vocab_size * goal_size)   # W_w, b_w: row v * k + j is O[v, j]
        self.psi = nn.Linear(feature_size, goal_size, bias=False)     # W_psi (the authors' g_change)


class Manager(nn.Module):
    """LSTM_M over leaked features -> goals; ``goal_init`` is the goal of the first segment."""

    def __init__(self, feature_size: int, hidden_dim: int):
        super().__init__()
        self.lstm = nn.LSTM(feature_size, hidden_dim, batch_first=True)
        self.output = nn.Linear(hidden_dim, feature_size)             # W_o, b_o
        self.goal_init = nn.Parameter(torch.zeros(feature_size))


class LeakGANGenerator(nn.Module):
    """G_theta of LeakGAN: Manager + Worker, and the D whose features they read (a submodule, so that G
    samples from its checkpoint alone; the run's D is this same module)."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, seq_len: int, disc: dict,
                 goal_size: int = 16, step_size: int = 4, start_token: int = 0, init_std: float = 0.1,
                 eos_token: int | None = None, pad_token: int | None = None):
        super().__init__()
        if (eos_token is None) != (pad_token is None):
            raise ValueError("eos_token and pad_token go together: give both or neither")
        self.vocab_size, self.emb_dim, self.hidden_dim, self.seq_len = vocab_size, emb_dim, hidden_dim, seq_len
        self.goal_size, self.step_size, self.start_token, self.init_std = goal_size, step_size, start_token, init_std
        self.eos_token, self.pad_token = eos_token, pad_token
        self.disc_config = dict(disc)
        self.disc = LeakDiscriminator(**self.disc_config)
        self.feature_size = sum(self.disc.num_filters)
        self.worker = Worker(vocab_size, emb_dim, hidden_dim, goal_size, self.feature_size)
        self.manager = Manager(self.feature_size, hidden_dim)
        self.reset_parameters(init_std)

    def reset_parameters(self, std: float) -> None:
        """The authors' initialisers: every G weight and bias N(0, 0.1) (one LSTM bias each: ``bias_hh``
        starts at 0, as in SeqGAN's G), ``goal_init`` truncated N(0, 0.1). D keeps its own."""
        with torch.no_grad():
            for part in (self.worker, self.manager):
                for name, p in part.named_parameters():
                    if name == "goal_init":
                        nn.init.trunc_normal_(p, 0.0, std, -2 * std, 2 * std)
                    elif name.endswith("bias_hh_l0"):
                        p.zero_()
                    else:
                        p.normal_(0.0, std)

    def config(self) -> dict:
        """Constructor arguments (D's included), so that a checkpoint rebuilds G alone."""
        return dict(vocab_size=self.vocab_size, emb_dim=self.emb_dim, hidden_dim=self.hidden_dim,
                    seq_len=self.seq_len, disc=self.disc_config, goal_size=self.goal_size, step_size=self.step_size,
                    start_token=self.start_token, init_std=self.init_std, eos_token=self.eos_token,
                    pad_token=self.pad_token)

    @property
    def output(self) -> nn.Linear:
        """O_t's layer: ``seqgan sample --temperature`` divides it, which divides the logits O_t w_t."""
        return self.worker.output

    ended = Generator.ended
    valid_mask = Generator.valid_mask
    pad_after_end = Generator.pad_after_end
    shift_right = Generator.shift_right

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None, batch_size: int = 1024) -> torch.Tensor:
        """``num`` sequences (num, T) from G; fewer rows per batch than the LSTM's (each step runs D)."""
        from seqgan.models.policy import sample_sequences

        return sample_sequences(self, num, generator, batch_size)

    # ---------------------------------------------------------------- pieces shared by both paths
    def goal_of(self, h_manager: torch.Tensor) -> torch.Tensor:
        """g_t = normalise(W_o h^M_t + b_o) (Eqs. 3-4): (..., H) -> (..., F)."""
        return F.normalize(self.manager.output(h_manager), dim=-1)

    def token_logits(self, h_worker: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """O_t w_t (Eqs. 5-7) with w_t = normalise(W_psi G): h (..., H), G (..., F) -> (..., V) logits,
        without building O_t: sum_j w_j (W_w h + b_w)[v k + j] = W (h outer w) + b w."""
        out, V, k = self.worker.output, self.vocab_size, self.goal_size
        w = F.normalize(self.worker.psi(goal), dim=-1)                              # (..., k)
        hw = (w.unsqueeze(-1) * h_worker.unsqueeze(-2)).flatten(-2)                 # (..., k * H)
        logits = F.linear(hw, out.weight.view(V, k * self.hidden_dim)) + F.linear(w, out.bias.view(V, k))
        if self.pad_token is not None:  # G never emits <pad>: it only fills the positions after <eos>
            logits = logits.index_fill(-1, torch.tensor([self.pad_token], device=logits.device), float("-inf"))
        return logits

    @torch.no_grad()
    def leaked_features(self, tokens: torch.Tensor, leak: Callable | None = None) -> torch.Tensor:
        """f_0..f_T of every prefix: tokens (B, T) -> (B, T + 1, F), [:, t] from y_1..y_t (no gradient:
        D is trained by its own loss only, as in the authors' code). ``leak``: D's ``leak_fn()``, if built."""
        B, T = tokens.shape
        leak = self.disc.leak_fn() if leak is None else leak
        rows = prefixes_of(tokens).reshape(B * (T + 1), T)
        feats = torch.cat([leak(rows[i:i + FEATURE_ROWS]) for i in range(0, rows.shape[0], FEATURE_ROWS)])
        return feats.view(B, T + 1, -1)

    def segment_goals(self, feats: torch.Tensor) -> torch.Tensor:
        """The goals G_0..G_{K-1} of the K = ceil(T / c) segments from f_0..f_{T-1}: (B, >= T, F) -> (B, K, F).
        G_0 = goal_init; G_k = sum_{j=c(k-1)+1}^{ck} g_j. Gradients reach the Manager only."""
        B, T, c = feats.shape[0], self.seq_len, self.step_size
        K = -(-T // c)
        h, _ = self.manager.lstm(feats[:, :T].to(self.manager.output.weight.dtype))   # (B, T, H), h^M_0..h^M_{T-1}
        g = self.goal_of(h)                                                           # (B, T, F), g_0..g_{T-1}
        later = g[:, 1:1 + c * (K - 1)].reshape(B, K - 1, c, g.shape[-1]).sum(dim=2)         # (B, K-1, F)
        return torch.cat([self.manager.goal_init.expand(B, 1, -1).to(later.dtype), later], dim=1)

    def token_goals(self, goals: torch.Tensor) -> torch.Tensor:
        """The segment goal of every token: (B, K, F) -> (B, T, F); token t (1-based) is in segment (t-1)//c."""
        return goals.repeat_interleave(self.step_size, dim=1)[:, :self.seq_len]

    # ---------------------------------------------------------------- whole sequences (teacher forcing)
    def teacher_forced(self, tokens: torch.Tensor, leak: Callable | None = None, feats: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, T) -> (features f_0..f_T (B, T+1, F), segment goals (B, K, F) with the Manager's
        gradient, logits (B, T, V) with the Worker's gradient only: the goals enter them detached).
        ``feats``: the tokens' leaked features, if already computed (``train.leakgan.FeatureCache``)."""
        feats = self.leaked_features(tokens, leak) if feats is None else feats
        goals = self.segment_goals(feats)
        h, _ = self.worker.lstm(self.worker.embedding(self.shift_right(tokens)))   # (B, T, H)
        return feats, goals, self.token_logits(h, self.token_goals(goals).detach().to(h.dtype))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V): row t scores y_t given y_<t."""
        return self.teacher_forced(tokens)[2]

    def log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """log G(y_t | Y_{1:t-1}) of each token: (B, T) -> (B, T) float (-inf at <pad> after <eos>). Without
        gradients in chunks of rows, so that the (B, T, V) logits of an evaluation batch never exist at once."""
        if not torch.is_grad_enabled() and tokens.shape[0] > EVAL_ROWS:
            return torch.cat([self.log_probs(part) for part in tokens.split(EVAL_ROWS)])
        logits = self.forward(tokens)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)

    # ---------------------------------------------------------------- one token at a time (Policy)
    def step_context(self) -> StepContext:
        """D's features of a prefix (its ``leak_fn``: D is fixed during one pass) and a tensor on G's device."""
        return StepContext(self.disc.leak_fn(), self.worker.output.bias)

    def start_state(self, rows: int, device: torch.device | str, ctx: StepContext) -> State:
        """S_0: the Worker has read the start token, the Manager f_0 (all padding); the goal is goal_init."""
        dtype = self.worker.output.weight.dtype
        prefix = torch.full((rows, self.seq_len), PAD_PREFIX, dtype=torch.long, device=device)
        zero = torch.zeros(rows, self.hidden_dim, device=device, dtype=dtype)
        start = self.worker.embedding(torch.full((rows,), self.start_token, device=device))
        hw, cw = lstm_cell(self.worker.lstm, start, zero, zero)
        hm, cm = lstm_cell(self.manager.lstm, ctx.table(prefix).to(hw.dtype), zero, zero)
        acc = torch.zeros(rows, self.feature_size, device=device, dtype=hm.dtype)
        goal = self.manager.goal_init.to(hm.dtype).expand(rows, -1).contiguous()
        return prefix, torch.zeros(rows, dtype=torch.long, device=device), hw, cw, hm, cm, acc, goal

    def step(self, tokens: torch.Tensor, state: State, ctx: StepContext | None = None) -> State:
        """Feed y_{t+1} (R,): S_t -> S_{t+1}. At the end of a segment (t+1 = ck) its goals' sum becomes the goal."""
        prefix, t, hw, cw, hm, cm, acc, goal = state
        prefix = prefix.scatter(1, t.unsqueeze(1), tokens.unsqueeze(1))
        t = t + 1
        hw, cw = lstm_cell(self.worker.lstm, self.worker.embedding(tokens).to(hw.dtype), hw, cw)
        leak = self.disc.leak if ctx is None else ctx.table
        hm, cm = lstm_cell(self.manager.lstm, leak(prefix).to(hm.dtype), hm, cm)
        acc = acc + self.goal_of(hm).to(acc.dtype)                 # sum of g_{c(k-1)+1}..g_{t+1}
        end = (t % self.step_size == 0).unsqueeze(1)
        return prefix, t, hw, cw, hm, cm, torch.where(end, 0.0, acc).to(acc.dtype), torch.where(end, acc, goal)

    def next_logits(self, state: State, ctx: StepContext | None = None) -> torch.Tensor:
        """(R, V) logits O_t w_t of the next token."""
        return self.token_logits(state[2], state[7].to(state[2].dtype))

    def draw(self, state: State, ctx: StepContext, generator: torch.Generator | None = None,
             uniforms: torch.Tensor | None = None) -> torch.Tensor:
        from seqgan.sampling import sample_categorical  # here to keep models free of a module cycle

        return sample_categorical(self.next_logits(state, ctx), generator=generator, uniforms=uniforms)

    @torch.no_grad()
    def prefix_states(self, tokens: torch.Tensor) -> State:
        """S_0..S_{T-1} of tokens (B, T): each tensor (B, T, ...), [:, t] after the start token and y_1..y_t."""
        ctx = self.step_context()
        state = self.start_state(tokens.shape[0], tokens.device, ctx)
        out = [state]
        for t in range(self.seq_len - 1):
            state = self.step(tokens[:, t], state, ctx)
            out.append(state)
        return tuple(torch.stack(parts, 1) for parts in zip(*out))
