"""`seqgan sweep`: tempered NLL against a direct computation, T = 1 against today's numbers, samples
against the tempered softmax, the LMs' determinism, the dominance summary, refusals, and end-to-end runs
on tiny table1 (with and without --pretrained), table1 --seeds, oracle and train runs."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from seqgan.cli import main as seqgan
from seqgan.errors import SeqGANError
from seqgan.seeding import rng
from seqgan.data.text import load_lines
from seqgan.experiments.evaluate import Scorer
from seqgan.experiments.sweep import held_out_lines, parse_temperatures, tempered, text_task
from seqgan.experiments.sweep_runs import find_runs, load_generator
from seqgan.metrics import quality_diversity as qd
from seqgan.metrics.lm import LMConfig, cached_lm, lm_nll, lm_shapes, train_lm
from seqgan.metrics.nll import nll_oracle, sequence_nll
from seqgan.models.generator import Generator
from test_realdata_train import write_corpus

FAST = ["--no-progress", "--threads", "1"]
CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("restore_threads")


def small_gen(vocab=7, length=5, seed=0, **kw) -> Generator:
    torch.manual_seed(seed)
    g = Generator(vocab, 8, 16, length, init_std=1.0, **kw)
    return g.requires_grad_(False).eval()


# ------------------------------------------------------------------------- temperature


@pytest.mark.parametrize("t", [0.3, 0.7, 1.0, 1.9])
def test_tempered_nll_equals_logits_divided_by_t(t):
    gen = small_gen()
    seqs = torch.randint(7, (50, 5))
    direct = -F.log_softmax(gen(seqs).double() / t, dim=-1).gather(2, seqs.unsqueeze(2)).squeeze(2).mean(dim=1)
    torch.testing.assert_close(sequence_nll(tempered(gen, t), seqs), direct, rtol=1e-5, atol=1e-5)


def test_tempered_nll_with_eos_ignores_padding():
    gen = small_gen(eos_token=1, pad_token=0)
    seqs = gen.sample(40, generator=torch.Generator().manual_seed(3))
    t = 0.6
    logits = gen(seqs).double() / t
    nll = -F.log_softmax(logits, dim=-1).gather(2, seqs.unsqueeze(2)).squeeze(2)
    mask = gen.valid_mask(seqs)
    direct = torch.where(mask, nll, 0.0).sum(1) / mask.sum(1)
    torch.testing.assert_close(sequence_nll(tempered(gen, t), seqs), direct, rtol=1e-5, atol=1e-5)


def test_t1_is_todays_nll_oracle_bit_for_bit_and_nll_test():
    """T = 1 draws today's samples and scores today's NLL-oracle exactly; NLL-test is the same per-sequence
    values, averaged by numpy rather than torch (another summation order: the last bit may differ)."""
    gen, oracle = small_gen(seed=1), small_gen(seed=2)
    held_out = oracle.sample(100, generator=torch.Generator().manual_seed(5))
    samples, point = qd.oracle_scores(tempered(gen, 1.0), oracle, held_out, 300, torch.Generator().manual_seed(9))
    mean, today, per_seq = nll_oracle(gen, oracle, 300, generator=torch.Generator().manual_seed(9))
    assert torch.equal(samples, today)
    assert point["nll_oracle"] == mean
    assert point["nll_test"] == pytest.approx(sequence_nll(gen, held_out).mean().item(), rel=1e-15)
    assert torch.equal(tempered(gen, 1.0).output.weight, gen.output.weight)


def test_tempering_leaves_the_generator_alone():
    gen = small_gen()
    before = gen.output.weight.clone()
    tempered(gen, 0.5)
    assert torch.equal(gen.output.weight, before)


@pytest.mark.parametrize("t", [0.5, 2.0])
def test_samples_follow_the_tempered_softmax(t):
    gen = small_gen(vocab=6, length=1, seed=4)
    n = 200_000
    samples = tempered(gen, t).sample(n, generator=torch.Generator().manual_seed(1))[:, 0]
    h = gen.hidden(torch.zeros(1, 1, dtype=torch.long))[0, 0]                 # state after the start token
    p = torch.softmax(gen.logits(h).double() / t, dim=-1)
    freq = torch.bincount(samples, minlength=6).double() / n
    sigma = (p * (1 - p) / n).sqrt()
    assert ((freq - p).abs() <= 5 * sigma + 1e-9).all(), (freq, p)
    far = torch.softmax(gen.logits(h).double(), dim=-1)  # and not the untempered distribution
    assert ((freq - far).abs() > 5 * sigma).any()


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "0.5,0", "a,b", ""])
def test_bad_temperatures_are_refused(text):
    with pytest.raises(SeqGANError, match="--temperatures"):
        parse_temperatures(text)


def test_temperatures_that_print_the_same_are_refused():
    """1 and 1.0000001 are both 't1' in file names, labels and the RNG key: one point would overwrite the other."""
    with pytest.raises(SeqGANError, match=r"--temperatures '1,1.0000001,2': 1.0 and 1.0000001 are the same to 6 "):
        parse_temperatures("1,1.0000001,2")
    assert parse_temperatures("1,1.00001") == [1.0, 1.00001]


def test_temperatures_parse():
    assert parse_temperatures("1,0.5,1,2") == [0.5, 1.0, 2.0]
    assert len(parse_temperatures(None)) == 19 and 1.0 in parse_temperatures(None)


# ------------------------------------------------------------------------------- LMs


def test_reverse_lm_training_is_seeded_and_deterministic():
    like = small_gen(eos_token=1, pad_token=0)
    rows, shapes = like.sample(200, generator=torch.Generator().manual_seed(0)), lm_shapes(like, 8, 16)
    state = torch.get_rng_state()
    a, b = train_lm(rows, shapes, LMConfig(epochs=2, seed=3)), train_lm(rows, shapes, LMConfig(epochs=2, seed=3))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    c = train_lm(rows, shapes, LMConfig(epochs=2, seed=4))
    assert not torch.equal(a.output.weight, c.output.weight)
    assert lm_nll(a, rows) == lm_nll(b, rows)
    assert math.isfinite(lm_nll(a, rows)[0]) and lm_nll(a, rows)[1] > 0


def test_lm_nll_counts_every_token_once():
    lm = small_gen(eos_token=1, pad_token=0)
    rows = lm.sample(64, generator=torch.Generator().manual_seed(2))
    nll = -lm.log_probs(rows).double()
    mask = lm.valid_mask(rows)
    assert lm_nll(lm, rows)[0] == pytest.approx((torch.where(mask, nll, 0.0).sum() / mask.sum()).item(), rel=1e-6)  # float32 sums


def test_real_data_lm_is_cached(tmp_path):
    like = small_gen(eos_token=1, pad_token=0)
    rows, shapes = like.sample(100, generator=torch.Generator().manual_seed(0)), lm_shapes(like, 8, 16)
    a, hit_a = cached_lm(rows, shapes, LMConfig(epochs=1), tmp_path)
    b, hit_b = cached_lm(rows, shapes, LMConfig(epochs=1), tmp_path)
    assert (hit_a, hit_b) == (False, True) and torch.equal(a.output.weight, b.output.weight)
    _, hit_c = cached_lm(rows, shapes, LMConfig(epochs=2), tmp_path)  # other settings: another LM
    assert not hit_c
    _, hit_d = cached_lm(rows, lm_shapes(like, 8, 8), LMConfig(epochs=1), tmp_path)  # other shapes: another LM
    assert not hit_d


def test_the_lm_of_an_lstm_run_has_the_shapes_of_its_g():
    """An LSTM G of model.g_emb_dim and g_hidden_dim gets the LM of its own config, as before LeakGAN and
    RelGAN runs were swept (so the LM numbers and cache of SeqGAN and MLE runs stay as they were)."""
    like = small_gen(eos_token=1, pad_token=0)
    assert lm_shapes(like, 8, 16) == like.config()


# ------------------------------------------------------------------------------- dominance


def test_dominance_names_the_mle_temperatures_that_beat_a_method():
    pts = [{"key": "mle", "method": "MLE", "temperature": t, "nll_oracle": q, "nll_test": d}
           for t, q, d in [(0.8, 8.0, 9.0), (0.9, 8.5, 8.6), (1.0, 9.0, 8.5)]]
    pts += [{"key": "gan", "method": "GAN", "temperature": t, "nll_oracle": q, "nll_test": d}
            for t, q, d in [(0.9, 8.4, 9.5), (1.0, 8.6, 8.7), (1.1, 8.0, 8.0)]]
    (row,) = qd.dominance(pts, "oracle")
    assert row["dominated"] and row["mle_temperatures"] == [0.9] and row["closest_mle_temperature"] == 0.9
    assert row["points_dominated"] == [0.9, 1.0] and not row["dominates_mle_at_1"]
    pts[-2]["nll_test"] = 8.4  # now GAN at T = 1 beats MLE's T = 0.9 on NLL-test
    (row,) = qd.dominance(pts, "oracle")
    assert not row["dominated"] and "not dominated" in qd.summary_lines([row])[0]


def test_dominance_on_text_uses_each_axis_direction():
    mk = lambda k, t, b, s: {"key": k, "method": k, "temperature": t, "bleu5": b, "self_bleu5": s,  # noqa: E731
                             "lm": 1.0, "reverse_lm": 1.0}
    rows = qd.dominance([mk("mle", 1.0, 0.30, 0.5), mk("seqgan", 1.0, 0.25, 0.6)], "text")
    assert rows[0]["dominated"] and rows[1]["dominated"]  # BLEU higher and Self-BLEU lower; LM ties count
    rows = qd.dominance([mk("mle", 1.0, 0.20, 0.5), mk("seqgan", 1.0, 0.25, 0.6)], "text")
    assert not rows[0]["dominated"]


# ------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def table1_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("t1") / "run"
    assert seqgan(["table1", "--preset", "tiny", *FAST, "--seeds", "0,1", "--out", str(out)]) == 0
    return out


def test_sweep_of_a_table1_run(table1_run, tmp_path, capsys):
    run, out = table1_run / "seed0", tmp_path / "sw"
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "0.5,1,2", "--samples", "200", "--threads", "1",
                   "--out", str(out)]) == 0
    for name in ("sweep.json", "sweep.csv", "sweep.md", "sweep.png", "samples/mle_t0.5.txt", "samples/seqgan_t1.txt"):
        assert (out / name).exists(), name
    res = json.loads((out / "sweep.json").read_text())
    table = {r["key"]: r for r in json.loads((run / "table1.json").read_text())["rows"]}
    keys = [m.key for m in find_runs(run)[0].methods]
    assert keys == ["random", "mle", "ss", "pg_bleu", "seqgan"]
    assert len(res["rows"]) == 15 and len(list(csv.DictReader(open(out / "sweep.csv")))) == 15
    for r in res["rows"]:
        if r["temperature"] == 1.0:  # NLL-test at T = 1 is table1's NLL-test
            assert r["nll_test"] == pytest.approx(table[r["key"]]["nll_test"], rel=1e-12)
    lines = (out / "samples" / "mle_t1.txt").read_text().splitlines()
    assert len(lines) == 200 and all(len(line.split()) == 10 for line in lines)
    assert {r["key"] for r in res["dominance"]} == {"random", "ss", "pg_bleu", "seqgan"}
    assert "Does MLE at some temperature dominate" in (out / "sweep.md").read_text()
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "1", "--out", str(out)]) == 2  # no overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_nll_oracle_at_t1_is_the_one_of_todays_code(table1_run, tmp_path):
    """T = 1 is today's NLL-oracle; at T = 0.5 both columns score the tempered G (no test caught a sweep
    that sampled tempered but scored NLL-test with the untempered G)."""
    run, out = table1_run / "seed0", tmp_path / "sw"
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "0.5,1", "--num-samples", "100", "--methods", "mle",
                   "--threads", "1", "--out", str(out)]) == 0
    rows = {r["temperature"]: r for r in json.loads((out / "sweep.json").read_text())["rows"]}
    from seqgan.checkpoint import build_model, load_checkpoint
    from seqgan.config import Config
    from seqgan.experiments.oracle import held_out_set
    gen = build_model(Generator, load_checkpoint(run / "mle" / "checkpoints" / "final.pt")["generator"], "g")
    oracle = build_model(Generator, load_checkpoint(run / "pretrain" / "checkpoints" / "init.pt")["oracle"], "o")
    held_out = held_out_set(oracle.eval(), Config.from_dict(json.loads((run / "config.json").read_text())))
    for t in (0.5, 1.0):
        g_t = tempered(gen.eval(), t)
        mean, _, _ = nll_oracle(g_t, oracle, 100, generator=rng(torch.device("cpu"), "sweep", 0, "mle", f"{t:g}"))
        assert rows[t]["nll_oracle"] == pytest.approx(mean, rel=1e-15)
        assert rows[t]["nll_test"] == pytest.approx(sequence_nll(g_t, held_out).mean().item(), rel=1e-12)
    assert rows[0.5]["nll_test"] != pytest.approx(rows[1.0]["nll_test"], rel=1e-3)
    md = (out / "sweep.md").read_text()
    assert "MLE is the only method swept" in md and "no MLE method" not in md
    from seqgan.experiments.sweep_runs import choose_methods
    runs = find_runs(run)
    assert [m.key for m in choose_methods(runs, "all")[0].methods] == [m.key for m in choose_methods(runs, None)[0].methods]


def test_sweep_of_a_table1_run_made_with_pretrained(table1_run, tmp_path):
    """A --pretrained run has no pretrain/: its oracle is in the pre-training that pretrained.txt records."""
    run, out, pre = tmp_path / "run", tmp_path / "sw", tmp_path / "pre"
    shutil.copytree(table1_run / "seed0" / "pretrain", pre, ignore=shutil.ignore_patterns(".lock"))
    assert seqgan(["table1", "--preset", "tiny", *FAST, "--methods", "mle", "--pretrained", str(pre),
                   "--out", str(run)]) == 0
    assert not (run / "pretrain").exists() and (run / "pretrained.txt").exists()
    (found,) = find_runs(run)
    assert [m.key for m in found.methods] == ["mle"]
    assert found.oracle_checkpoint == pre / "checkpoints" / "init.pt"
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "1", "--samples", "100", "--threads", "1",
                   "--out", str(out)]) == 0
    (row,) = json.loads((out / "sweep.json").read_text())["rows"]
    (mle,) = json.loads((run / "table1.json").read_text())["rows"]
    assert row["nll_test"] == pytest.approx(mle["nll_test"], rel=1e-12)  # the same oracle and held-out set
    shutil.rmtree(pre)  # the recorded pre-training is gone: say so, not "finish the run"
    with pytest.raises(SeqGANError, match="pretrained.txt.*put that directory back"):
        find_runs(run)


def test_sweep_of_a_seeds_run_gives_means_and_spread(table1_run, tmp_path):
    out = tmp_path / "sw"
    assert seqgan(["sweep", "--run", str(table1_run), "--temperatures", "0.8,1", "--samples", "100",
                   "--methods", "mle,seqgan", "--threads", "1", "--out", str(out)]) == 0
    res = json.loads((out / "sweep.json").read_text())
    assert res["seeds"] == [0, 1] and len(res["rows"]) == 4 and len(res["per_seed_rows"]) == 8
    r = next(r for r in res["rows"] if r["key"] == "mle" and r["temperature"] == 1.0)
    each = [p["nll_oracle"] for p in res["per_seed_rows"] if p["key"] == "mle" and p["temperature"] == 1.0]
    assert r["nll_oracle"] == pytest.approx(np.mean(each)) and r["nll_oracle_sd"] == pytest.approx(np.std(each, ddof=1))
    assert (out / "samples" / "seed1" / "seqgan_t0.8.txt").exists()


def test_a_seed_without_a_method_is_named(table1_run, tmp_path, capsys):
    """A seed that has not finished a method: --methods naming it is one error that names the seed; by
    default the method is left out with a word. Its rows would be missing from the means, and the
    summary said 'no MLE method in the run' when MLE was there."""
    run = tmp_path / "run"
    shutil.copytree(table1_run, run, ignore=shutil.ignore_patterns(".lock", "*.png", "events.*"))
    (run / "seed1" / "seqgan" / "result.json").unlink()  # seed 1's SeqGAN never finished
    args = ["sweep", "--run", str(run), "--temperatures", "1", "--samples", "50", "--threads", "1"]
    assert seqgan(args + ["--methods", "mle,seqgan", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--methods 'mle,seqgan': seed1 has not finished seqgan" in err and "no MLE method" not in err
    assert not (tmp_path / "a").exists()
    assert seqgan(args + ["--methods", "random,mle", "--out", str(tmp_path / "b")]) == 0
    assert "seqgan: left out" not in capsys.readouterr().err
    res = json.loads((tmp_path / "b" / "sweep.json").read_text())
    assert [r["key"] for r in res["rows"]] == ["random", "mle"] and res["dominance"]
    assert "no MLE method" not in (tmp_path / "b" / "sweep.md").read_text()
    assert seqgan(args + ["--out", str(tmp_path / "c")]) == 0
    assert "seqgan: left out, not finished in seed1" in capsys.readouterr().err
    res = json.loads((tmp_path / "c" / "sweep.json").read_text())
    assert [r["key"] for r in res["rows"]] == ["random", "mle", "ss", "pg_bleu"]
    assert not (tmp_path / "c" / "samples" / "seed0" / "seqgan_t1.txt").exists()


def test_runs_without_finished_methods_are_refused(table1_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert seqgan(["sweep", "--run", str(empty), "--out", str(tmp_path / "a")]) == 2
    assert "config.json" in capsys.readouterr().err
    partial = tmp_path / "partial"
    (partial / "pretrain").mkdir(parents=True)
    (partial / "config.json").write_text((table1_run / "seed0" / "config.json").read_text())
    (partial / "mle").mkdir()  # begun, never finished: no result.json
    assert seqgan(["sweep", "--run", str(partial), "--out", str(tmp_path / "b")]) == 2
    assert "no finished method" in capsys.readouterr().err
    assert seqgan(["sweep", "--run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c")]) == 2
    assert seqgan(["sweep", "--run", str(table1_run / "seed0"), "--temperatures", "0,1", "--out",
                   str(tmp_path / "d")]) == 2
    assert "--temperatures" in capsys.readouterr().err and not (tmp_path / "d").exists()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text('{"model": ')  # cut short
    assert seqgan(["sweep", "--run", str(damaged), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "cannot be read as JSON" in err and "Traceback" not in err


def test_sweep_never_writes_among_other_files(table1_run, tmp_path, capsys):
    task = tmp_path / "poems"  # a paper-task directory: its run in run/, its samples in samples/
    (task / "samples").mkdir(parents=True)
    (task / "samples" / "mle.txt").write_text("mine\n")
    assert seqgan(["sweep", "--run", str(table1_run / "seed0"), "--out", str(task), "--overwrite"]) == 2
    assert "holds other files (samples) and no sweep" in capsys.readouterr().err
    assert (task / "samples" / "mle.txt").read_text() == "mine\n"


def test_a_sweep_stopped_midway_can_be_run_again(table1_run, tmp_path, capsys, monkeypatch):
    """A sweep writes samples/ point by point and sweep.json at the end: stopped between the two, its --out
    was refused even with --overwrite ("holds other files (samples) and no sweep"); a Ctrl-C also spoke of
    a checkpoint that a sweep does not write."""
    real, calls = qd.oracle_scores, []

    def stop_at_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    out = tmp_path / "sw"
    argv = ["sweep", "--run", str(table1_run / "seed0"), "--temperatures", "0.5,1", "--samples", "50",
            "--methods", "mle", "--threads", "1", "--out", str(out)]
    monkeypatch.setattr(qd, "oracle_scores", stop_at_second)
    assert seqgan(argv) == 130
    err = capsys.readouterr().err
    assert "stopped at once" in err and "checkpoint" not in err
    assert (out / "samples").is_dir() and not (out / "sweep.json").exists()
    monkeypatch.setattr(qd, "oracle_scores", real)
    assert seqgan(argv) == 2 and "--overwrite" in capsys.readouterr().err  # still its own: not replaced silently
    assert seqgan(argv + ["--overwrite"]) == 0 and (out / "sweep.json").exists()
    assert seqgan(["sweep", "--run", str(table1_run / "seed0"), "--out", str(out / "sweep.json" / "x")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert seqgan(["sweep", "--run", str(table1_run / "seed0"), "--threads", "-1", "--out", str(tmp_path / "t")]) == 2
    assert "--threads must be 0" in capsys.readouterr().err


@pytest.fixture(scope="module")
def text_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    write_corpus(root / "train.txt", "word", 200, seed=1)
    write_corpus(root / "valid.txt", "word", 40, seed=2)  # up to 12 words: some lines are cut to 11
    return root


def train_text(data, out, tokenizer="word", max_len=12, extra=()):
    assert seqgan(["train", "--data", str(data / "train.txt"), "--valid", str(data / "valid.txt"), "--tokenizer",
                   tokenizer, "--max-len", str(max_len), "--preset", "tiny", *FAST, *extra, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def text_run(text_data, tmp_path_factory):
    return train_text(text_data, tmp_path_factory.mktemp("textrun") / "run")


def test_sweep_of_a_real_data_run(text_run, tmp_path, capsys):
    args = ["sweep", "--run", str(text_run), "--temperatures", "0.7,1", "--samples", "60", "--lm-epochs", "1",
            "--lm-cache", str(tmp_path / "lm"), "--threads", "1"]
    assert seqgan(args + ["--out", str(tmp_path / "sw")]) == 0
    res = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert res["kind"] == "text" and [r["key"] for r in res["rows"]] == ["mle", "mle", "seqgan", "seqgan"]
    for r in res["rows"]:
        assert 0 <= r["bleu5"] <= 1 and 0 <= r["self_bleu5"] <= 1 and r["lm"] > 0 and r["reverse_lm"] > 0
        assert r["bleu5_stderr"] > 0 and r["self_bleu5_stderr"] is None  # dependent scores: no standard error
    md = (tmp_path / "sw" / "sweep.md").read_text()
    assert "nan" not in md and "± " in md
    with open(tmp_path / "sw" / "sweep.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 and all(r["self_bleu5_stderr"] == "" and float(r["bleu5_stderr"]) > 0 for r in table)
    assert len(res["dominance"]) == 2  # SeqGAN on both pairs of axes
    for name in ("sweep_bleu.png", "sweep_lm.png", "samples/seqgan_t0.7.txt"):
        assert (tmp_path / "sw" / name).exists()
    assert "trained in" in capsys.readouterr().err
    assert seqgan(args + ["--out", str(tmp_path / "sw2")]) == 0  # the real-data LM comes from the cache
    assert "from the cache" in capsys.readouterr().err
    again = json.loads((tmp_path / "sw2" / "sweep.json").read_text())["rows"]
    assert [r["reverse_lm"] for r in again] == [r["reverse_lm"] for r in res["rows"]]  # seeded


def test_bleu_references_are_the_test_rows_the_reverse_lm_is_scored_on(text_data, text_run):
    """One test set: BLEU-5's references are the held-out rows the reverse LM is scored on (lines cut to
    max_len - 1 = 11 tokens here), not the file's lines, which no generator of the run could write."""
    (run,) = find_runs(text_run)
    task = text_task(run, load_generator(run.methods[0].checkpoint, CPU), LMConfig(epochs=1), None, CPU)
    lines = load_lines(text_data / "valid.txt")
    assert max(len(line.split()) for line in lines) == 12  # the file has lines the rows cut
    assert task.scorer.references == [task.vocab.decode(row) for row in task.valid.tolist()]
    assert len(task.scorer.references) == len(lines) and max(map(len, task.scorer.references)) == 11


