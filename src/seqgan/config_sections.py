"""The shared sections of the configuration: the models' shapes, the data, training and evaluation.

Each algorithm's own section lives in its module under ``train/``; :class:`seqgan.config.Config` holds them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    """Shapes of the generator G, the discriminator D and the oracle."""

    vocab_size: int = 5000
    """Number of tokens. Synthetic task: 5000, token 0 is the start token and an ordinary token."""
    seq_len: int = 20
    """Sequence length T (fixed in the synthetic task)."""
    start_token: int = 0
    """Token fed to G (and the oracle) before the first position."""
    g_emb_dim: int = 32
    """G's token embedding size (authors: 32)."""
    g_hidden_dim: int = 32
    """G's LSTM hidden size (authors: 32)."""
    g_init_std: float = 0.1
    """Std of the N(0, std) init of every G weight and bias (authors: 0.1)."""
    d_emb_dim: int = 64
    """D's token embedding size (authors: 64, init U(-1, 1))."""
    d_filter_sizes: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20])
    """D's convolution window widths (authors' list)."""
    d_num_filters: list[int] = field(
        default_factory=lambda: [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
    )
    """Number of filters per window width (authors: 1720 in all)."""
    d_dropout_keep: float = 0.75
    """Keep probability of D's dropout while D trains; scoring and evaluation use none."""
    d_l2_reg: float = 0.2
    """Weight of the L2 penalty (|W|^2 + |b|^2)/2 on D's output layer (authors: 0.2)."""


@dataclass
class DataConfig:
    """The data: the synthetic oracle and the training set it generates, or a real corpus (train_path)."""

    oracle_params: str | None = None
    """Path to the authors' oracle pickle (15 float32 arrays). None: a fresh N(0,1) oracle from the seed."""
    oracle_init_std: float = 1.0
    """Std of the fresh oracle's N(0, std) parameters (paper: 1.0)."""
    num_train: int = 10_000
    """Training sequences sampled from the oracle (paper: 10,000; authors' code writes 9,984)."""
    train_path: str | None = None
    """Real data: the training corpus, UTF-8, one sequence per line. None: the synthetic oracle task.
    With real data, model.vocab_size comes from the vocabulary and model.start_token is <eos> (id 1)."""
    valid_path: str | None = None
    """Real data: held-out sequences (same format) whose NLL is logged as eval/nll_test. Optional."""
    tokenizer: str = "word"
    """Real data: how a line becomes tokens: 'char' (every character), 'word' (whitespace split),
    'ids' (space-separated integers, e.g. music pitches), or 'bpe' / 'unigram' (subword pieces that
    sentencepiece learns from the training file)."""
    min_count: int = 1
    """Real data: a token needs at least this many occurrences in the training file to get its own id;
    rarer tokens become <unk>."""
    max_vocab: int | None = None
    """Real data: largest vocabulary, the 3 special tokens included (least frequent tokens become <unk>).
    None: no limit. For 'bpe' / 'unigram', the vocabulary size to learn (--vocab-size)."""
    long_lines: str = "truncate"
    """Real data: a line with more than model.seq_len - 1 tokens (no room for its <eos>; model.seq_len
    with fixed_length) is cut to that many tokens ('truncate') or left out ('skip'); either way it is
    counted in the log."""
    fixed_length: bool = False
    """Real data whose lines all have one length (the paper's poems: 20 characters; music: 32 pitches):
    no <eos>, every sequence has exactly model.seq_len tokens, as in the paper and the synthetic task.
    False: variable length, each sequence ends with <eos> within model.seq_len positions."""


@dataclass
class TrainConfig:
    """The shared pre-training (Algorithm 1, lines 1-5) and the algorithm's rounds."""

    algorithm: str = "seqgan"
    """The training algorithm (``seqgan.train.registry``): seqgan (Algorithm 1), mle, ss (Scheduled
    Sampling), pg_bleu, maligan, rankgan, relgan, leakgan, or SeqGAN with a value network
    (seqgan_value, seqgan_rollout_baseline: docs/value_mcts.md); each has the shared pre-training, then
    ``train.adv_rounds`` epochs or rounds of its own (relgan: ``relgan.rounds``, leakgan: ``leakgan.rounds``,
    each with its own G and D and leakgan with its own pre-training).
    Its own settings are in its config section."""
    batch_size: int = 64
    """Batch size of every phase (authors: 64)."""
    g_lr: float = 0.01
    """Adam learning rate of G in MLE pre-training and in the policy-gradient phase (authors: 0.01)."""
    g_grad_clip: float = 5.0
    """Global gradient-norm clip of G's updates (authors: 5.0)."""
    g_pretrain_epochs: int = 120
    """MLE epochs over the training set (authors at HEAD: 120; paper-era code: 240)."""
    d_lr: float = 1e-4
    """Adam learning rate of D (authors: 1e-4)."""
    d_pretrain_steps: int = 50
    """D pre-training: times that fresh negatives are sampled and D trains k epochs (authors: 50)."""
    d_epochs: int = 3
    """k: epochs over positives + negatives after each fresh negative sample (authors: 3)."""
    adv_rounds: int = 200
    """Adversarial rounds of Algorithm 1 (authors at HEAD: 200; paper-era code: 800)."""
    g_steps: int = 1
    """Generator policy-gradient updates per round (authors: 1)."""
    d_steps: int = 5
    """Discriminator steps per round, each with fresh negatives and k epochs (authors: 5)."""
    rollouts: int = 16
    """N, Monte Carlo roll-outs per prefix in Eq. 4 (authors: 16)."""
    rollout_policy: str = "live"
    """'live': roll-outs use G itself (beta = theta), what the authors' code does in effect.
    'delayed': a true delayed copy, beta <- r*beta + (1-r)*theta after each g-step round."""
    rollout_update_rate: float = 0.8
    """r of the delayed roll-out copy (authors: 0.8). Only used with rollout_policy = 'delayed'."""
    checkpoint_every: int = 10
    """Write a checkpoint every this many steps of any phase: MLE epochs, D pre-training steps,
    rounds (and at the end of every phase)."""
    precision: str = "fp32"
    """Number format of training (--precision): 'fp32', or 'bf16': autocast to bfloat16 for G's and D's
    training passes and for the adversarial phase's sampling, roll-outs and rewards; parameters, optimiser
    states and evaluation stay float32. bf16 changes the numbers (not comparable bit for bit with fp32);
    see seqgan/precision.py."""
    reward_estimator: str = "rollout"
    """SeqGAN's Q in Eq. 8 (``seqgan.train.value``, docs/value_mcts.md): 'rollout' (Eq. 4, the paper),
    'value' (a value network V_psi, no roll-outs for the update; V regresses onto Monte Carlo targets)
    or 'rollout_baseline' (Eq. 4's Q minus V of the prefix: the actor-critic advantage). SeqGAN only."""
    value_rollouts: int = 4
    """With reward_estimator = 'value': roll-outs per prefix of V's Monte Carlo targets (Eq. 4 with this N);
    0: D of the sampled sequence itself is every prefix's target (no roll-outs at all). 4, a quarter of the
    paper's 16, is our choice: the update's cost falls to about a quarter (docs/value_mcts.md)."""


@dataclass
class EvalConfig:
    """Periodic and final evaluation: NLL-oracle on the synthetic task; on real data NLL-train and NLL-test."""

    every: int = 5
    """Evaluate every this many MLE epochs / adversarial rounds (authors: 5)."""
    num_samples: int = 10_000
    """Fresh samples per periodic evaluation (authors: 9,984); on real data, the training rows scored
    for eval/nll_train."""
    final_samples: int = 100_000
    """Samples of the final evaluation of each phase (paper's test phase: 100,000); on real data, the
    decoded samples written to samples/."""
    d_samples: int = 1_000
    """Fresh real and generated sequences on which D's accuracy is logged at each evaluation."""
