"""Tree search (seqgan.mcts): the batched PUCT against a plain one-tree-at-a-time implementation, one
simulation is greedy decoding, a constant D gives visit counts that follow the prior, variable length,
and ``seqgan sample --mcts`` end to end."""

import math
from collections import defaultdict

import pytest
import torch

from seqgan.cli import main
from seqgan.mcts import complete, ended, mcts_sample, move_distribution, rollout_leaf, search_step, value_leaf
from seqgan.models.generator import Generator

V, T = 7, 5


def small_gen(eos=False, seed=0):
    torch.manual_seed(seed)
    g = Generator(V, 4, 6, T, start_token=2, init_std=1.0, eos_token=1 if eos else None, pad_token=0 if eos else None)
    return g.requires_grad_(False)


def toy_value(tokens, lengths):
    """A deterministic leaf value in [0, 1] of the first ``lengths`` tokens of each row."""
    pos = torch.arange(tokens.shape[1])
    z = torch.where(pos < lengths.unsqueeze(1), (tokens + 1) * (pos + 2), 0).sum(dim=1).double()
    return (torch.sin(z * 0.37) + 1) / 2


def toy_leaf(tokens, lengths, state, ctx):
    return toy_value(tokens, lengths).float()


def greedy(g, n):
    ctx = g.step_context()
    state, out = g.start_state(n, "cpu", ctx), torch.zeros(n, T, dtype=torch.long)
    finished = None if g.eos_token is None else torch.zeros(n, dtype=torch.bool)
    for t in range(T):
        out[:, t] = tok = g.pad_after_end(g.next_logits(state, ctx).argmax(dim=1), finished)
        state = g.step(tok, state, ctx)
    return out


def state_leaf(tokens, lengths, state, ctx, gen):
    """toy_value and a term of G's state after the prefix: a search that hands the leaf another state fails."""
    return toy_value(tokens, lengths).float() + 0.1 * torch.tanh(gen.next_logits(state, ctx).float().amax(dim=1))


def naive_search(g, prefix, simulations, c_puct):
    """PUCT on one tree of Python dicts, one simulation after another, as Silver et al. describe it,
    with seqgan.mcts's choices (sqrt(1 + sum N); an unvisited edge's Q is its node's value; a token of
    prior 0 is never chosen; a prefix ended by <eos> is complete). The leaf is state_leaf."""
    ctx = g.step_context()

    def state_after(p):  # G's state after prefix p (teacher-forced from the start)
        state = g.start_state(1, "cpu", ctx)
        for tok in p:
            state = g.step(torch.tensor([tok]), state, ctx)
        return state

    def prior(p):
        return torch.softmax(g.next_logits(state_after(p), ctx).float(), dim=1)[0].tolist()

    def value(p):
        row = torch.tensor([list(p) + [0] * (T - len(p))])
        return float(state_leaf(row, torch.tensor([len(p)]), state_after(p), ctx, g))

    def complete(p):
        return len(p) >= T or (g.eos_token is not None and len(p) > 0 and p[-1] == g.eos_token)

    root = tuple(prefix)
    node_value = {root: value(root)}
    n_sa, w_sa = defaultdict(float), defaultdict(float)
    for _ in range(simulations):
        node, path = root, []
        while not complete(node):
            p = prior(node)
            total = sum(n_sa[node, a] for a in range(V))
            scores = [(w_sa[node, a] / n_sa[node, a] if n_sa[node, a] else node_value[node])
                      + c_puct * p[a] * math.sqrt(1 + total) / (1 + n_sa[node, a]) if p[a] > 0 else -math.inf
                      for a in range(V)]
            a = max(range(V), key=lambda k: (scores[k], -k))  # the first maximum, as argmax
            path.append((node, a))
            child = node + (a,)
            if child not in node_value:
                node_value[child] = value(child)
                node = child
                break
            node = child
        v = node_value[node]
        for n, a in path:
            n_sa[n, a] += 1
            w_sa[n, a] += v
    return [n_sa[root, a] for a in range(V)]