@pytest.mark.parametrize("algorithm", ["leakgan", "relgan"])
def test_sweep_of_a_real_data_run_whose_g_is_not_an_lstm(algorithm, text_data, tmp_path):
    """LeakGAN's and RelGAN's G are no LSTM: both LMs are plain LSTMs of the run's model.g_emb_dim and
    g_hidden_dim (they were built from G's config, a TypeError)."""
    run = train_text(text_data, tmp_path / "run", extra=["--algorithm", algorithm])
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "1", "--samples", "30", "--lm-epochs", "1",
                   "--lm-cache", "none", "--threads", "1", "--out", str(tmp_path / "sw")]) == 0
    rows = json.loads((tmp_path / "sw" / "sweep.json").read_text())["rows"]
    assert [r["key"] for r in rows] == ["mle", algorithm]
    assert all(math.isfinite(r["lm"]) and math.isfinite(r["reverse_lm"]) for r in rows)


def test_sweep_of_a_subword_run_scores_bleu_over_words(text_data, tmp_path):
    """The run's bpe tokenizer decodes the samples; BLEU-5 counts words of the text (as seqgan eval with the
    word tokenizer would), not subword pieces, which no word-level benchmark number counts."""
    from seqgan.experiments.evaluate import read_samples

    run = train_text(text_data, tmp_path / "run", "bpe", 24, ["--vocab-size", "60"])
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "1", "--samples", "30", "--lm-epochs", "1",
                   "--methods", "mle", "--lm-cache", "none", "--threads", "1", "--out", str(tmp_path / "sw")]) == 0
    row, = json.loads((tmp_path / "sw" / "sweep.json").read_text())["rows"]
    assert 0 < row["bleu5"] <= 1 and row["lm"] > 0
    (found,) = find_runs(run)
    task = text_task(found, load_generator(found.methods[0].checkpoint, CPU), LMConfig(epochs=1), None, CPU)
    refs = [line.split() for line in held_out_lines(task.valid, task.vocab, task.tokenizer)]
    assert task.scorer.references == refs
    samples = [line.split() for line in read_samples(tmp_path / "sw" / "samples" / "mle_t1.txt")]
    assert row["bleu5"] == pytest.approx(Scorer(refs, (5,)).score(samples)["bleu5"].mean(), rel=1e-12)


