"""Eq. 4: the batched Monte Carlo reward equals a plain loop over roll-outs and time steps."""

import pytest
import torch

from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.rollout import RolloutPolicy, mc_rewards, rollout_sequences
from seqgan.sampling import sample_categorical

V, T, B, N = 11, 6, 3, 4


def models():
    # init_std 1.0 (the oracle's): with the default 0.1 the logits are nearly the output bias, and a
    # roll-out begun from the wrong state (an off-by-one prefix) drew the same tokens
    gen = Generator(V, 5, 7, T, start_token=0, init_std=1.0).double()
    disc = Discriminator(V, T, 4, [1, 2, 6], [3, 2, 2]).double().eval()
    return gen, disc


def naive_rewards(gen, seqs, scorer, uniforms):
    """One roll-out, one prefix, one token at a time, as the public ports do."""
    Bn, Tn = seqs.shape
    q = torch.zeros(Bn, Tn, dtype=torch.float64)
    with torch.no_grad():
        for b in range(Bn):
            for t in range(1, Tn):
                total = 0.0
                for n in range(uniforms.shape[1]):
                    seq = seqs[b].clone()
                    h, c = gen.initial_state(1, "cpu")
                    h, c = h.double(), c.double()
                    tok = torch.tensor([gen.start_token])
                    for p in range(t):  # feed the prefix
                        h, c = gen.step(tok, (h, c))
                        tok = seq[p:p + 1]
                    h, c = gen.step(tok, (h, c))
                    for p in range(t, Tn):  # complete it
                        tok = sample_categorical(gen.logits(h), uniforms=uniforms[t - 1, n, b, p].reshape(1))
                        seq[p] = tok
                        h, c = gen.step(tok, (h, c))
                    total += scorer(seq.unsqueeze(0)).item()
                q[b, t - 1] = total / uniforms.shape[1]
            q[b, Tn - 1] = scorer(seqs[b:b + 1]).item()
    return q


def test_batched_rewards_equal_naive_loop():
    gen, disc = models()
    seqs = torch.randint(0, V, (B, T))
    uniforms = torch.rand(T - 1, N, B, T, dtype=torch.float64)
    batched = mc_rewards(gen, seqs, disc.prob_real, N, uniforms=uniforms)
    naive = naive_rewards(gen, seqs, disc.prob_real, uniforms)
    assert batched.shape == (B, T)
    torch.testing.assert_close(batched.double(), naive, atol=1e-6, rtol=0)
    # t = T is D of the sequence itself; t < T averages N distinct completions.
    torch.testing.assert_close(batched[:, -1].double(), disc.prob_real(seqs), atol=1e-6, rtol=0)


def test_rollouts_keep_prefix_and_vary():
    gen, _ = models()
    seqs = torch.randint(0, V, (B, T))
    rolled = rollout_sequences(gen, seqs, N)
    assert rolled.shape == (T - 1, N, B, T)
    for t in range(1, T):
        assert torch.equal(rolled[t - 1, :, :, :t], seqs[:, :t].expand(N, B, t))
    assert len({tuple(r) for r in rolled[0].reshape(-1, T).tolist()}) > B  # completions differ


def test_rollouts_of_some_prefix_lengths_are_those_rows_of_all():
    """LeakGAN rolls out only its segment ends: the same draws give the full roll-out's rows of those lengths."""
    gen, _ = models()
    seqs = torch.randint(0, V, (B, T))
    uniforms = torch.rand(T - 1, N, B, T, dtype=torch.float64)
    full = rollout_sequences(gen, seqs, N, uniforms=uniforms)
    for lengths in ([2, 4], [T - 1], [1, 3, 5]):
        at = [t - 1 for t in lengths]
        some = rollout_sequences(gen, seqs, N, uniforms=uniforms[at], lengths=lengths)
        assert torch.equal(some, full[at]), lengths
    for bad in ([], [3, 2], [0, 2], [2, T], [2, 2]):
        with pytest.raises(ValueError, match="lengths must ascend"):
            rollout_sequences(gen, seqs, N, lengths=bad)


def test_rollout_distribution_matches_policy():
    """Completions of a length-(T-1) prefix follow G's next-token distribution after that prefix."""
    gen = Generator(5, 4, 6, 3, init_std=1.0).double()
    seqs = torch.tensor([[1, 2, 0]])
    rolled = rollout_sequences(gen, seqs, 40000)
    last = rolled[1, :, 0, 2]  # prefix of length 2, token at position 2
    with torch.no_grad():
        probs = gen(seqs)[0, 2].softmax(-1)
        others = [gen(torch.tensor([p]))[0, 2].softmax(-1) for p in ([1, 1, 0], [2, 1, 0], [3, 4, 0])]
    freq = torch.bincount(last, minlength=5).double() / last.numel()
    torch.testing.assert_close(freq, probs, atol=0.01, rtol=0)
    for other in others:  # the check tells this prefix from another one (or from the wrong position)
        assert (freq - other).abs().max() > 0.05


def test_delayed_rollout_policy_update():
    gen, _ = models()
    policy = RolloutPolicy(gen, "delayed", update_rate=0.8)
    old = {k: v.clone() for k, v in policy.copy.state_dict().items()}
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(1.0)
    policy.update()
    new, live = policy.copy.state_dict(), gen.state_dict()
    assert {n for n in live if n.startswith("lstm.")} and set(new) == set(live)
    for name in live:  # the embedding copied outright, every other tensor (LSTM, output) mixed
        want = live[name] if name.startswith("embedding.") else 0.8 * old[name] + 0.2 * live[name]
        torch.testing.assert_close(new[name], want, msg=name)
    assert RolloutPolicy(gen, "live").policy is gen
