"""``seqgan sample`` (seeds, temperature, decoding) and ``seqgan eval`` (BLEU, Self-BLEU, MSE, t-tests)
against NLTK, scipy and plain loops."""

from __future__ import annotations

import csv
import json
import math
import random

import numpy as np
import pytest
import torch

from seqgan.errors import SeqGANError
from seqgan.experiments.sample import load_sampler, pitch_name, with_temperature
from seqgan.metrics.music import nearest_mse
from test_realdata_train import cli, one_line_error, train_args, write_corpus


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    write_corpus(root / "train.txt", "word", 300, seed=11)
    assert cli(train_args(root / "train.txt", root / "run", extra=["--set", "train.adv_rounds=1"])) == 0
    return root / "run" / "checkpoints" / "adversarial.pt"


def sample_file(ckpt, path, *extra):
    assert cli(["sample", "--checkpoint", str(ckpt), "--out", str(path), *extra]) == 0
    return path.read_text(encoding="utf-8").split("\n")[:-1]


# ------------------------------------------------------------------------------ sample


def test_sample_is_seeded_and_decoded(ckpt, tmp_path, capsys):
    a = sample_file(ckpt, tmp_path / "a.txt", "-n", "50", "--seed", "3")
    b = sample_file(ckpt, tmp_path / "b.txt", "-n", "50", "--seed", "3")
    c = sample_file(ckpt, tmp_path / "c.txt", "-n", "50", "--seed", "4")
    assert a == b and a != c and len(a) == 50
    words = set(" ".join(write_corpus(tmp_path / "w.txt", "word", 300, seed=11)).split())
    assert all(set(line.split()) <= words | {"<unk>"} and "  " not in line for line in a)
    assert cli(["sample", "--checkpoint", str(ckpt), "-n", "5"]) == 0  # to stdout
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_temperature_divides_the_logits_and_leaves_the_checkpoint(ckpt, tmp_path):
    before = ckpt.read_bytes()
    gen, *_ = load_sampler(ckpt)
    cold, *_ = load_sampler(ckpt)
    with_temperature(cold, 0.5)
    h = torch.randn(7, gen.hidden_dim)
    assert torch.allclose(cold.logits(h), gen.logits(h) / 0.5, equal_nan=True)
    assert torch.isinf(cold.logits(h)[:, 0]).all()  # <pad> stays impossible
    frozen = sample_file(ckpt, tmp_path / "cold.txt", "-n", "200", "--temperature", "0.01")
    warm = sample_file(ckpt, tmp_path / "warm.txt", "-n", "200", "--temperature", "1")
    assert 5 * len(set(frozen)) < len(set(warm))  # T -> 0 concentrates on the most likely sequences
    assert ckpt.read_bytes() == before