@pytest.mark.parametrize("algorithm, cls", [("maligan", "Generator"), ("relgan", "RelationalGenerator")])
def test_sweep_of_an_oracle_run_finds_its_algorithm_and_generator(algorithm, cls, tmp_path):
    """An oracle run's method is its algorithm's (the checkpoint of its last phase), rebuilt as its own G class."""
    run, out = tmp_path / "run", tmp_path / "sw"
    assert seqgan(["oracle", "--preset", "tiny", *FAST, "--algorithm", algorithm, "--out", str(run)]) == 0
    (found,) = find_runs(run)
    assert [m.key for m in found.methods] == ["mle", algorithm]
    assert type(load_generator(found.methods[1].checkpoint, torch.device("cpu"))).__name__ == cls
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "0.8,1", "--samples", "100", "--threads", "1",
                   "--out", str(out)]) == 0
    rows = json.loads((out / "sweep.json").read_text())["rows"]
    assert {(r["key"], r["temperature"]) for r in rows} == {(k, t) for k in ("mle", algorithm) for t in (0.8, 1.0)}
    assert all(math.isfinite(r["nll_oracle"]) and math.isfinite(r["nll_test"]) for r in rows)


def test_sweep_of_an_oracle_mle_run_keeps_its_two_ends_apart(tmp_path):
    """An MLE run ends in MLE twice, pre-training (mle.pt) and the finished run (mle_continued.pt): two
    methods that shared the key 'mle', so one generator was scored twice and its samples overwritten."""
    run, out = tmp_path / "run", tmp_path / "sw"
    assert seqgan(["oracle", "--preset", "tiny", *FAST, "--algorithm", "mle", "--out", str(run)]) == 0
    (found,) = find_runs(run)
    assert [(m.key, m.label, m.checkpoint.name) for m in found.methods] == [
        ("mle_pretrain", "MLE pre-training", "mle.pt"), ("mle", "MLE", "mle_continued.pt")]
    assert seqgan(["sweep", "--run", str(run), "--temperatures", "1", "--samples", "100", "--threads", "1",
                   "--out", str(out)]) == 0
    res = json.loads((out / "sweep.json").read_text())
    pre, mle = res["rows"]
    assert (pre["key"], mle["key"]) == ("mle_pretrain", "mle") and pre["nll_test"] != mle["nll_test"]
    assert (out / "samples" / "mle_pretrain_t1.txt").exists() and (out / "samples" / "mle_t1.txt").exists()
    assert {r["key"] for r in res["dominance"]} == {"mle_pretrain"}
    assert "no MLE method" not in (out / "sweep.md").read_text()
