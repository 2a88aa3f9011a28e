import torch

from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.train.discriminator import d_epochs


def test_step_path_equals_fused_lstm():
    gen = Generator(30, 6, 9, 7).double()
    seqs = torch.randint(0, 30, (5, 7))
    with torch.no_grad():
        logits = gen(seqs)  # nn.LSTM, teacher forcing
        h, _ = gen.prefix_states(seqs)  # manual cell
        torch.testing.assert_close(gen.logits(h), logits)


def test_generator_init_is_authors_normal():
    gen = Generator(5000, 32, 32, 20)
    w = gen.output.weight
    assert abs(w.std().item() - 0.1) < 0.005 and abs(w.mean().item()) < 0.005
    assert torch.count_nonzero(gen.lstm.bias_hh_l0) == 0


def test_dropout_on_when_training_d_off_when_scoring():
    disc = Discriminator(20, 8, 6, [1, 2, 8], [16, 16, 16], dropout_keep=0.5)
    x = torch.randint(0, 20, (4, 8))
    disc.train()
    assert not torch.equal(disc(x), disc(x))  # dropout draws differ
    disc.eval()
    torch.testing.assert_close(disc(x), disc(x))
    p = disc.prob_real(x)
    assert torch.equal(p, disc.prob_real(x)) and ((p > 0) & (p < 1)).all()
    # d_epochs switches dropout on for training and leaves D in eval mode for scoring
    seen = []
    disc.dropout.register_forward_hook(lambda mod, inp, out: seen.append(mod.training))
    d_epochs(disc, torch.optim.Adam(disc.parameters()), x, x, epochs=1, batch_size=4)
    assert seen and all(seen) and not disc.training


def test_prob_real_refuses_train_mode():
    disc = Discriminator(20, 8, 6, [1, 2], [4, 4]).train()
    try:
        disc.prob_real(torch.zeros(2, 8, dtype=torch.long))
    except AssertionError:
        return
    raise AssertionError("prob_real must refuse to score with dropout on")


def test_discriminator_loss_is_ce_plus_output_l2():
    disc = Discriminator(20, 8, 6, [1, 3], [4, 5], l2_reg=0.2).eval()
    x, y = torch.randint(0, 20, (6, 8)), torch.tensor([0, 1, 0, 1, 1, 0])
    loss, logits = disc.loss(x, y)
    assert torch.equal(logits, disc(x))  # the reference below must not take loss's own logits on trust
    l2 = 0.5 * (disc.output.weight.pow(2).sum() + disc.output.bias.pow(2).sum())
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(disc(x), y) + 0.2 * l2)


def test_variable_length_sampling_pads_after_eos():
    gen = Generator(6, 4, 8, 12, start_token=1, eos_token=1, pad_token=0)
    with torch.no_grad():
        gen.output.bias[1] += 1.5  # make <eos> frequent
    seqs = gen.sample(300)
    ended = gen.ended(seqs)
    after = torch.cat([torch.zeros_like(ended[:, :1]), ended[:, :-1]], dim=1)  # strictly after the first eos
    assert ended[:, -1].float().mean() > 0.5  # most sequences ended
    assert (seqs[after] == 0).all() and not (seqs[~after] == 0).any()
    mask = gen.valid_mask(seqs)
    assert torch.equal(mask, ~after)


def test_variable_length_rollouts_pad_after_eos_and_mask_losses():
    from seqgan.rollout import rollout_sequences
    from seqgan.train.policy_gradient import pg_loss

    gen = Generator(6, 4, 8, 7, start_token=1, eos_token=1, pad_token=0)
    seqs = torch.tensor([[3, 1, 0, 0, 0, 0, 0], [2, 3, 4, 5, 2, 3, 4]])
    rolled = rollout_sequences(gen, seqs, 5)  # (T-1, N, B, T)
    assert (rolled[1:, :, 0] == seqs[0]).all()  # a prefix holding <eos> (t >= 2) completes with <pad> only
    comp = rolled[:, :, 1].reshape(-1, 7)
    after = torch.cat([torch.zeros_like(comp[:, :1], dtype=torch.bool), gen.ended(comp)[:, :-1]], dim=1)
    assert (comp[after] == 0).all()
    logp, q = torch.randn(2, 7), torch.rand(2, 7)
    mask = gen.valid_mask(seqs)
    assert mask[0].tolist() == [True, True, False, False, False, False, False]
    torch.testing.assert_close(pg_loss(logp, q, mask), -(logp[0, :2] * q[0, :2]).sum() - (logp[1] * q[1]).sum())


def test_discriminator_ignores_pad_embeddings():
    disc = Discriminator(6, 5, 4, [1, 2], [3, 3], pad_token=0).eval()
    x = torch.tensor([[3, 1, 0, 0, 0]])
    emb = disc.embed(x)
    assert (emb[0, 2:] == 0).all() and (emb[0, :2] != 0).any()


def test_frozen_scorer_equals_prob_real():
    disc = Discriminator(30, 9, 6, [1, 2, 4, 9], [5, 6, 7, 3], pad_token=0).eval()
    x = torch.randint(0, 30, (50, 9))
    x[:10, 5:] = 0
    torch.testing.assert_close(disc.frozen_scorer(batch_size=16)(x), disc.prob_real(x), atol=1e-5, rtol=1e-5)


def test_frozen_scorer_of_a_float64_discriminator():
    # The tables are float32 by design; the head of a float64 D (as in the exactness tests of
    # roll-outs) must still take its own dtype rather than fail on a float32 input.
    disc = Discriminator(30, 9, 6, [1, 2, 9], [5, 6, 3]).double().eval()
    x = torch.randint(0, 30, (20, 9))
    scores = disc.frozen_scorer()(x)
    assert scores.dtype == torch.float64
    torch.testing.assert_close(scores, disc.prob_real(x), atol=1e-6, rtol=0)


def test_d_accuracy_on_seen_rows_exposes_a_d_that_learnt_its_rows():
    """Real and generated rows from one distribution (uniform tokens): D can only learn S by heart, which
    acc_train shows and acc_real on fresh real rows does not."""
    from seqgan.train.discriminator import d_accuracy
    torch.manual_seed(0)
    disc = Discriminator(20, 8, 6, [2, 3], [32, 32], dropout_keep=1.0)
    opt = torch.optim.Adam(disc.parameters(), lr=5e-3)
    seen = torch.randint(0, 20, (64, 8))
    for _ in range(40):  # fresh negatives each time, as in Algorithm 1
        d_epochs(disc, opt, seen, torch.randint(0, 20, (64, 8)), epochs=1, batch_size=16)
    real, fake = torch.randint(0, 20, (500, 8)), torch.randint(0, 20, (500, 8))
    acc_real, acc_fake, acc_train = d_accuracy(disc, real, fake, seen)
    assert (acc_real, acc_fake) == d_accuracy(disc, real, fake)  # the third set changes nothing else
    assert acc_train == (disc.prob_real(seen) > 0.5).double().mean().item()
    assert acc_train > 0.95 and acc_real < 0.25 and acc_fake > 0.75