# (T - 1, 3V): one token left, so simulations must revisit complete sequences
@pytest.mark.parametrize("eos", [False, True])
@pytest.mark.parametrize("length, simulations, c_puct", [(0, 12, 1.0), (2, 20, 0.5), (3, 30, 3.0), (T - 1, 3 * V, 1.0)])
def test_batched_search_equals_a_plain_tree_search(length, simulations, c_puct, eos):
    """With <eos> (id 1) and <pad> (id 0, prior 0): <eos> ends a branch, <pad> is never searched."""
    g = small_gen(eos)
    if eos:  # <eos> likely enough that the search ends some branches with it
        g.output.bias[1] += 1.0
    ctx = g.step_context()
    torch.manual_seed(3)
    prefix = torch.randint(2, V, (4, T))  # no <eos> or <pad> in the given prefix
    prefix[:, length:] = 0
    state = g.start_state(4, "cpu", ctx)
    for t in range(length):
        state = g.step(prefix[:, t], state, ctx)
    leaf = lambda tokens, lengths, state, ctx: state_leaf(tokens, lengths, state, ctx, g)  # noqa: E731
    with torch.no_grad():
        _, counts, _ = search_step(g, prefix, length, state, ctx, simulations, leaf, c_puct)
    for r in range(4):
        want = naive_search(g, prefix[r, :length].tolist(), simulations, c_puct)
        assert counts[r].tolist() == want
    assert torch.equal(counts.sum(dim=1), torch.full((4,), float(simulations)))


@pytest.mark.parametrize("eos", [False, True])
def test_one_simulation_is_greedy_decoding(eos):
    """S = 1: the only simulation follows argmax P, the only visited edge is chosen."""
    g = small_gen(eos)
    if eos:  # greedy G then says <eos> first (without it, it never does): the <pad>s after it are exercised
        g.output.bias[1] += 1.5
    scorer = lambda seqs: torch.rand(seqs.shape[0])  # any D: one simulation cannot use it
    with torch.no_grad():
        got = mcts_sample(g, 9, 1, rollout_leaf(g, scorer), batch_size=4)
    assert torch.equal(got, greedy(g, 9))
    if eos:
        assert g.ended(got)[:, :-1].any()


def test_move_distribution_is_the_visit_counts_to_the_power_one_over_tau():
    counts = torch.tensor([[0.0, 3.0, 1.0, 12.0], [5.0, 0.0, 0.0, 0.0]])
    for tau in (0.25, 1.0, 2.0):
        want = torch.where(counts > 0, counts.double() ** (1 / tau), 0.0)
        assert torch.allclose(move_distribution(counts, tau).double(), want / want.sum(dim=1, keepdim=True))
    assert move_distribution(counts, 1e-3)[0].argmax() == 3 and move_distribution(counts, 1e-3)[0, 3] == 1.0
    # log(3) / 1e-40 overflowed float32 to inf, and softmax gave NaN
    assert torch.equal(move_distribution(torch.tensor([[3.0, 1.0]]), 1e-40), torch.tensor([[1.0, 0.0]]))


def test_a_move_temperature_draws_visited_tokens_and_makes_a_deterministic_search_vary():
    """With a deterministic leaf the most visited token makes every row the same; tau = 1 draws each
    token among the visited edges (seeded), so the rows differ, and tau = 0 is the plain search."""
    g = small_gen()
    with torch.no_grad():
        plain = mcts_sample(g, 16, 8, toy_leaf)
        again = mcts_sample(g, 16, 8, toy_leaf, move_temperature=0.0, generator=torch.Generator().manual_seed(1))
        drawn = [mcts_sample(g, 16, 8, toy_leaf, move_temperature=1.0, generator=torch.Generator().manual_seed(1))
                 for _ in range(2)]
    assert torch.equal(plain, again) and len({tuple(r) for r in plain.tolist()}) == 1
    assert torch.equal(drawn[0], drawn[1]) and len({tuple(r) for r in drawn[0].tolist()}) > 1
    ctx = g.step_context()
    _, counts, _ = search_step(g, torch.zeros(16, T, dtype=torch.long), 0, g.start_state(16, "cpu", ctx), ctx, 8,
                               toy_leaf, 1.0)
    assert bool((counts.gather(1, drawn[0][:, :1]) > 0).all())  # the first token was a visited edge