def test_sample_bad_input(ckpt, tmp_path, capsys):
    assert cli(["sample", "--checkpoint", str(ckpt), "--temperature", "0"]) == 2
    assert "--temperature must be a positive number" in one_line_error(capsys)
    assert cli(["sample", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in one_line_error(capsys)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert cli(["sample", "--checkpoint", str(junk)]) == 2
    assert "is not a seqgan checkpoint: torch.save did not write it" in one_line_error(capsys)
    assert cli(["sample", "--checkpoint", str(ckpt), "--pitch-names"]) == 2
    assert "--pitch-names is for music" in one_line_error(capsys)
    mine = tmp_path / "train.txt"  # say, the user's data: never replaced without --overwrite
    mine.write_text("my data\n")
    assert cli(["sample", "--checkpoint", str(ckpt), "--out", str(mine)]) == 2
    assert "exists; pass --overwrite" in one_line_error(capsys) and mine.read_text() == "my data\n"
    assert cli(["sample", "--checkpoint", str(ckpt), "-n", "3", "--out", str(mine), "--overwrite"]) == 0
    assert len(mine.read_text().splitlines()) == 3
    assert cli(["sample", "--checkpoint", str(ckpt), "--out", str(tmp_path)]) == 2
    assert "is a directory" in one_line_error(capsys)


def test_pitch_names():
    assert [pitch_name(t) for t in ("0", "3", "39", "87", "<unk>")] == ["A0", "C1", "C4", "C8", "<unk>"]


# ------------------------------------------------------------------------------- eval


def sentences(n, seed, lo=3, hi=9):
    rng = random.Random(seed)
    vocab = "a b c d e f g h".split()
    return [[rng.choice(vocab) for _ in range(rng.randint(lo, hi))] for _ in range(n)]


def write(path, rows, sep=" "):
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def strict(token):
    raise AssertionError(f"{token} is not JSON: a strict parser refuses it")


def eval_json(capsys, *args):
    """--json output, parsed as strictly as other languages' parsers do (no NaN or Infinity)."""
    assert cli(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out, parse_constant=strict)


def test_bleu_and_self_bleu_equal_nltk(tmp_path, capsys):
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hyps, refs = sentences(40, 1), sentences(60, 2)
    res = eval_json(capsys, "--samples", str(write(tmp_path / "h.txt", hyps)),
                    "--references", str(write(tmp_path / "r.txt", refs)), "--bleu", "2,4", "--self-bleu", "3")
    smooth = SmoothingFunction().method1
    for n in (2, 4):
        want = np.mean([sentence_bleu(refs, h, weights=(1 / n,) * n, smoothing_function=smooth) for h in hyps])
        assert abs(res["samples"]["metrics"][f"bleu{n}"]["mean"] - want) < 1e-12
    want = np.mean([sentence_bleu(hyps[:i] + hyps[i + 1:], h, weights=(1 / 3,) * 3, smoothing_function=smooth)
                    for i, h in enumerate(hyps)])
    assert abs(res["samples"]["metrics"]["self_bleu3"]["mean"] - want) < 1e-12


def test_char_tokenizer_and_empty_samples(tmp_path, capsys):
    refs = write(tmp_path / "r.txt", [list("山水月花"), list("花月山")], sep="")
    hyps = tmp_path / "h.txt"
    hyps.write_text("山水月\n\n月花\n", encoding="utf-8")
    res = eval_json(capsys, "--samples", str(hyps), "--references", str(refs), "--tokenizer", "char", "--bleu", "2")
    assert res["samples"]["sequences"] == 3 and res["samples"]["empty"] == 1
    with_empty = res["samples"]["metrics"]["bleu2"]["mean"]
    hyps.write_text("山水月\n月花\n", encoding="utf-8")
    without = eval_json(capsys, "--samples", str(hyps), "--references", str(refs), "--tokenizer", "char",
                        "--bleu", "2")["samples"]["metrics"]["bleu2"]["mean"]
    assert abs(with_empty - without * 2 / 3) < 1e-12  # an empty line scores 0 and counts


def test_compare_gives_welch_p_values_and_per_sequence_scores(tmp_path, capsys):
    from scipy import stats

    refs = write(tmp_path / "r.txt", sentences(80, 3))
    a, b = write(tmp_path / "a.txt", sentences(50, 4)), write(tmp_path / "b.txt", sentences(70, 5, 2, 5))
    per = tmp_path / "per.csv"
    res = eval_json(capsys, "--samples", str(a), "--compare", str(b), "--references", str(refs),
                    "--bleu", "2,3", "--per-sequence", str(per))
    rows = list(csv.DictReader(per.open()))
    assert len(rows) == 120 and {r["set"] for r in rows} == {"samples", "compare"}
    for n in (2, 3):
        x = [float(r[f"bleu{n}"]) for r in rows if r["set"] == "samples"]
        y = [float(r[f"bleu{n}"]) for r in rows if r["set"] == "compare"]
        assert abs(np.mean(x) - res["samples"]["metrics"][f"bleu{n}"]["mean"]) < 1e-12
        assert math.isclose(res["p_values"][f"bleu{n}"], stats.ttest_ind(x, y, equal_var=False).pvalue, rel_tol=1e-9)
    before = a.read_text()
    assert cli(["eval", "--samples", str(a), "--references", str(refs), "--per-sequence", str(a)]) == 2
    assert "exists; pass --overwrite" in one_line_error(capsys) and a.read_text() == before
    assert cli(["eval", "--samples", str(a), "--compare", str(b), "--references", str(refs)]) == 0
    table = capsys.readouterr().out
    assert "| bleu5 |" in table and "p-value" in table


def test_self_bleu_has_no_standard_error_or_p_value(tmp_path, capsys):
    """Self-BLEU scores each sequence against the others: sd/sqrt(N) and Welch's test on them would overstate
    significance, so both are null (BLEU's stay: its scores are independent given the references)."""
    refs = write(tmp_path / "r.txt", sentences(40, 3))
    a, b = write(tmp_path / "a.txt", sentences(30, 4)), write(tmp_path / "b.txt", sentences(30, 5, 2, 5))
    flags = ["--samples", str(a), "--compare", str(b), "--references", str(refs), "--bleu", "2", "--self-bleu", "2"]
    res = eval_json(capsys, *flags)
    for label in ("samples", "compare"):
        self_bleu, bleu = res[label]["metrics"]["self_bleu2"], res[label]["metrics"]["bleu2"]
        assert self_bleu["stderr"] is None and "not independent" in self_bleu["note"] and self_bleu["mean"] > 0
        assert bleu["stderr"] > 0 and "note" not in bleu
    assert res["p_values"]["self_bleu2"] is None and 0 < res["p_values"]["bleu2"] < 1
    assert cli(["eval", *flags]) == 0
    out = capsys.readouterr()
    row = next(line for line in out.out.splitlines() if line.startswith("| self_bleu2 |"))
    assert "±" not in row and row.endswith("| n/a |")
    assert "no standard error or p-value for Self-BLEU" in out.err


def test_eval_json_writes_null_not_nan(tmp_path, capsys):
    """Undefined numbers (one sequence's standard error, the p-value of two constant samples, the MSE of
    empty sequences only) are null: bare NaN is not JSON."""
    refs = write(tmp_path / "r.txt", sentences(10, 6))
    one = write(tmp_path / "one.txt", [["a", "b", "c"]])
    res = eval_json(capsys, "--samples", str(one), "--compare", str(one), "--references", str(refs), "--bleu", "2")
    assert res["samples"]["metrics"]["bleu2"]["stderr"] is None and res["samples"]["metrics"]["bleu2"]["n"] == 1
    assert res["p_values"]["bleu2"] is None and res["samples"]["metrics"]["bleu2"]["mean"] > 0
    ids = write(tmp_path / "ids.txt", [["40", "42"], ["41", "43"]])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    res = eval_json(capsys, "--samples", str(empty), "--references", str(ids), "--tokenizer", "ids", "--mse",
                    "--bleu", "none")
    assert res["samples"]["metrics"]["mse"] == {"mean": None, "stderr": None, "n": 0}


def test_eval_bad_input(tmp_path, capsys):
    refs = write(tmp_path / "r.txt", sentences(5, 6))
    bad = tmp_path / "bad.txt"
    for content, message in ((b"", "is empty"), (b"a b\n\xc3\x28\n", "not UTF-8 (line 2"),
                             (b"a b\n  \n", "line 2 holds only whitespace")):
        bad.write_bytes(content)
        assert cli(["eval", "--samples", str(bad), "--references", str(refs)]) == 2
        assert message in one_line_error(capsys)
    # under the char tokenizer a space is a token: `sample` writes a sample of spaces alone, eval scores it
    bad.write_bytes(b"a b\n  \n")
    assert cli(["eval", "--samples", str(bad), "--references", str(refs), "--tokenizer", "char", "--bleu", "1"]) == 0
    good = write(tmp_path / "g.txt", sentences(5, 7))
    for args, message in ((["--references", str(bad)], "line 2 is blank"),
                          (["--bleu", "2"], "need a reference file"),
                          ([], "nothing to compute"),
                          (["--references", str(refs), "--bleu", "two"], "orders separated by commas"),
                          (["--references", str(refs), "--mse"], "--tokenizer ids")):
        assert cli(["eval", "--samples", str(good), *args]) == 2
        assert message in one_line_error(capsys)
    assert cli(["eval", "--samples", str(good), "--self-bleu", "2"]) == 0  # diversity alone: no BLEU asked for
    # the --compare file is named as such, and a Self-BLEU order longer than every sample as Self-BLEU's
    assert cli(["eval", "--samples", str(good), "--compare", str(tmp_path / "nope.txt"), "--self-bleu", "2"]) == 2
    assert f"--compare file {tmp_path / 'nope.txt'} does not exist" in one_line_error(capsys)
    assert cli(["eval", "--samples", str(good), "--self-bleu", "40"]) == 0
    assert "warning: Self-BLEU-40 of" in capsys.readouterr().err


# ------------------------------------------------------------------------------- music


def brute_mse(gen, refs):
    L = max(len(r) for r in refs)

    def hold(s):
        s = list(s[:L])
        first = next(p for p in s if p is not None)
        out, last = [], first
        for t in range(L):
            last = s[t] if t < len(s) and s[t] is not None else last
            out.append(last)
        return out

    R = [hold(r) for r in refs]
    return [min(sum((a - b) ** 2 for a, b in zip(hold(g), r)) / L for r in R) if any(p is not None for p in g)
            else math.nan for g in gen]


def test_music_mse_is_the_nearest_reference_mean_squared_pitch_difference():
    rng = random.Random(8)
    refs = [[rng.randint(30, 60) for _ in range(12)] for _ in range(40)]
    gen = [[rng.randint(30, 60) for _ in range(rng.randint(1, 14))] for _ in range(30)]
    gen += [[None, 40, None, 45], [], [None]]
    got = nearest_mse(gen, refs, chunk=7)
    want = brute_mse(gen, refs)
    assert np.allclose(got[:-2], want[:-2], rtol=0, atol=1e-9)
    assert np.isnan(got[-2:]).all()
    assert nearest_mse([refs[5]], refs)[0] == 0.0  # a real melody is its own nearest neighbour
    with pytest.raises(SeqGANError, match="references with at least one pitch"):
        nearest_mse(gen, [[], []])


def test_eval_mse_on_ids_files(tmp_path, capsys):
    refs = write(tmp_path / "r.txt", [["40", "42", "44", "45"], ["50", "50", "52", "52"]])
    hyps = write(tmp_path / "h.txt", [["40", "42", "44"], ["51", "<unk>", "52", "53"]])
    res = eval_json(capsys, "--samples", str(hyps), "--references", str(refs), "--tokenizer", "ids",
                    "--mse", "--bleu", "4")
    # [40,42,44,44] vs [40,42,44,45]: 1/4; [51,51,52,53] vs [50,50,52,52]: 3/4
    assert abs(res["samples"]["metrics"]["mse"]["mean"] - 0.5) < 1e-12


def test_eval_says_when_it_splits_on_words_by_default(tmp_path, capsys):
    good = write(tmp_path / "g.txt", sentences(5, 7))
    assert cli(["eval", "--samples", str(good), "--self-bleu", "2"]) == 0
    assert "eval: --tokenizer word (the default)" in capsys.readouterr().err
    assert cli(["eval", "--samples", str(good), "--self-bleu", "2", "--tokenizer", "word"]) == 0
    assert "(the default)" not in capsys.readouterr().err


def test_sample_takes_threads_as_train_does(tmp_path, capsys, monkeypatch):
    import seqgan.experiments.common as common

    seen = []
    monkeypatch.setattr(common.torch, "set_num_threads", seen.append)
    assert cli(["sample", "--checkpoint", str(tmp_path / "missing.pt"), "--threads", "1"]) == 2
    assert seen == [1] and "does not exist" in one_line_error(capsys)
    assert cli(["sample", "--checkpoint", str(tmp_path / "missing.pt"), "--threads", "-1"]) == 2
    assert "--threads must be 0 (one per core) or more, got -1" in one_line_error(capsys)
