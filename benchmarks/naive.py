"""A naive generator update, written the way the public SeqGAN ports write it: the reference that
``run.py`` measures the real one against (``g_update_naive_s``).

For each of the N roll-outs and each prefix length t, the prefix is fed through the LSTM one token
at a time, the rest of the sequence is drawn one token at a time with ``torch.multinomial``, and D
scores the batch with one ``F.conv1d`` per window width. The maths is Eq. 4 and Eq. 8, the same as
:func:`seqgan.rollout.mc_rewards` and :func:`seqgan.train.policy_gradient.pg_step`; only the
schedule of the work differs (N * (T-1) separate generations of B rows instead of one batch).
It uses the package's models, so both updates start from the same weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqgan.models.conv import conv_relu_maxpool_reference
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator


@torch.no_grad()
def naive_sample(gen: Generator, rows: int, prefix: torch.Tensor | None = None, ctx=None) -> torch.Tensor:
    """(rows, T) sequences; the first ``prefix.shape[1]`` tokens copied from ``prefix``. ``ctx``: G's step
    context (its input projection of the vocabulary), built once by the caller: without it every step
    projected all V embeddings again, work no port does (it was ~260 GFLOP of a paper-shape update)."""
    T, device = gen.seq_len, gen.output.weight.device
    ctx = gen.step_context() if ctx is None else ctx
    state = gen.step(torch.full((rows,), gen.start_token, device=device), gen.initial_state(rows, device), ctx)
    out = []
    for t in range(T):
        if prefix is not None and t < prefix.shape[1]:
            tok = prefix[:, t]
        else:
            probs = F.softmax(gen.logits(state[0]), dim=-1)
            tok = torch.multinomial(probs, 1).squeeze(1)
        out.append(tok)
        state = gen.step(tok, state, ctx)
    return torch.stack(out, dim=1)


@torch.no_grad()
def naive_prob_real(disc: Discriminator, tokens: torch.Tensor) -> torch.Tensor:
    """D(Y) with one ``F.conv1d`` per width (dropout off)."""
    x = disc.embed(tokens)
    pooled = conv_relu_maxpool_reference(x, list(disc.conv_weights), list(disc.conv_biases))
    return disc.head(pooled).softmax(dim=1)[:, 1]


def naive_g_update(gen: Generator, disc: Discriminator, opt: torch.optim.Optimizer, batch_size: int,
                   num_rollouts: int, grad_clip: float) -> float:
    """Sample Y, Monte Carlo rewards by the double loop, one policy-gradient step."""
    disc.eval()
    with torch.no_grad():
        ctx = gen.step_context()  # once per update: G does not change until the step below
    seqs = naive_sample(gen, batch_size, ctx=ctx)
    T = gen.seq_len
    rewards = torch.zeros(batch_size, T, device=seqs.device)
    for _ in range(num_rollouts):
        for t in range(1, T):
            rewards[:, t - 1] += naive_prob_real(disc, naive_sample(gen, batch_size, seqs[:, :t], ctx))
        rewards[:, T - 1] += naive_prob_real(disc, seqs)
    rewards /= num_rollouts
    gen.train()
    log_probs = F.log_softmax(gen(seqs), dim=-1).gather(2, seqs.unsqueeze(2)).squeeze(2)
    loss = -(log_probs * rewards).sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(gen.parameters(), grad_clip)
    opt.step()
    return loss.item()