def test_a_search_that_revisits_complete_sequences_asks_the_leaf_for_valid_lengths_only():
    """At the last position more simulations than tokens revisit complete sequences; every row is still
    evaluated (only new leaves are kept), and no length may pass T (V's gather would fail there)."""
    g = small_gen()
    ctx = g.step_context()
    seen = []

    def leaf(tokens, lengths, state, ctx):
        seen.append(int(lengths.max()))
        return toy_leaf(tokens, lengths, state, ctx)

    prefix = torch.randint(3, V, (4, T))
    state = g.start_state(4, "cpu", ctx)
    for t in range(T - 1):
        state = g.step(prefix[:, t], state, ctx)
    with torch.no_grad():
        _, counts, _ = search_step(g, prefix, T - 1, state, ctx, 3 * V, leaf, 1.0)
    assert max(seen) == T and torch.equal(counts.sum(dim=1), torch.full((4,), 3.0 * V))


def test_constant_d_makes_the_visits_follow_the_prior():
    """With D constant every Q is equal, so PUCT picks argmax P / (1 + N) at the root: the counts are
    the greedy allocation of S visits in proportion to P, and so within one visit of S * P."""
    g = small_gen()
    ctx = g.step_context()
    scorer = lambda seqs: torch.full((seqs.shape[0],), 0.3)
    S = 120
    with torch.no_grad():
        _, counts, prior = search_step(g, torch.zeros(3, T, dtype=torch.long), 0, g.start_state(3, "cpu", ctx), ctx,
                                       S, rollout_leaf(g, scorer), 1.0)
    for r in range(3):
        alloc = torch.zeros(V)
        for _ in range(S):
            alloc[(prior[r] / (1 + alloc)).argmax()] += 1
        assert torch.equal(counts[r], alloc)
    assert (counts / S - prior).abs().max() < 1.5 / S


def test_the_search_follows_the_leaf_value():
    """A leaf value that rewards one token: with enough simulations the search picks it more often than G."""
    g = small_gen()
    favoured = 5
    scorer = lambda seqs: (seqs == favoured).float().mean(dim=1)
    torch.manual_seed(0)
    with torch.no_grad():
        searched = mcts_sample(g, 16, 32, rollout_leaf(g, scorer), c_puct=0.2)
        sampled = g.sample(16)
    assert (searched == favoured).float().mean() > (sampled == favoured).float().mean() + 0.2


def test_a_roll_out_leaf_completes_each_prefix_from_its_own_state():
    """complete() against a row-by-row completion, with G made (almost surely) greedy by scaling its output
    layer: prefixes of every length, one holding <eos> (padded after it); each generated token must come
    from the state after the tokens before it."""
    g = small_gen(eos=True, seed=6)  # a seed whose greedy G does not repeat one token
    with torch.no_grad():
        g.output.weight.mul_(1000.0)
        g.output.bias.mul_(1000.0)
    ctx = g.step_context()
    tokens = torch.randint(2, V, (6, T), generator=torch.Generator().manual_seed(5))
    lengths = torch.tensor([0, 1, 2, 3, 4, 3])
    tokens[5, 1] = 1  # <eos> inside the last row's prefix

    def reference(row: list[int], length: int) -> list[int]:
        state, out = g.start_state(1, "cpu", ctx), row[:length]
        for tok in out:
            state = g.step(torch.tensor([tok]), state, ctx)
        while len(out) < T:
            if 1 in out:
                out.append(0)
                continue
            out.append(int(g.next_logits(state, ctx).argmax(dim=1)))
            state = g.step(torch.tensor(out[-1:]), state, ctx)
        return out

    with torch.no_grad():
        states = []
        for r in range(6):
            state = g.start_state(1, "cpu", ctx)
            for t in range(int(lengths[r])):
                state = g.step(tokens[r, t:t + 1], state, ctx)
            states.append(state)
        state = tuple(torch.cat(parts) for parts in zip(*states))
        got = complete(g, tokens, lengths, state, ctx, generator=torch.Generator().manual_seed(6))
        want = [reference(tokens[r].tolist(), int(lengths[r])) for r in range(6)]
    assert got.tolist() == want
    assert any(len(set(w[int(n):])) > 1 for w, n in zip(want[:5], lengths[:5]))  # the state changes the token


