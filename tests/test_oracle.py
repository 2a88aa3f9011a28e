import pickle

import numpy as np
import pytest
import torch

from conftest import ORACLE_DATA, ORACLE_PKL, need
from seqgan.errors import SeqGANError
from seqgan.metrics.nll import sequence_nll
from seqgan.models.oracle import load_authors_params, load_oracle, make_oracle, oracle_from_authors_params
from seqgan.seeding import hash_seed


def test_authors_oracle_scores_authors_samples():
    oracle = load_oracle(need(ORACLE_PKL), seq_len=20)
    data = torch.tensor([[int(x) for x in line.split()] for line in need(ORACLE_DATA).read_text().splitlines()])
    assert data.shape == (9984, 20)
    assert abs(sequence_nll(oracle, data).mean().item() - 5.761) <= 0.001


def test_gate_mapping_matches_authors_equations():
    """One step of the loaded oracle equals the authors' separate-gate equations written out."""
    rng = np.random.default_rng(0)
    V, E, H = 7, 3, 4
    shapes = [(V, E)] + [(E, H), (H, H), (H,)] * 4 + [(H, V), (V,)]
    params = [rng.normal(size=s).astype(np.float32) for s in shapes]
    oracle = oracle_from_authors_params(params, seq_len=2)
    emb, Wi, Ui, bi, Wf, Uf, bf, Wog, Uog, bog, Wc, Uc, bc, Wo, bo = [torch.from_numpy(p).double() for p in params]
    sig = torch.sigmoid
    x, h, c = emb[0], torch.zeros(H, dtype=torch.float64), torch.zeros(H, dtype=torch.float64)
    for tok in (0, 3):  # start token, then token 3
        x = emb[tok]
        i, f, o = sig(x @ Wi + h @ Ui + bi), sig(x @ Wf + h @ Uf + bf), sig(x @ Wog + h @ Uog + bog)
        c = f * c + i * torch.tanh(x @ Wc + h @ Uc + bc)
        h = o * torch.tanh(c)
    expected = torch.log_softmax(h @ Wo + bo, dim=0)
    with torch.no_grad():
        got = torch.log_softmax(oracle(torch.tensor([[3, 5]]))[0, 1].double(), dim=0)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


class Boom:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/seqgan_pwned_marker",))


def test_pickle_naming_other_global_is_refused_and_never_runs(tmp_path):
    marker = __import__("pathlib").Path("/tmp/seqgan_pwned_marker")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps([Boom()]))
    with pytest.raises(SeqGANError, match="refusing to load.*posix.system|refusing to load.*os.system"):
        load_authors_params(evil)
    assert not marker.exists()


WRONG_KIND = [np.zeros((4, 3), np.float32)] * 15  # matrices where the biases are vectors: a bare ValueError
OBJECTS = [np.zeros((2, 2), dtype=object)] * 15       # not numbers: np.isfinite raised a bare TypeError


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps([1, 2, 3]), pickle.dumps({"a": 1}),
                                     pickle.dumps(WRONG_KIND), pickle.dumps(OBJECTS),
                                     pickle.dumps([np.zeros(3, np.complex64)] * 15)])
def test_corrupt_oracle_files(tmp_path, content):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(content)
    with pytest.raises(SeqGANError):
        load_authors_params(bad)


def test_truncated_authors_pickle(tmp_path):
    raw = need(ORACLE_PKL).read_bytes()
    bad = tmp_path / "cut.pkl"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SeqGANError, match="not a readable pickle"):
        load_authors_params(bad)


def test_missing_oracle_file(tmp_path):
    with pytest.raises(SeqGANError, match="does not exist"):
        load_oracle(tmp_path / "nope.pkl", seq_len=20)


def test_fresh_oracle_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a = make_oracle(50, 8, 8, 5, seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    b = make_oracle(50, 8, 8, 5, seed=3)
    c = make_oracle(50, 8, 8, 5, seed=4)
    assert torch.equal(a.output.weight, b.output.weight) and not torch.equal(a.output.weight, c.output.weight)
    assert abs(a.output.weight.std().item() - 1.0) < 0.1  # N(0, 1), paper section 4.1


def test_fresh_oracle_leaves_the_cuda_streams_alone(monkeypatch):
    """torch.manual_seed would re-seed every CUDA device too: each torchrun rank's own CUDA stream (its
    samples, roll-outs, D's negatives) would become the same. The oracle draws on the CPU generator only,
    the same weights as ever."""
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: seeded.append(seed))
    a = make_oracle(50, 8, 8, 5, seed=3)
    assert seeded == []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(hash_seed("oracle", 3))  # the same draws, through torch.manual_seed
        b = type(a)(50, 8, 8, 5, 0, init_std=1.0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_a_runs_g_does_not_start_as_a_scaled_copy_of_its_fresh_oracle():
    """The oracle was drawn from torch.manual_seed(seed), and the run then built G from the same state:
    G's initial weights were exactly 0.1 x the oracle's (every parameter), a G that knew the oracle."""
    from seqgan.config import resolve
    from seqgan.experiments.common import setup_torch
    from seqgan.experiments.oracle import build_oracle
    from seqgan.experiments.run import build_generator

    cfg = resolve("tiny")
    setup_torch(cfg)  # the run's global seeding, as oracle/table1 do before building G
    oracle, gen = build_oracle(cfg), build_generator(cfg)
    o = torch.cat([p.flatten() for p in oracle.parameters()])
    g = torch.cat([p.flatten() for p in gen.parameters()])
    nonzero = o != 0  # bias_hh is 0 in both
    assert abs(torch.corrcoef(torch.stack([o[nonzero], g[nonzero]]))[0, 1].item()) < 0.1
