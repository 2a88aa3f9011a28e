"""PG-BLEU, the Table 1 baseline: SeqGAN's roll-outs (Eq. 4) and policy gradient (Eq. 8) with the
reward of a complete sequence being its sentence BLEU against the training set S instead of D(Y).
No D is trained: Algorithm 1's g-steps only, ``train.adv_rounds`` rounds of ``train.g_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from seqgan import distributed as dist
from seqgan.errors import SeqGANError
from seqgan.metrics.tensor_bleu import TensorBleu
from seqgan.rollout import Scorer, mean_reward
from seqgan.train.algorithm import Algorithm, Hooks, Models, Position, pretrain
from seqgan.train.policy_gradient import generator_update

if TYPE_CHECKING:
    from seqgan.config import Config


@dataclass
class PGBLEUConfig:
    """PG-BLEU's settings (config section ``pg_bleu``; table1's --bleu-order sets ``order``)."""

    order: int = 2
    """Highest n-gram order of PG-BLEU's reward: sentence BLEU-n against the training set, uniform
    weights (1/n each), NLTK's method1 smoothing (an order with no match counts 0.1 matches).
    2, measured on the paper's oracle, its 9,984 training sequences and G after 10 MLE epochs
    (NLL-oracle 9.21), 1,000 samples: a sample shares 3.3 bigrams with S on average (96% share at
    least one), but only 3% share a trigram and 0.3% a 4-gram. Orders 3 and 4 thus multiply BLEU-2's
    statistics by a near-constant epsilon factor: Spearman's rho of the reward against the sample's
    oracle log-likelihood is 0.48 for BLEU-2 and 0.47 for BLEU-3 and BLEU-4 alike, while the reward's
    spread between sequences shrinks 6x (BLEU-3) and 16x (BLEU-4), and with Eq. 8's plain sum (no
    baseline) a smaller reward is a smaller step. BLEU-1 is about 1 for every sample (each of the
    5000 tokens occurs in S): no signal. BLEU-2's mean, about 0.4, is also near D's rewards in SeqGAN."""

    def validate(self) -> "PGBLEUConfig":
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 1:
            raise SeqGANError(f"pg_bleu.order must be an integer >= 1 (e.g. 3 for BLEU-3), got {self.order!r}")
        return self


def words(seqs: torch.Tensor, eos_token: int | None) -> torch.Tensor | None:
    """(R, T) -> (R,) the tokens before each row's first <eos>: what BLEU scores on real data, where
    <eos> and the <pad> after it are no words (None on the oracle task: every row is T tokens)."""
    if eos_token is None:
        return None
    return ((seqs == eos_token).cumsum(dim=1) == 0).sum(dim=1)


def bleu_scorer(references: torch.Tensor, order: int, eos_token: int | None = None) -> Scorer:
    """The PG-BLEU reward: complete sequences (R, T) -> (R,) float32 sentence BLEU-``order`` of each
    against all of ``references`` (N, T) (the training set S), with uniform weights and NLTK's
    method1 smoothing, over each row's words (:func:`words`). Each reference n-gram's maximum count is
    tabled once here (:class:`~seqgan.metrics.tensor_bleu.TensorBleu`); a call only looks the completions up."""
    table = TensorBleu(references, order, words(references, eos_token))

    def score(seqs: torch.Tensor) -> torch.Tensor:
        return table(seqs, words(seqs, eos_token)).to(torch.float32)

    return score


def pg_bleu(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position) -> None:
    """Pre-training, then Algorithm 1's g-steps (lines 7-12) with BLEU against S for D, no d-steps."""
    t = config.train
    pretrain(m, real, config, hooks, start)
    done = start.start_of("pg_bleu")
    if done >= 0:
        scorer = bleu_scorer(real, config.pg_bleu.order, m.gen.eos_token)
        for rnd in range(done, t.adv_rounds):
            metrics: dict[str, float] = {}
            for _ in range(t.g_steps):
                loss, seqs, rewards = generator_update(m, t, lambda: scorer)
                metrics = {"gen/pg_loss": loss, "gen/mean_reward": mean_reward(m.gen, seqs, rewards),
                           "gen/final_bleu": dist.mean(rewards[:, -1])}
            m.rollout.update()  # line 18
            hooks.step_done("pg_bleu", rnd + 1, metrics)
        hooks.phase_done("pg_bleu")


PG_BLEU = Algorithm("pg_bleu", "PG-BLEU", ("pg_bleu",), pg_bleu, section="pg_bleu", uses_disc=False)