def test_variable_length_rows_end_at_eos_and_are_padded():
    g = small_gen(eos=True)
    with torch.no_grad():
        out = mcts_sample(g, 8, 6, rollout_leaf(g, lambda s: (s == 0).float().mean(dim=1)))  # D likes short ones
    ended = g.ended(out)
    assert ended[:, :-1].any()  # an <eos> before the last position: <pad>s follow it
    after = torch.cat([torch.zeros_like(ended[:, :1]), ended[:, :-1]], dim=1)  # strictly after the first <eos>
    assert (out[after] == 0).all() and (out[~after] != 0).all()


def test_pad_is_never_searched_even_when_the_leaf_prefers_it():
    """<pad> has prior 0 (logit -inf). Unvisited, it scored its node's own value; a leaf higher at the root than
    at its children (and higher still for <pad> prefixes, as a text D may be) made the search emit <pad> first."""
    g = small_gen(eos=True)

    def leaf(tokens, lengths, state, ctx):
        has_pad = ((tokens == 0) & (torch.arange(T) < lengths.unsqueeze(1))).any(dim=1)
        return torch.where(lengths == 0, 0.5, torch.where(has_pad, 0.9, 0.1))

    with torch.no_grad():
        ctx = g.step_context()
        _, counts, prior = search_step(g, torch.zeros(2, T, dtype=torch.long), 0, g.start_state(2, "cpu", ctx), ctx,
                                       16, leaf, 0.2)
        rows = mcts_sample(g, 3, 16, leaf, c_puct=0.2)
    assert (prior[:, 0] == 0).all() and (counts[:, 0] == 0).all() and (counts.sum(dim=1) == 16).all()
    ended_at = g.ended(rows)
    assert not ((rows == 0) & ~ended_at).any()  # <pad> only after <eos>


def test_a_move_temperature_on_variable_length_rows_draws_for_the_unfinished_rows_only():
    """A row that has emitted <eos> has a terminal root, so no visits and no distribution to draw from
    (it was NaN and torch.multinomial raised): it is padded, while the other rows still draw; a batch
    whose rows have all ended draws nothing."""
    g = small_gen(eos=True)
    g.output.bias[1] += 1.0  # <eos> likely, and a leaf that likes it: most rows end at once
    leaf = lambda tokens, lengths, state, ctx: 0.3 + 0.7 * ended(tokens, lengths, 1).float()  # noqa: E731
    with torch.no_grad():
        drawn = [mcts_sample(g, 12, 6, leaf, batch_size=4, move_temperature=1.0,
                             generator=torch.Generator().manual_seed(1)) for _ in range(2)]
    out, ends = drawn[0], g.ended(drawn[0])
    assert torch.equal(drawn[0], drawn[1])                    # seeded
    assert ends[:4, 0].all()                                   # a batch in which every row ended at once
    assert ends[:, 0].any() and not ends[:, -1].all()          # rows that ended early beside rows that go on
    after = torch.cat([torch.zeros_like(ends[:, :1]), ends[:, :-1]], dim=1)
    assert (out[after] == 0).all() and (out[~after] != 0).all()


def test_value_leaf_uses_v_and_d_for_complete_sequences():
    class V_(torch.nn.Module):
        def forward(self, tokens):  # (R, T) -> (R, T+1): column k = k / 10
            return torch.arange(tokens.shape[1] + 1).float().expand(tokens.shape[0], -1) / 10

    leaf = value_leaf(V_(), lambda s: torch.full((s.shape[0],), 0.99), eos_token=1)
    tokens = torch.tensor([[3, 4, 0, 0, 0], [3, 1, 0, 0, 0], [3, 4, 5, 6, 2]])
    got = leaf(tokens, torch.tensor([2, 2, 5]), None, None)
    assert torch.allclose(got, torch.tensor([0.2, 0.99, 0.99]))


