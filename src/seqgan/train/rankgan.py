"""RankGAN (Lin et al., NeurIPS 2017, "Adversarial Ranking for Language Generation").

A ranker R_phi replaces the binary classifier: it scores a sequence by how it ranks against other
sequences relative to a reference set U of real ones (Lin et al., Section 2):

    alpha(s | u)     = cos(y_s, y_u)                                       relevance, Eq. 1
    P(s | u, C')     = exp(gamma alpha(s | u)) / sum_{s' in C'} exp(gamma alpha(s' | u)),  C' = C + {s}
    R(s | U, C)      = E_{u in U} P(s | u, C')                             expected rank, Eq. 2-3

y is the ranker's feature vector. The ranker maximises E_{s~data} log R(s | U, C-) - E_{s~G} log R(s | U, C+)
(Eq. 4), pushing real sequences up and generated ones down; G maximises its expected rank, by
SeqGAN's policy gradient: the reward of a complete sequence is R(s | U, C) with the other generated
sequences as C, and that of a prefix the mean over Monte Carlo roll-outs (Eq. 4 of Yu et al.).

The ranker is SeqGAN's D without its output layer: y = highway(pooled CNN features), dropout on while
it trains and off when it scores, so that the ranker starts from the shared pre-training's D and
then learns by its own loss (a phase ``ranker_pretrain`` of ``train.d_pretrain_steps`` steps, as the
authors pre-train their ranker 50 times, then ``train.d_steps`` per round). Choices, from the authors'
code (cookielee77/RankGan-NIPS2017) unless said:

* gamma = 1 and |U| = 16 real sequences drawn with replacement, fresh for every batch;
* the comparison set of a ranker step is its batch of real and generated sequences mixed (the
  authors' loader); that of a reward is the batch of generated sequences that share the roll-out and
  the prefix length (the authors' reshape), i.e. the rows the scorer sees in blocks of B;
* R averages the per-reference softmax, as the paper's Eq. 3, where the authors' code sums the cosines
  over U inside one softmax;
* the reward is R itself, not log R, as the authors' code; with several processes each process's rows
  are its comparison sets (one process: the whole batch);
* a ranker step in the rounds is one pass (``rankgan.adv_epochs``), in its pre-training three;
* departure: a reward's comparison set is the adversarial batch, ``train.batch_size`` (64, the same for
  every method of Table 1), where the authors' adversarial batch is 32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from seqgan import distributed as dist
from seqgan.distributed import Replica
from seqgan.errors import SeqGANError, require_ints
from seqgan.models.discriminator import Discriminator
from seqgan.rollout import Scorer, mean_reward
from seqgan.train.algorithm import Algorithm, Hooks, Models, Position, pretrain
from seqgan.train.mle import batches
from seqgan.train.policy_gradient import generator_update
from seqgan.train.step import NO_CLIP, clipped_step, raise_if_skipped

if TYPE_CHECKING:
    from seqgan.config import Config


@dataclass
class RankGANConfig:
    """RankGAN's settings (config section ``rankgan``); the schedule is ``train.*``, as SeqGAN's."""

    gamma: float = 1.0
    """gamma of Eq. 2, the inverse temperature of the softmax over the comparison set (authors' code: 1)."""
    references: int = 16
    """|U|: real sequences each ranking is relative to, drawn afresh for every batch (authors' code: 16)."""
    adv_epochs: int = 1
    """Passes over real and fresh generated sequences in each of a round's ``train.d_steps`` ranker steps
    (authors' main.py: 1; their ranker's pre-training takes 3 passes a step, ``train.d_epochs``, as here)."""

    def validate(self) -> "RankGANConfig":
        if not self.gamma > 0:
            raise SeqGANError(f"rankgan.gamma must be positive, got {self.gamma}")
        require_ints("rankgan", self, ("references", "adv_epochs"))
        return self


def features(ranker: Discriminator, tokens: torch.Tensor) -> torch.Tensor:
    """y: the ranker's feature vectors, (B, T) -> (B, F): highway(pooled CNN features), then dropout
    (active only in train mode)."""
    return ranker.dropout(ranker.highway(ranker.features(tokens)))


def expected_rank(y: torch.Tensor, y_refs: torch.Tensor, gamma: float, group: int | None = None) -> torch.Tensor:
    """R(s | U, C) of Eqs. 1-3 for every row: y (R, F) candidates, y_refs (U, F) references -> (R,).
    The comparison set of a row is its block of ``group`` consecutive rows (all rows if None)."""
    alpha = F.normalize(y, dim=1) @ F.normalize(y_refs, dim=1).t()               # (R, U): Eq. 1
    rows = alpha.shape[0]
    group = rows if group is None else group
    alpha = alpha.view(rows // group, group, -1)                                 # (blocks, group, U)
    return torch.softmax(gamma * alpha, dim=1).mean(dim=2).reshape(rows)         # Eq. 2, then 3: mean over U


def rank_loss(ranker: Discriminator, tokens: torch.Tensor, is_real: torch.Tensor, refs: torch.Tensor,
              gamma: float) -> torch.Tensor:
    """Eq. 4 as a loss: -(mean log R of the real rows - mean log R of the generated rows), the rows of
    ``tokens`` (B, T) being each other's comparison set; ``refs`` (U, T) real sequences."""
    y = features(ranker, torch.cat([tokens, refs]))
    log_r = expected_rank(y[:tokens.shape[0]].float(), y[tokens.shape[0]:].float(), gamma).clamp(min=1e-30).log()
    real, fake = log_r[is_real], log_r[~is_real]
    return -((real.mean() if real.numel() else 0.0) - (fake.mean() if fake.numel() else 0.0))


def references(real: torch.Tensor, count: int) -> torch.Tensor:
    """U: ``count`` rows of S drawn with replacement (the global RNG; each process its own)."""
    return real[torch.randint(real.shape[0], (count,), device=real.device)]


def ranker_step(gen_replica: Replica, ranker: Replica, opt: torch.optim.Optimizer, real: torch.Tensor, epochs: int,
                batch_size: int, c: RankGANConfig) -> float:
    """Fresh negatives from G (as many as real sequences), then ``epochs`` epochs of Eq. 4 over real and
    generated sequences shuffled together (as SeqGAN's d-step, ``seqgan.train.discriminator``). Returns
    the mean loss of the last epoch."""
    with gen_replica.autocast():
        fake = dist.gather_rows(gen_replica.model.sample(dist.share(real.shape[0])))
    data = torch.cat([real, fake])
    is_real = torch.cat([torch.ones(real.shape[0], dtype=torch.bool, device=real.device),
                         torch.zeros(fake.shape[0], dtype=torch.bool, device=real.device)])
    model = ranker.model
    model.train()  # dropout on while the ranker trains
    skipped = torch.zeros((), dtype=torch.bool, device=real.device)
    total = torch.zeros((), dtype=torch.float64, device=real.device)
    for _ in range(epochs):
        total.zero_()
        for idx in batches(data.shape[0], batch_size, data.device):
            # each process its rows: its comparison set. A short batch of n < W rows leaves each process at
            # most one row (one without gets a stand-in): a comparison set of one has R = 1, loss 0, no gradient.
            mine = idx[dist.shard_batch(idx.numel())[0]]
            loss = ranker(rank_loss, data[mine], is_real[mine], references(real, c.references), c.gamma)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            skipped |= clipped_step(opt, model.parameters(), NO_CLIP)  # authors: no clipping for the ranker
            total += loss.detach().double() * idx.numel()
    raise_if_skipped(skipped, "the ranker (Eq. 4 loss)")
    model.eval()
    return dist.all_reduce_sum(total).item() / dist.world().size / data.shape[0]


@torch.no_grad()
def rank_scorer(ranker: Discriminator, real: torch.Tensor, group: int, c: RankGANConfig,
                batch_size: int = 4096) -> Scorer:
    """The reward of complete sequences (R, T) -> (R,): R(s | U, C) with one fresh U for the call and
    blocks of ``group`` rows as comparison sets (the scorer gets the roll-outs in blocks of the batch,
    ``seqgan.rollout.mc_rewards``). The convolutions go through D's tables, as SeqGAN's frozen scorer
    (``Discriminator.frozen_pooled``); dropout is off."""
    pooled = ranker.frozen_pooled()
    y_refs = ranker.highway(pooled(references(real, c.references))).float()

    def score(tokens: torch.Tensor) -> torch.Tensor:
        y = torch.cat([ranker.highway(pooled(tokens[i:i + batch_size]))
                       for i in range(0, tokens.shape[0], batch_size)]).float()
        return expected_rank(y, y_refs, c.gamma, group)

    return score


def rankgan(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position) -> None:
    """Pre-training, the ranker's own pre-training, then rounds of g-steps on the rank reward and ranker steps."""
    t, c = config.train, config.rankgan
    pretrain(m, real, config, hooks, start)
    done = start.start_of("ranker_pretrain")
    if done >= 0:  # the authors pre-train the ranker by Eq. 4 (their pre_r_epoch), here from the shared D
        for step in range(done, t.d_pretrain_steps):
            loss = ranker_step(m.gen_replica, m.disc_replica, m.opts["d"], real, t.d_epochs, t.batch_size, c)
            hooks.step_done("ranker_pretrain", step + 1, {"disc/rank_loss": loss})
        hooks.phase_done("ranker_pretrain")
    done = start.start_of("rankgan")
    if done >= 0:
        m.disc.eval()  # rewards are scored with dropout off
        for rnd in range(done, t.adv_rounds):
            metrics: dict[str, float] = {}
            for _ in range(t.g_steps):                         # Algorithm 1's lines 8-12 with the rank reward
                group = dist.share(t.batch_size)
                loss, seqs, rewards = generator_update(m, t, lambda: rank_scorer(m.disc, real, group, c))
                metrics["gen/pg_loss"], metrics["gen/mean_reward"] = loss, mean_reward(m.gen, seqs, rewards)
            m.rollout.update()
            for _ in range(t.d_steps):
                metrics["disc/rank_loss"] = ranker_step(m.gen_replica, m.disc_replica, m.opts["d"], real, c.adv_epochs,
                                                        t.batch_size, c)
            hooks.step_done("rankgan", rnd + 1, metrics)
        hooks.phase_done("rankgan")


RANKGAN = Algorithm("rankgan", "RankGAN", ("ranker_pretrain", "rankgan"), rankgan, section="rankgan",
                    disc_phases=("ranker_pretrain",), disc_partial=True,  # the ranker skips D's output layer
                    phase_length=lambda cfg, phase: cfg.train.d_pretrain_steps if phase == "ranker_pretrain"
                    else cfg.train.adv_rounds)
