"""LeakGAN (Guo, Lu, Cai, Zhang, Yu and Wang, AAAI 2018, "Long Text Generation via Adversarial Training
with Leaked Information"), in one training function.

G is hierarchical (``seqgan.models.leakgan``): a Manager reads D's feature f_t of the current prefix
(the leaked information) and sets a goal; a Worker generates tokens that follow it. Equations 1-8 are
numbered as in the arXiv version (1709.08624, transcribed at gabormelli.com/RKB: 3-7 the generator, 8
Q = E[r]); the paper's PDF could not be fetched here, so the later formulas are cited by the name of
their section of "Training" and each comment states the formula.

* Manager ("Training of MANAGER"): grad = -Q(s_t, g_t) grad d_cos(f_{t+c} - f_t, g_t): the goal of a segment should
  point where D's features move over it, weighted by D's reward for that move. Here, as the authors'
  code: per segment k, loss = -mean_{b,k} r_bk cos(f_{e_k} - f_{ck}, G_k), e_k = min(c(k+1), T).
* Q: D's P(real) of N Monte Carlo completions of the prefix at the segment's end (Eq. 8), every c
  steps, and D(Y) for the last segment (the authors' ``get_reward``); then the bootstrapped rescaled
  activation ("Training Techniques"): across the batch, at each segment,
  r_i = sigmoid(delta (1/2 - rank(i) / B)), rank(i) the high-to-low rank of sequence i (1 = best).
* Worker ("Training of WORKER"): REINFORCE with the intrinsic reward r^I_t = cos(f_t - f_{ck}, G_k), the move of
  D's features since its segment began against the segment's goal: loss = -mean_{b,t} r^I_bt log p(y_bt).
* Pre-training ("Training"): the Worker by MLE, the Manager by the same cosine objective without
  reward, on real data, interleaved with D's pre-training; in the adversarial phase one MLE epoch every
  ``leakgan.mle_every`` rounds ("Interleaved Training").

Distributed (torchrun): each process samples and rolls out its share of the batch; the rewards are
gathered, so the ranks are the whole batch's; the losses are scaled so that DDP's mean is the batch's.

Each loss trains its own part only (the authors' ``tf.gradients(loss, worker_params)``): the goals
enter the Worker's loss detached, D's features enter every loss detached, D learns by its own loss only
(SeqGAN's Eq. 5).

From the authors' synthetic-data code (CR-Gjx/LeakGAN ``Synthetic Data/Main.py``, ``LeakGANModel.py``,
``Discriminator.py``; read, not copied) unless said; each value's source is in :class:`LeakGANConfig`.
Departures, each also commented where it happens:

* the authors' ``tf.losses.cosine_distance`` reduces over batch and time to ONE number, so their
  Manager's loss is mean(r) x mean(cos) and their Worker's mean(cos) x the NLL of G's own samples;
  here each cosine weighs its own term, as the paper's gradients of the Manager and the Worker state;
* the paper's intrinsic reward is (1/c) sum_{i=1}^c d_cos(f_t - f_{t-i}, g_{t-i}) and its w_t sums the
  last c goals (Eq. 5); the authors' code, followed here, fixes one goal per segment (see
  ``seqgan.models.leakgan``) and compares the move since the segment's start with it;
* their ``rescale`` ranks by the iteration order of a Python 2 dict (hash order, not value order) and
  ranks from low to high (rank - 1 of the paper's formula); here the paper's formula on true ranks;
  ties share the better rank. They also divide the rescaled rewards by N; here not (Adam is
  invariant to the scale);
* every draw is from softmax(O_t w_t). Their main script samples D's negatives and evaluation samples
  from softmax(1.5 O_t w_t), and the first two tokens of training samples too (their "No Temperature"
  version: 1.0 everywhere, as here); NLL-oracle is therefore of the model whose likelihood is trained;
* their learning-rate decay (staircase 0.96) is computed but never given to an optimiser: none here;
* with T not a multiple of c (the tiny preset), the last segment is shorter;
* D's positives are the fixed S (the protocol, as every method's); their synthetic script draws fresh
  oracle samples for every D step;
* an interleaved MLE epoch is a whole pass over S, as the paper's "one epoch"; their Image COCO script's
  ``pre_train_epoch`` runs 1/20 of its batches (in its pre-training too);
* the learning rate is their main script's (0.0015 at length 20), the sampling their "No Temperature"
  version's, whose script trains at 0.01.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from seqgan import distributed as dist
from seqgan.errors import SeqGANError, require_ints
from seqgan.models.leakgan import LeakDiscriminator, LeakGANGenerator
from seqgan.rollout import Scorer, rollout_sequences
from seqgan.train.algorithm import Algorithm, Hooks, Models, Position
from seqgan.train.discriminator import d_step
from seqgan.train.leakgan_features import FeatureCache
from seqgan.train.mle import batches, mle_weights
from seqgan.train.step import clipped_step, raise_if_skipped

if TYPE_CHECKING:
    from seqgan.config import Config


@dataclass
class LeakGANConfig:
    """LeakGAN's settings (config section ``leakgan``). Sources: the authors' synthetic-data code
    (CR-Gjx/LeakGAN ``Synthetic Data/``), sequence length 20. D's shapes are SeqGAN's ``model.d_*``
    (the authors' LeakGAN D has the same 12 widths and 1,720 filters, embedding 64); its steps per
    round and epochs per step are ``train.d_steps`` and ``train.d_epochs`` (authors: 5 and 3)."""

    goal_size: int = 16
    """k, the size of w_t and of each row of O_t (authors' GOAL_SIZE: 16)."""
    step_size: int = 4
    """c, the goal horizon: tokens per segment (authors' STEP_SIZE: 4)."""
    rollouts: int = 4
    """N, Monte Carlo completions per segment end (authors' get_reward(..., 4, ...))."""
    delta: float = 16.0
    """delta of the rescaled activation (authors' redistribution: sigmoid(16 (rank / B - 1/2)))."""
    g_lr: float = 0.0015
    """Adam learning rate of the Worker's and Manager's four optimisers, pre-training and adversarial
    (authors' LEARNING_RATE for length 20: 0.0015; 0.0005 for length 40)."""
    d_lr: float = 5e-5
    """Adam learning rate of D (authors' Discriminator: 5e-5)."""
    grad_clip: float = 5.0
    """Global gradient-norm clip of each G optimiser's step (authors: 5.0); D is not clipped (authors)."""
    d_dropout_keep: float = 1.0
    """Keep probability of D's dropout while D trains (authors' synthetic dis_dropout_keep_prob: 1.0)."""
    d_l2_reg: float = 0.0
    """L2 weight on D's output layer (authors: 0.0; their dis_l2_reg_lambda 0.2 is never passed to D)."""
    pretrain_blocks: int = 10
    """Pre-training alternates D and G in this many blocks: train.d_pretrain_steps D steps and
    train.g_pretrain_epochs MLE epochs spread evenly over them, D first (authors: 10 blocks of 5 D
    steps then 8 epochs: 50 and 80)."""
    rounds: int = 800
    """Adversarial rounds: one Manager + Worker update, then train.d_steps D steps (authors' TOTAL_BATCH: 800)."""
    mle_every: int = 15
    """One MLE epoch (Worker and Manager) after the G update of every this many rounds, from round 0
    (paper, "Interleaved Training"; the authors' Image COCO script: 15). 0: none (their synthetic script)."""

    feature_cache_mb: int = 2048
    """Memory (MiB) for D's leaked features of S's prefixes, kept across MLE epochs while D is unchanged
    (not the authors': speed only, the same numbers; :class:`FeatureCache`). 0: none."""

    def validate(self) -> "LeakGANConfig":
        require_ints("leakgan", self, ("goal_size", "step_size", "rollouts", "pretrain_blocks"))
        require_ints("leakgan", self, ("rounds", "mle_every", "feature_cache_mb"), low=0)
        for key in ("g_lr", "d_lr", "grad_clip", "delta"):
            if not getattr(self, key) > 0:
                raise SeqGANError(f"leakgan.{key} must be positive, got {getattr(self, key)}")
        if not 0 < self.d_dropout_keep <= 1:
            raise SeqGANError(f"leakgan.d_dropout_keep must be in (0, 1], got {self.d_dropout_keep}")
        if self.d_l2_reg < 0:
            raise SeqGANError(f"leakgan.d_l2_reg must be 0 or more, got {self.d_l2_reg}")
        return self


# ------------------------------------------------------------------------------------ rewards


def rescaled_rewards(q: torch.Tensor, delta: float) -> torch.Tensor:
    """Bootstrapped rescaled activation ("Training Techniques"): q (B, K) D's rewards -> (B, K), at each segment k
    r_ik = sigmoid(delta (1/2 - rank_k(i) / B)), rank_k(i) = 1 + #{j : q_jk > q_ik} (1 = the best)."""
    rank = 1 + (q.unsqueeze(0) > q.unsqueeze(1)).sum(dim=1)   # [i, k]: rows j above row i at segment k
    return torch.sigmoid(delta * (0.5 - rank.double() / q.shape[0])).to(torch.float32)


@torch.no_grad()
def segment_rewards(gen: LeakGANGenerator, seqs: torch.Tensor, scorer: Scorer, num: int) -> torch.Tensor:
    """Q of every segment (Eq. 8; the authors' get_reward): (B, T) -> (B, K). Segment k < K-1: the mean of
    D over N completions of the prefix of its c(k+1) tokens; the last segment: D(Y)."""
    B, T = seqs.shape
    c = gen.step_size
    lengths = list(range(c, T, c))                                            # c(k+1), k < K-1
    last = scorer(seqs).float().unsqueeze(1)                                  # (B, 1)
    if not lengths:
        return last
    rolled = rollout_sequences(gen, seqs, num, lengths=lengths)                 # (L, N, B, T)
    q = scorer(rolled.reshape(-1, T)).float().view(len(lengths), num, B).mean(dim=1)   # (L, B)
    return torch.cat([q.t(), last], dim=1)


# ------------------------------------------------------------------------------------ losses


def feature_moves(gen: LeakGANGenerator, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From f_0..f_T (B, T+1, F): (f_{e_k} - f_{ck} for every segment (B, K, F): the Manager's target;
    f_t - f_{c((t-1)//c)} for every token t (B, T, F): the move since the segment began, the Worker's)."""
    T, c = gen.seq_len, gen.step_size
    starts = torch.arange(0, T, c, device=feats.device)
    ends = (starts + c).clamp(max=T)
    token_start = c * (torch.arange(T, device=feats.device) // c)
    return feats[:, ends] - feats[:, starts], feats[:, 1:] - feats[:, token_start]


def segment_moves_to_end(gen: LeakGANGenerator, feats: torch.Tensor, valid: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Variable-length rows: (f_{min(e_k, n)} - f_{ck} (B, K, F), which segments begin at or before <eos> (B, K)),
    n a row's length up to its <eos>. After <eos> the features move only by the padding of the prefix, which
    the Manager must not learn to aim at."""
    T, c = gen.seq_len, gen.step_size
    starts = torch.arange(0, T, c, device=feats.device)
    n = valid.sum(dim=1, keepdim=True)                                                    # (B, 1)
    ends = torch.minimum((starts + c).clamp(max=T).unsqueeze(0), n)                       # (B, K)
    moves = feats.gather(1, ends.unsqueeze(-1).expand(-1, -1, feats.shape[-1])) - feats[:, starts]
    return moves, starts.unsqueeze(0) < n


def leakgan_losses(gen: LeakGANGenerator, seqs: torch.Tensor, rewards: torch.Tensor | None = None,
                   leak=None, weights: torch.Tensor | None = None, scale: float = 1.0,
                   feats: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the Manager's loss, the Worker's loss, the Worker's intrinsic rewards (b, T)) of seqs (b, T), this
    process's rows of a batch. rewards (b, K): the adversarial losses; None: pre-training (the same cosine
    without reward, and MLE with ``weights`` (b, T), the rows' MLE weights normalised by the whole batch;
    default those of seqs). ``scale`` = W b / B makes DDP's mean of the W gradients the batch's (1 alone).
    ``feats``: seqs' leaked features if computed already (:class:`FeatureCache`)."""
    feats, goals, logits = gen.teacher_forced(seqs, leak, feats)
    seg_move, tok_move = feature_moves(gen, feats.float())
    if gen.eos_token is not None:  # the paper's sum runs over generated steps: none after <eos>
        seg_move, seg_valid = segment_moves_to_end(gen, feats.float(), gen.valid_mask(seqs))
    cos_goal = F.cosine_similarity(seg_move, goals.float(), dim=-1)                       # (b, K)
    terms = cos_goal if rewards is None else rewards * cos_goal                           # -Q d_cos(f_{t+c} - f_t, g_t)
    if gen.eos_token is not None:  # same denominator (b K) as without <eos>: DDP's ``scale`` still holds
        terms = torch.where(seg_valid, terms, 0.0)
    manager = -terms.mean() * scale
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, seqs.unsqueeze(-1)).squeeze(-1)   # (b, T)
    intrinsic = F.cosine_similarity(tok_move, gen.token_goals(goals).detach().float(), dim=-1)   # r^I_t
    if rewards is None:  # MLE: the mean NLL per token that counts
        weights = mle_weights(gen, seqs) if weights is None else weights
    else:                # REINFORCE with the intrinsic reward, mean over the batch's positions
        weights = intrinsic / seqs.numel() * scale
    if gen.eos_token is not None:
        weights = torch.where(gen.valid_mask(seqs), weights, 0.0)
        logp = torch.where(gen.valid_mask(seqs), logp, 0.0)  # log p(<pad>) = -inf after <eos>
    return manager, -(weights * logp).sum(), intrinsic


def g_update(m: Models, seqs: torch.Tensor, rewards: torch.Tensor | None, clip: float, leak=None,
             weights: torch.Tensor | None = None, scale: float = 1.0, feats: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the Manager and of the Worker, each with its own optimiser (pre-training's when
    ``rewards`` is None), through DDP in a distributed run (``weights``, ``scale``: see
    :func:`leakgan_losses`). Returns (this process's Manager loss, Worker loss, intrinsic rewards, skipped)."""
    gen = m.gen
    gen.train()
    kind = "mle" if rewards is None else "adv"
    opt_m, opt_w = m.opts[f"manager_{kind}"], m.opts[f"worker_{kind}"]
    manager, worker, intrinsic = m.gen_replica(leakgan_losses, seqs, rewards, leak, weights, scale, feats)
    opt_m.zero_grad(set_to_none=True)
    opt_w.zero_grad(set_to_none=True)
    (manager + worker).backward()  # disjoint parameters: each loss reaches its own part only
    skipped = clipped_step(opt_m, gen.manager.parameters(), clip) | clipped_step(opt_w, gen.worker.parameters(), clip)
    return manager.detach(), worker.detach(), intrinsic.detach(), skipped


def mle_epoch(m: Models, real: torch.Tensor, batch_size: int, clip: float,
              generator: torch.Generator | None = None, cache: FeatureCache | None = None) -> dict[str, float]:
    """One pre-training epoch over S: every batch trains the Worker by MLE and the Manager by the cosine.
    Distributed: each process its rows of every batch (as SeqGAN's MLE); ``generator``: the batch order's;
    ``cache``: S's leaked features kept from an earlier epoch with the same D."""
    leak = m.gen.disc.leak_fn()  # D is fixed during the epoch
    if cache is not None:
        cache.bind(m.gen.disc)
    sums = torch.zeros(2, dtype=torch.float64, device=real.device)
    skipped = torch.zeros((), dtype=torch.bool, device=real.device)
    for idx in batches(real.shape[0], batch_size, real.device, generator=generator):
        batch = real[idx]
        rows, factor = dist.shard_batch(idx.numel())                # this process's rows of the batch
        mine = batch[rows]
        weights = mle_weights(m.gen, batch)[rows] * factor
        feats = None
        if cache is not None:
            with m.gen_replica.autocast():  # the precision the features would have inside the replica
                feats = cache.features(m.gen, leak, mine, idx[rows])
        manager, worker, _, bad = g_update(m, mine, None, clip, leak, weights, factor * mine.shape[0] / idx.numel(),
                                           feats)
        sums += torch.stack([worker, manager]).double() * idx.numel()
        skipped |= bad
    raise_if_skipped(skipped, "LeakGAN's G (MLE / goal loss)")
    mle, goal = (dist.all_reduce_sum(sums) / dist.world().size / real.shape[0]).tolist()
    return {"gen/mle_loss": mle, "gen/goal_loss": goal}


def adversarial_update(m: Models, c: LeakGANConfig, batch_size: int) -> dict[str, float]:
    """Sample a batch (each process its share), reward it by D every c steps (Eq. 8), update G."""
    gen, disc = m.gen, m.disc
    disc.eval()  # rewards are scored with dropout off
    with m.gen_replica.autocast():
        seqs = gen.sample(dist.share(batch_size))
        q = segment_rewards(gen, seqs, disc.frozen_scorer(), c.rollouts)        # (b, K)
    return policy_step(m, c, seqs, q, batch_size)


def policy_step(m: Models, c: LeakGANConfig, seqs: torch.Tensor, q: torch.Tensor, batch_size: int
                ) -> dict[str, float]:
    """Rescale D's rewards q (b, K) of this process's rows seqs (b, T) and update the Manager and the Worker.
    The ranks are over the whole batch of ``batch_size`` (every process's rows), as in one process."""
    r = dist.shard(rescaled_rewards(dist.gather_rows(q), c.delta))             # this process's rows' r
    world = dist.world().size
    manager, worker, intrinsic, skipped = g_update(m, seqs, r, c.grad_clip, scale=world * seqs.shape[0] / batch_size)
    raise_if_skipped(skipped, "LeakGAN's G (adversarial loss)")
    losses = (dist.all_reduce_sum(torch.stack([manager, worker]).double()) / world).tolist()
    return {"gen/manager_loss": losses[0], "gen/worker_loss": losses[1],
            "gen/intrinsic_reward": dist.mean(intrinsic), "gen/mean_reward": dist.mean(q)}


def d_steps_before(epoch: int, epochs: int, d_steps: int, blocks: int) -> int:
    """D steps to take before MLE epoch ``epoch`` (0-based) of ``epochs``: block b starts at epoch
    floor(b E / K) with D steps ceil(b S / K) .. ceil((b+1) S / K) - 1 (authors: K 10, S 50, E 80)."""
    return sum(math.ceil((b + 1) * d_steps / blocks) - math.ceil(b * d_steps / blocks)
               for b in range(blocks) if b * epochs // blocks == epoch)


# ------------------------------------------------------------------------------------ the algorithm


def d_pretrain_length(config: "Config") -> int:
    """D pre-trains inside "mle"; with no MLE epochs, its steps are a phase of their own."""
    return config.train.d_pretrain_steps if config.train.g_pretrain_epochs == 0 else 0


def leakgan(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position) -> None:
    """Pre-training (D and G interleaved, the authors' Main.py), then the adversarial rounds."""
    t, c = config.train, config.leakgan

    def d_train() -> float:
        return d_step(m.gen_replica, m.disc_replica, m.opts["d"], real, t.d_epochs, t.batch_size)   # SeqGAN's Eq. 5

    cache = FeatureCache(real.shape[0], c.feature_cache_mb) if c.feature_cache_mb else None

    # Pre-training: "mle" holds it all; an epoch is its unit, with the D steps of a block that starts there.
    done = start.start_of("mle")
    if done >= 0:
        for epoch in range(done, t.g_pretrain_epochs):
            losses = [d_train() for _ in range(d_steps_before(epoch, t.g_pretrain_epochs, t.d_pretrain_steps,
                                                               c.pretrain_blocks))]
            metrics = mle_epoch(m, real, t.batch_size, c.grad_clip, cache=cache)    # Worker MLE, Manager cosine
            if losses:
                metrics["disc/loss"] = losses[-1]
            hooks.step_done("mle", epoch + 1, metrics)
        hooks.phase_done("mle")
    done = start.start_of("d_pretrain")
    if done >= 0:
        for step in range(done, d_pretrain_length(config)):
            hooks.step_done("d_pretrain", step + 1, {"disc/loss": d_train()})
        hooks.phase_done("d_pretrain")

    done = start.start_of("leakgan")
    if done < 0:
        return
    for rnd in range(done, c.rounds):
        metrics = adversarial_update(m, c, t.batch_size)                           # Eq. 8, Manager, Worker
        if c.mle_every and rnd % c.mle_every == 0:                                  # interleaved MLE
            metrics |= mle_epoch(m, real, t.batch_size, c.grad_clip, cache=cache)
        for _ in range(t.d_steps):
            metrics["disc/loss"] = d_train()
        hooks.step_done("leakgan", rnd + 1, metrics)
    hooks.phase_done("leakgan")


def leakgan_models(config: "Config", eos_token: int | None, pad_token: int | None
                   ) -> tuple[LeakGANGenerator, LeakDiscriminator]:
    """Algorithm 1, line 1 for LeakGAN: G (with D inside it, whose features it reads) and that same D."""
    m, c = config.model, config.leakgan
    disc = dict(vocab_size=m.vocab_size, seq_len=m.seq_len, emb_dim=m.d_emb_dim, filter_sizes=list(m.d_filter_sizes),
                num_filters=list(m.d_num_filters), dropout_keep=c.d_dropout_keep, l2_reg=c.d_l2_reg,
                pad_token=pad_token)
    gen = LeakGANGenerator(m.vocab_size, m.g_emb_dim, m.g_hidden_dim, m.seq_len, disc, c.goal_size, c.step_size,
                           m.start_token, m.g_init_std, eos_token=eos_token, pad_token=pad_token)
    return gen, gen.disc


LEAKGAN = Algorithm("leakgan", "LeakGAN", ("leakgan",), leakgan, section="leakgan",
                    optimizers={"worker_mle": ("gen.worker", "leakgan.g_lr"),
                                "manager_mle": ("gen.manager", "leakgan.g_lr"),
                                "worker_adv": ("gen.worker", "leakgan.g_lr"),
                                "manager_adv": ("gen.manager", "leakgan.g_lr"),
                                "d": ("disc", "leakgan.d_lr")},
                    pretrains_disc=False, models=leakgan_models, generator_class=LeakGANGenerator,
                    delayed_rollouts=False, d_pretrain_length=d_pretrain_length,
                    phase_length=lambda cfg, phase: cfg.leakgan.rounds)