# ------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def value_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mcts") / "run"
    torch_threads = torch.get_num_threads()
    assert main(["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--set", "train.adv_rounds=1",
                 "--set", "train.reward_estimator=value", "--out", str(out)]) == 0
    torch.set_num_threads(torch_threads)
    return out / "checkpoints" / "latest.pt"


@pytest.mark.parametrize("leaf", ["rollout", "value"])
def test_sample_mcts_command(value_run, tmp_path, leaf):
    target = tmp_path / f"{leaf}.txt"
    assert main(["sample", "--checkpoint", str(value_run), "-n", "5", "--mcts", "2", "--c-puct", "2",
                 "--leaf", leaf, "--out", str(target)]) == 0
    lines = target.read_text().splitlines()
    assert len(lines) == 5 and all(len(line.split()) == 10 for line in lines)
    again = tmp_path / "again.txt"
    assert main(["sample", "--checkpoint", str(value_run), "-n", "5", "--mcts", "2", "--c-puct", "2",
                 "--leaf", leaf, "--out", str(again)]) == 0
    assert again.read_text() == target.read_text()  # seeded
    drawn = tmp_path / "drawn.txt"
    assert main(["sample", "--checkpoint", str(value_run), "-n", "5", "--mcts", "2", "--leaf", leaf,
                 "--move-temperature", "1", "--out", str(drawn)]) == 0
    assert len(drawn.read_text().splitlines()) == 5


@pytest.mark.parametrize("name, leaf, message", [("mle.pt", "rollout", "saved before D's pre-training"),
                                                  ("d_pretrain.pt", "value", "needs a trained value network")])
def test_sample_mcts_refuses_an_untrained_scorer(value_run, capsys, name, leaf, message):
    """mle.pt's D is its initial one, and V trains only in the rounds: the search would follow noise."""
    assert main(["sample", "--checkpoint", str(value_run.parent / name), "--mcts", "2", "--leaf", leaf]) == 2
    assert message in capsys.readouterr().err
    if name == "d_pretrain.pt":  # D is trained there: roll-out leaves are fine
        assert main(["sample", "--checkpoint", str(value_run.parent / name), "-n", "2", "--mcts", "2"]) == 0


@pytest.mark.parametrize("flags, message", [(["--mcts", "-1"], "--mcts must be 0"),
                                            (["--mcts", "2", "--move-temperature", "-1"], "--move-temperature must be"),
                                            (["--mcts", "2", "--c-puct", "0"], "--c-puct must be a positive number"),
                                            (["--mcts", "2", "--c-puct", "inf"], "--c-puct must be a positive number"),
                                            (["--leaf", "value"], "--leaf applies only to tree search"),  # was ignored
                                            (["--c-puct", "2", "--move-temperature", "1"],
                                             "--c-puct, --move-temperature apply only to tree search")])
def test_sample_mcts_bad_flags(value_run, capsys, flags, message):
    assert main(["sample", "--checkpoint", str(value_run), *flags]) == 2
    assert message in capsys.readouterr().err


def test_sample_mcts_refuses_table1s_random_row(value_run, tmp_path, capsys):
    """table1's random/checkpoints/final.pt is phase 'done' but holds the untrained D of init.pt."""
    ckpt = torch.load(value_run, map_location="cpu", weights_only=True)
    ckpt["algorithm"] = "random"
    torch.save(ckpt, tmp_path / "final.pt")
    assert main(["sample", "--checkpoint", str(tmp_path / "final.pt"), "--mcts", "2"]) == 2
    assert "holds the untrained one" in capsys.readouterr().err


def test_pitch_names_are_refused_before_any_draw(value_run, capsys, monkeypatch):
    """--pitch-names was checked after sampling (minutes of search), and with an oracle checkpoint not at all."""
    from seqgan.experiments import sample

    monkeypatch.setattr(sample, "generate", lambda *a, **k: pytest.fail("sampled before refusing"))
    monkeypatch.setattr(sample, "search", lambda *a, **k: pytest.fail("searched before refusing"))
    for extra in ([], ["--mcts", "2"]):
        assert main(["sample", "--checkpoint", str(value_run), "--pitch-names", *extra]) == 2
        assert "--pitch-names is for music (ids tokenizer)" in capsys.readouterr().err
