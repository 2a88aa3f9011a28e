"""RelGAN (Nie, Narodytska and Patel, ICLR 2019, "RelGAN: Relational Generative Adversarial Networks
for Text Generation").

Three changes to SeqGAN, and no roll-outs:

* **G** is a relational-memory language model (``seqgan.models.relational``), pre-trained by MLE
  through the shared pre-training (Algorithm 1, line 2 of Yu et al.; RelGAN pre-trains no D).
* **Gumbel-softmax relaxation** (Section 2.3). G's next token is the arg-max of its logits o_t
  perturbed by Gumbel noise g_t (an exact draw from softmax(o_t)); D sees the relaxed one-hot
  y^_t = softmax(beta (o_t + g_t)), which is differentiable in o_t, so the gradient of D's verdict
  reaches G through the relaxation. The hard token is what G feeds itself at the next step (the
  authors' code). beta, the inverse temperature, grows during training from 1 to beta_max
  (Section 2.3, "temperature control"): exponentially by default, beta_n = beta_max^(n/N); the
  authors' other schedules (linear, log, sigmoid, quadratic, square root, none) are options.
* **D** reads several embedded representations of a sequence (``seqgan.models.multirep``), and the
  loss is the relativistic standard GAN's (RSGAN, Jolicoeur-Martineau 2018; RelGAN Section 2.4):
  L_D = E log sigmoid(D(x_r) - D(x_f))  maximised,  L_G = E log sigmoid(D(x_f) - D(x_r)) maximised,
  real and generated rows paired in order, every representation a logit of its own; the standard
  (non-saturating) GAN loss is an option.

From the authors' code (weilinie/RelGAN, ``oracle/experiments/oracle_relgan.py``,
``oracle/oracle_gan/oracle_train.py``; read, not copied) unless said:

* each adversarial iteration is 1 G step, then 5 D steps, each on a fresh real batch (a random one
  of S's consecutive batches, their ``random_batch``) and a fresh generated one; Adam (0.9, 0.999)
  at 1e-4 for both, gradients clipped to global norm 5.0;
* D's dropout (keep 0.75) is on in both steps: TensorFlow's ``tf.nn.dropout`` there has no
  evaluation switch (D's accuracy and ``prob_real`` here are evaluated without it);
* 3000 iterations on the synthetic task, here 150 rounds of 20 (their evaluation interval), a round
  being this run's unit of logging, evaluation, checkpoints and resume;
* N of the schedule is the number of iterations of the run (the paper's "maximum number of training
  iterations"); the authors' code fixes N = 5000 for every run (``relgan.anneal_steps = 5000``);
  iteration n (0-based) uses beta_n (the authors' update lags one iteration behind);
* MLE pre-training: the shared ``train.g_pretrain_epochs`` epochs at ``train.g_lr`` (the authors: 150
  epochs at 1e-2 with clip 5.0, the protocol's 120 and 0.01 here, so that every method of Table 1
  gets the same pre-training budget).

Options not in the authors' code: ``relgan.straight_through`` (D sees the hard one-hot in the forward
pass and the relaxation's gradient in the backward pass, the straight-through Gumbel estimator of
Jang et al. 2017). The equation numbers of the paper could not be checked here (its PDF could not be
fetched): the comments cite its sections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from seqgan import distributed as dist
from seqgan.errors import SeqGANError, require_ints
from seqgan.models.multirep import MultiRepDiscriminator
from seqgan.models.relational import RelationalGenerator
from seqgan.train.algorithm import Algorithm, Hooks, Models, Position, pretrain
from seqgan.train.step import clipped_step, raise_if_skipped

if TYPE_CHECKING:
    from seqgan.config import Config

ANNEALS = ("exp", "lin", "log", "sigmoid", "quad", "sqrt", "no")
LOSSES = ("rsgan", "standard")
EPS = 1e-10  # the authors' add_gumbel: -log(-log(u + eps) + eps)


@dataclass
class RelGANConfig:
    """RelGAN's settings (config section ``relgan``). Sources: the authors' synthetic-data script
    (weilinie/RelGAN ``oracle/experiments/oracle_relgan.py``) and training code."""

    mem_slots: int = 1
    """Relational memory: number of memory rows (authors' synthetic script: 1)."""
    head_size: int = 256
    """Relational memory: size of one attention head (authors' synthetic script: 256; real data: 512)."""
    num_heads: int = 2
    """Relational memory: attention heads; a memory row has head_size * num_heads entries (authors: 2)."""
    d_emb_dim: int = 64
    """D's embedding size over all representations (authors' dis_emb_dim: 64)."""
    num_rep: int = 64
    """S, D's embedded representations, each of d_emb_dim / S dimensions (authors: 64, so 1 each)."""
    d_filter_sizes: list[int] = field(default_factory=lambda: [2, 3, 4, 5])
    """D's convolution window widths (authors: 2, 3, 4, 5)."""
    d_num_filters: list[int] = field(default_factory=lambda: [300, 300, 300, 300])
    """Filters per window width (authors: 300 each)."""
    loss: str = "rsgan"
    """'rsgan' (the paper's relativistic standard loss) or 'standard' (the non-saturating GAN loss)."""
    beta_max: float = 100.0
    """The largest inverse temperature (authors' synthetic script: 2, 5, 10 or 100; its argparse
    default 1000). beta = 1 at the first iteration."""
    anneal: str = "exp"
    """How beta grows from 1 to beta_max (Section 2.3; the authors' get_fixed_temperature): 'exp'
    beta_max^(n/N), 'lin', 'log', 'sigmoid', 'quad', 'sqrt', or 'no' (beta_max throughout)."""
    anneal_steps: int | None = None
    """N of the schedule. None: the run's iterations (rounds * iterations; the paper's maximum
    number of iterations). The authors' code uses 5000."""
    rounds: int = 150
    """Adversarial rounds; a round is ``iterations`` iterations, the unit of logging, evaluation and
    checkpoints (authors: 3000 iterations on the synthetic task = 150 x 20)."""
    iterations: int = 20
    """Adversarial iterations per round (authors evaluate every 20: their ntest)."""
    g_steps: int = 1
    """G updates per iteration (authors: 1)."""
    d_steps: int = 5
    """D updates per iteration, each on fresh real and generated batches (authors: 5)."""
    g_lr: float = 1e-4
    """Adam learning rate of G's adversarial updates (authors' gadv_lr: 1e-4)."""
    d_lr: float = 1e-4
    """Adam learning rate of D (authors: 1e-4)."""
    grad_clip: float = 5.0
    """Global gradient-norm clip of G's and D's adversarial updates (authors: 5.0 for both)."""
    straight_through: bool = False
    """False: D sees the relaxed one-hot y^ (paper, authors). True: the straight-through estimator, the
    hard one-hot forward and y^'s gradient backward (not in the paper)."""

    def validate(self) -> "RelGANConfig":
        require_ints("relgan", self, ("mem_slots", "head_size", "num_heads", "d_emb_dim", "num_rep", "iterations",
                                      "g_steps", "d_steps"))
        require_ints("relgan", self, ("rounds",), low=0)
        if self.d_emb_dim % self.num_rep:
            raise SeqGANError(f"relgan.d_emb_dim ({self.d_emb_dim}) must be a multiple of relgan.num_rep "
                              f"({self.num_rep}): each representation has d_emb_dim / num_rep dimensions")
        if len(self.d_filter_sizes) != len(self.d_num_filters) or not self.d_filter_sizes:
            raise SeqGANError("relgan.d_filter_sizes and relgan.d_num_filters must be non-empty lists of the same "
                              f"length, got {len(self.d_filter_sizes)} and {len(self.d_num_filters)}")
        if any(v < 1 for v in self.d_filter_sizes + self.d_num_filters):
            raise SeqGANError("every entry of relgan.d_filter_sizes and relgan.d_num_filters must be at least 1")
        if self.loss not in LOSSES:
            raise SeqGANError(f"relgan.loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.anneal not in ANNEALS:
            raise SeqGANError(f"relgan.anneal must be one of {', '.join(ANNEALS)}, got {self.anneal!r}")
        if not self.beta_max >= 1:
            raise SeqGANError(f"relgan.beta_max must be at least 1 (beta grows from 1 to it), got {self.beta_max}")
        if self.anneal_steps is not None and self.anneal_steps < max(2, self.total_iterations):
            raise SeqGANError(f"relgan.anneal_steps must be at least 2 and at least the run's iterations (relgan.rounds "
                              f"x relgan.iterations = {self.total_iterations}), or unset; got {self.anneal_steps}")
        for key in ("g_lr", "d_lr", "grad_clip"):
            if not getattr(self, key) > 0:
                raise SeqGANError(f"relgan.{key} must be positive, got {getattr(self, key)}")
        if not isinstance(self.straight_through, bool):
            raise SeqGANError(f"relgan.straight_through must be true or false, got {self.straight_through!r}")
        return self

    @property
    def total_iterations(self) -> int:
        return self.rounds * self.iterations


def inverse_temperature(beta_max: float, n: int, N: int, anneal: str) -> float:
    """beta_n of iteration n (0-based) of N: RelGAN Section 2.3's schedules, as the authors' code writes
    them (``get_fixed_temperature``); each starts at 1 (n = 0) and reaches about beta_max at n = N."""
    if anneal == "no":
        return beta_max
    if N < 2 and anneal in ("lin", "log", "quad", "sqrt"):
        return 1.0  # a run of one iteration: these divide by N - 1 or log N, and all start at 1
    if anneal == "exp":
        return beta_max ** (n / N)
    if anneal == "lin":
        return 1 + n / (N - 1) * (beta_max - 1)
    if anneal == "log":
        return 1 + (beta_max - 1) / math.log(N) * math.log(n + 1)
    if anneal == "sigmoid":
        return (beta_max - 1) / (1 + math.exp((N / 2 - n) * 20 / N)) + 1
    if anneal == "quad":
        return (beta_max - 1) / (N - 1) ** 2 * n ** 2 + 1
    if anneal == "sqrt":
        return (beta_max - 1) / math.sqrt(N - 1) * math.sqrt(n) + 1
    raise ValueError(f"unknown anneal {anneal!r}")


def gumbel_softmax(logits: torch.Tensor, beta: float, hard: bool = False, uniforms: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gumbel-softmax relaxation of one draw per row (Section 2.3): logits o (R, V) ->
    (y (R,) int64 = argmax(o + g), an exact draw from softmax(o); y^ (R, V) = softmax(beta (o + g))),
    g = -log(-log(u)) Gumbel noise from ``uniforms`` (R, V) or fresh U[0, 1) draws. ``hard``: y^'s
    forward value is the one-hot of y exactly, its gradient that of the relaxation (straight-through)."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device) if uniforms is None else uniforms
    z = logits.float() - torch.log(-torch.log(u + EPS) + EPS)   # o + g
    tok = z.argmax(dim=1)
    soft = torch.softmax(beta * z, dim=1)
    if hard:  # one_hot + (soft - soft) is one_hot exactly; the gradient reaches soft
        soft = F.one_hot(tok, logits.shape[1]).to(soft.dtype) + (soft - soft.detach())
    return tok, soft


def gumbel_sample(gen: RelationalGenerator, rows: int, beta: float, hard: bool = False,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``rows`` sequences through the relaxation, with gradients: -> (tokens (R, T) int64,
    relaxed one-hots (R, T, V)). G feeds itself the hard token. Variable length: after <eos> the tokens
    are <pad> and their rows the exact one-hot of <pad>, as in real data."""
    ctx = gen.step_context()
    device = ctx.bias.device
    state = gen.start_state(rows, device, ctx)
    finished = None if gen.eos_token is None else torch.zeros(rows, dtype=torch.bool, device=device)
    tokens, relaxed = [], []
    for t in range(gen.seq_len):  # generation is sequential; each step is batched over the rows
        tok, soft = gumbel_softmax(gen.next_logits(state, ctx), beta, hard, generator=generator)
        if finished is not None:
            done = finished.clone()
            tok = gen.pad_after_end(tok, finished)
            pad = F.one_hot(torch.tensor(gen.pad_token, device=device), gen.vocab_size).to(soft.dtype)
            soft = torch.where(done.unsqueeze(1), pad, soft)
        tokens.append(tok)
        relaxed.append(soft)
        if t + 1 < gen.seq_len:
            state = gen.step(tok, state, ctx)
    return torch.stack(tokens, 1), torch.stack(relaxed, 1)


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """bf16 / fp16 logits as float32 (float32 and float64 as they are): the losses are never low precision."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def d_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """D's loss on logits (b, S) of real and generated rows, paired in order. RSGAN:
    -mean log sigmoid(D(x_r) - D(x_f)); standard: -mean log sigmoid(D(x_r)) - mean log(1 - sigmoid(D(x_f))).
    In float32 under bf16 autocast too (CPU autocast keeps softplus in bf16)."""
    real, fake = at_least_float32(real), at_least_float32(fake)
    if kind == "rsgan":
        return F.softplus(-(real - fake)).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """G's loss. RSGAN: -mean log sigmoid(D(x_f) - D(x_r)); standard (non-saturating): -mean log sigmoid(D(x_f)).
    In float32, as D's loss."""
    real, fake = at_least_float32(real), at_least_float32(fake)
    if kind == "rsgan":
        return F.softplus(-(fake - real)).mean()
    return F.softplus(-fake).mean()


def real_batch(real: torch.Tensor, batch_size: int) -> torch.Tensor:
    """A random one of S's consecutive batches (the authors' random_batch), drawn from the generator every
    process shares (the global RNG in one process); this process's rows of it: (b, T)."""
    count = max(1, real.shape[0] // batch_size)
    k = int(torch.randint(count, (1,), generator=dist.shared_generator(), device=real.device).item())
    return dist.shard(real[k * batch_size:(k + 1) * batch_size])


def share_weight(rows: int, batch_size: int) -> float:
    """Scales a process's mean loss over its ``rows`` so that DDP's mean of the gradients is the whole
    batch's mean (1 in one process)."""
    return rows * dist.world().size / batch_size


def discriminator_loss(disc: MultiRepDiscriminator, real: torch.Tensor, fake: torch.Tensor, kind: str,
                       weight: float) -> torch.Tensor:
    """D's loss of real tokens (b, T) against relaxed generated rows (b, T, V), in one forward pass."""
    return d_loss(disc(real), disc(fake), kind) * weight


def adversarial_iteration(m: Models, real: torch.Tensor, c: RelGANConfig, beta: float, batch_size: int
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g_steps G updates, then d_steps D updates (the authors' loop). Returns the last losses (0-d
    tensors, this process's) and whether any step was skipped for a NaN or infinite gradient."""
    gen, disc = m.gen, m.disc
    gen.train()
    disc.train()  # dropout on in both steps, as the authors' D
    skipped = torch.zeros((), dtype=torch.bool, device=real.device)
    for _ in range(c.g_steps):                  # G: maximise L_G through the relaxation (no roll-outs)
        x_r = real_batch(real, batch_size)
        _, x_f = m.gen_replica(gumbel_sample, x_r.shape[0], beta, c.straight_through)
        disc.requires_grad_(False)  # D's plain module, frozen: the gradient goes through it to G only
        try:
            with m.disc_replica.autocast():
                loss_g = g_loss(disc(x_r), disc(x_f), c.loss) * share_weight(x_r.shape[0], batch_size)
            m.opts["relgan_g"].zero_grad(set_to_none=True)
            loss_g.backward()
        finally:
            disc.requires_grad_(True)
        skipped |= clipped_step(m.opts["relgan_g"], gen.parameters(), c.grad_clip)
    for _ in range(c.d_steps):                  # D: maximise L_D on fresh batches
        x_r = real_batch(real, batch_size)
        with torch.no_grad(), m.gen_replica.autocast():
            _, x_f = gumbel_sample(gen, x_r.shape[0], beta, c.straight_through)
        loss_d = m.disc_replica(discriminator_loss, x_r, x_f, c.loss, share_weight(x_r.shape[0], batch_size))
        m.opts["relgan_d"].zero_grad(set_to_none=True)
        loss_d.backward()
        skipped |= clipped_step(m.opts["relgan_d"], disc.parameters(), c.grad_clip)
    return loss_g.detach(), loss_d.detach(), skipped


def relgan(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position) -> None:
    """MLE pre-training (shared; no D pre-training), then rounds of adversarial iterations."""
    t, c = config.train, config.relgan
    pretrain(m, real, config, hooks, start, d_pretrain_steps=0)
    done = start.start_of("relgan")
    if done < 0:
        return
    N = c.anneal_steps or c.total_iterations
    for rnd in range(done, c.rounds):
        g_sum = torch.zeros((), dtype=torch.float64, device=real.device)
        d_sum, skipped = g_sum.clone(), torch.zeros((), dtype=torch.bool, device=real.device)
        for i in range(c.iterations):
            beta = inverse_temperature(c.beta_max, rnd * c.iterations + i, N, c.anneal)
            loss_g, loss_d, bad = adversarial_iteration(m, real, c, beta, t.batch_size)
            g_sum += loss_g.double()
            d_sum += loss_d.double()
            skipped |= bad
        raise_if_skipped(skipped, "RelGAN's G or D (adversarial loss)")
        per = dist.world().size * c.iterations  # each process's loss is its share times W: the sum is W x the batch's
        hooks.step_done("relgan", rnd + 1, {"gen/adv_loss": dist.all_reduce_sum(g_sum).item() / per,
                                            "disc/loss": dist.all_reduce_sum(d_sum).item() / per, "gen/beta": beta})
    hooks.phase_done("relgan")


def check_widths(config: "Config") -> None:
    """D's windows must fit a sequence: checked before a run (table1 reaches RelGAN hours in) and here."""
    if max(config.relgan.d_filter_sizes) > config.model.seq_len:
        raise SeqGANError(f"every relgan.d_filter_sizes width must be at most model.seq_len={config.model.seq_len}, "
                          f"got {config.relgan.d_filter_sizes}")


def relgan_models(config: "Config", eos_token: int | None, pad_token: int | None
                  ) -> tuple[RelationalGenerator, MultiRepDiscriminator]:
    """Algorithm 1, line 1 for RelGAN: its G and D with random weights (G first)."""
    m, c = config.model, config.relgan
    check_widths(config)
    gen = RelationalGenerator(m.vocab_size, m.g_emb_dim, m.seq_len, c.mem_slots, c.head_size, c.num_heads,
                              m.start_token, eos_token=eos_token, pad_token=pad_token)
    disc = MultiRepDiscriminator(m.vocab_size, m.seq_len, c.d_emb_dim, c.num_rep, c.d_filter_sizes, c.d_num_filters,
                                 m.d_dropout_keep)
    return gen, disc


RELGAN = Algorithm("relgan", "RelGAN", ("relgan",), relgan, section="relgan",
                   optimizers={"mle": ("gen", "g_lr"), "relgan_g": ("gen", "relgan.g_lr"),
                               "relgan_d": ("disc", "relgan.d_lr")},
                   pretrains_disc=False, models=relgan_models, generator_class=RelationalGenerator,
                   phase_length=lambda cfg, phase: cfg.relgan.rounds, check_config=check_widths)
