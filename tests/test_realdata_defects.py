"""Issue 20's defects in ``train``, ``sample`` and ``eval``: each a clear one-line error (or a warning)
where there was a traceback, a hang or a silent surprise."""

from __future__ import annotations

import json

import pytest

from seqgan.data.text import UNUSED_LENGTH_LIMIT, check_length, kept_tokens
from seqgan.errors import SeqGANError
from test_realdata_train import cli, one_line_error, train_args, write_corpus


def long_line_corpus(path, words: int = 200_000) -> None:
    """50 lines of at most 11 words and one line of ``words`` distinct words."""
    write_corpus(path, "word", 50, seed=3, max_tokens=11)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(" ".join(f"w{i}" for i in range(words)) + "\n")


# ------------------------------------------------------------------ vocabulary from what is kept


def test_vocabulary_counts_only_the_tokens_rows_keep(tmp_path):
    long_line_corpus(tmp_path / "train.txt")
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=12)) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    vocab = json.loads((tmp_path / "run" / "data" / "vocab.json").read_text())["tokens"]
    # 3 special tokens, at most the 15 corpus words, and the 11 words the long line keeps
    assert summary["data"]["vocab_size"] == len(vocab) <= 3 + 15 + 11
    assert "w10" in vocab and "w11" not in vocab and summary["data"]["train"]["truncated"] == 1


def test_kept_tokens_truncates_or_skips():
    lines = [["a", "b", "c"], ["d"]]
    assert kept_tokens(lines, 2) == [["a", "b"], ["d"]]
    assert kept_tokens(lines, 2, "skip") == [["d"]]
    with pytest.raises(SeqGANError, match="all 2 lines are longer than 0 tokens"):
        kept_tokens(lines, 0, "skip")


# ------------------------------------------------------------------ runaway --max-len


def test_max_len_far_past_every_line_is_refused_at_once(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 50, seed=3, max_tokens=12)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=100_000_000)) == 2
    msg = one_line_error(capsys)
    assert "--max-len 100000000 is longer than any line can use" in msg and "--max-len 13" in msg
    assert "model.seq_len" not in msg and not (tmp_path / "run").exists()


def test_check_length_allows_a_margin_and_refuses_what_memory_cannot_hold(monkeypatch):
    lines = [["x"] * 5] * 3
    check_length(lines, UNUSED_LENGTH_LIMIT)  # a margin past the longest line is fine
    check_length([["x"] * 2000], 2001)  # a long line may ask for a long length
    with pytest.raises(SeqGANError, match="longer than any line can use"):
        check_length(lines, UNUSED_LENGTH_LIMIT + 1)
    monkeypatch.setattr("seqgan.data.text._memory_bytes", lambda: 2**20)
    with pytest.raises(SeqGANError, match=r"GiB of memory; give a smaller max_len"):
        check_length([["x"] * 2000] * 100, 2001)


def test_max_len_errors_speak_of_the_flag(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 50, seed=3)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=5)) == 2  # tiny's D: width 10
    msg = one_line_error(capsys)
    assert "--max-len 5" in msg and "model.seq_len" not in msg
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=1)) == 2
    msg = one_line_error(capsys)
    assert "--max-len must be at least 2" in msg and "model.seq_len" not in msg


# ------------------------------------------------------------------ a small run to sample from


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("defects")
    write_corpus(root / "train.txt", "word", 120, seed=7)
    assert cli(train_args(root / "train.txt", root / "run", max_len=12)) == 0
    return root / "run"


def temporaries(directory) -> list:
    return [p for p in directory.rglob("*.tmp")]


def full_disk_after(monkeypatch, budget: int, only=lambda data: True) -> None:
    """Patch the one write of seqgan.checkpoint: the first ``budget`` matching writes succeed, later ones
    write half their bytes and fail with ENOSPC, as a full disk does."""
    import errno

    from seqgan import checkpoint

    real, calls = checkpoint._write, []

    def write(fh, data):
        if only(bytes(data[:4])):
            calls.append(1)
            if len(calls) > budget:
                fh.write(bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, data)

    monkeypatch.setattr(checkpoint, "_write", write)


# ------------------------------------------------------------------ full disk


def test_sample_on_a_full_disk_one_line_no_temporary_and_the_old_file_kept(run_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "samples.txt"
    out.write_text("previous samples\n", encoding="utf-8")
    full_disk_after(monkeypatch, 0)
    assert cli(["sample", "--checkpoint", str(run_dir / "checkpoints" / "mle.pt"), "-n", "20", "--out", str(out),
                "--overwrite"]) == 2
    msg = one_line_error(capsys)
    assert f"{tmp_path} is out of space" in msg and "samples.txt" in msg
    assert out.read_text(encoding="utf-8") == "previous samples\n" and temporaries(tmp_path) == []


def test_train_on_a_full_disk_one_line_no_temporary_and_the_last_checkpoint_kept(tmp_path, capsys, monkeypatch):
    from seqgan.checkpoint import load_checkpoint

    write_corpus(tmp_path / "train.txt", "word", 80, seed=8)
    full_disk_after(monkeypatch, 1, only=lambda head: head == b"PK\x03\x04")  # checkpoints are zip files
    run = tmp_path / "run"
    assert cli(train_args(tmp_path / "train.txt", run, max_len=12)) == 2
    msg = one_line_error(capsys)
    assert f"{run / 'checkpoints'} is out of space" in msg and "Traceback" not in msg
    assert temporaries(run) == []
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["position"]["phase"]  # the first one, intact


def test_out_of_space_anywhere_in_a_run_names_the_directory():
    import errno

    from seqgan.checkpoint import out_of_space

    with pytest.raises(SeqGANError, match=r"^/x/run is out of space \(writing metrics.jsonl\)"):
        with out_of_space("/x/run"):
            raise OSError(errno.ENOSPC, "No space left on device", "/x/run/metrics.jsonl")
    with pytest.raises(PermissionError):  # other errors pass through
        with out_of_space("/x/run"):
            raise PermissionError(errno.EACCES, "denied")


# ------------------------------------------------------------------ unwritable paths


def test_sample_out_that_is_a_directory_or_unwritable(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = str(run_dir / "checkpoints" / "mle.pt")
    assert cli(["sample", "--checkpoint", ckpt, "-n", "2", "--out", "."]) == 2
    assert ". is a directory; give a file name" in one_line_error(capsys)
    (tmp_path / "afile").write_text("x")
    assert cli(["sample", "--checkpoint", ckpt, "-n", "2", "--out", "afile/s.txt"]) == 2
    assert "cannot write afile/s.txt" in one_line_error(capsys)
    assert temporaries(tmp_path) == []


def test_train_out_that_cannot_be_created(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 30, seed=8)
    (tmp_path / "afile").write_text("x")
    for out in ("/proc/sys/x", str(tmp_path / "afile" / "run")):
        assert cli(train_args(tmp_path / "train.txt", out)) == 2
        assert f"--out {out}: cannot create or write the run directory" in one_line_error(capsys)


def test_train_into_a_directory_of_other_files_needs_overwrite_and_keeps_them(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 30, seed=8)
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    (mine / "data" / "corpus.txt").write_text("keep me too")
    assert cli(train_args(tmp_path / "train.txt", mine)) == 2
    assert "is a directory with other files (data, notes.txt) and no run" in one_line_error(capsys)
    assert sorted(p.name for p in mine.iterdir()) == ["data", "notes.txt"]
    assert cli(train_args(tmp_path / "train.txt", mine, extra=["--overwrite"])) == 0
    assert (mine / "notes.txt").read_text() == "keep me" and (mine / "data" / "corpus.txt").read_text() == "keep me too"
    assert (mine / "summary.json").exists()
    # now it holds a run: a second --overwrite replaces the run's files and still none of theirs
    assert cli(train_args(tmp_path / "train.txt", mine, extra=["--overwrite"])) == 0
    assert (mine / "notes.txt").read_text() == "keep me" and (mine / "data" / "corpus.txt").read_text() == "keep me too"
    ours = tmp_path / "ours"  # a folder whose config.json is the user's, not a run's
    ours.mkdir()
    (ours / "config.json").write_text('{"lr": 3}')
    assert cli(train_args(tmp_path / "train.txt", ours, extra=["--overwrite"])) == 2
    assert "its config.json is not a seqgan run's" in one_line_error(capsys)
    assert (ours / "config.json").read_text() == '{"lr": 3}'
    theirs = tmp_path / "theirs"  # run-like names but no config.json: --overwrite deleted their checkpoints
    (theirs / "checkpoints").mkdir(parents=True)
    (theirs / "samples").mkdir()
    (theirs / "checkpoints" / "best.pt").write_bytes(b"their weights")
    (theirs / "samples" / "gen.txt").write_text("their samples")
    assert cli(train_args(tmp_path / "train.txt", theirs, extra=["--overwrite"])) == 2
    assert "holds checkpoints but no seqgan config.json" in one_line_error(capsys)
    assert (theirs / "checkpoints" / "best.pt").read_bytes() == b"their weights"
    assert (theirs / "samples" / "gen.txt").read_text() == "their samples"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(train_args(tmp_path / "train.txt", empty)) == 0  # an empty directory is fine


def test_overwrite_refuses_data_that_is_a_file_of_the_run_it_replaces(tmp_path, capsys):
    """--data run/data/train.txt (an oracle run's S) with --out run --overwrite deleted the data the new
    run had just read: it trained, but its --resume then found no corpus."""
    run = tmp_path / "run"
    from seqgan.cli import main

    assert main(["oracle", "--preset", "tiny", "--out", str(run), "--no-progress"]) == 0
    data = run / "data" / "train.txt"
    before = data.read_bytes()
    assert cli(train_args(data, run, kind="ids", max_len=21, extra=["--overwrite"])) == 2
    assert "--data " in (msg := one_line_error(capsys)) and "which --overwrite removes" in msg
    assert data.read_bytes() == before and (run / "checkpoints" / "latest.pt").exists()
    own = tmp_path / "own.txt"
    own.write_bytes(before)
    assert cli(train_args(own, run, kind="ids", max_len=21, valid=data, extra=["--overwrite"])) == 2
    assert "--valid " in one_line_error(capsys) and data.read_bytes() == before


# ------------------------------------------------------------------ checkpoints that cannot be used


def test_nan_weights_are_refused_when_sampling(run_dir, tmp_path, capsys):
    import torch

    from seqgan.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(run_dir / "checkpoints" / "mle.pt")
    ckpt["generator"]["state"]["output.weight"][3, 1] = float("nan")
    ckpt["generator"]["state"]["lstm.weight_hh_l0" if "lstm.weight_hh_l0" in ckpt["generator"]["state"]
                               else "output.bias"][0] = float("inf")
    save_checkpoint(tmp_path / "nan.pt", {k: v for k, v in ckpt.items() if not k.startswith(("format", "seqgan_v"))})
    assert cli(["sample", "--checkpoint", str(tmp_path / "nan.pt"), "-n", "5"]) == 2
    msg = one_line_error(capsys)
    assert "the generator's weights hold NaN or infinity (" in msg and "output.weight" in msg
    assert torch.isnan(load_checkpoint(tmp_path / "nan.pt")["generator"]["state"]["output.weight"]).any()


def test_unsafe_checkpoint_is_refused_without_advice_to_load_it_unsafely(tmp_path, capsys):
    import torch

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran')",))

    torch.save({"format": "seqgan-checkpoint", "x": Evil()}, tmp_path / "evil.pt")
    assert cli(["sample", "--checkpoint", str(tmp_path / "evil.pt")]) == 2
    msg = one_line_error(capsys)
    assert "holds objects other than tensors" in msg and "must not be loaded unsafely" in msg
    assert "weights_only" not in msg and msg.endswith("use a checkpoint that seqgan wrote")


def test_a_text_file_given_as_checkpoint_is_named_as_such(tmp_path, capsys):
    """Pickle reads a text file's letters as opcodes: 'dog cat' was refused as holding unsafe objects."""
    (tmp_path / "train.txt").write_text("dog fast sat tree\nred mat\n")
    assert cli(["sample", "--checkpoint", str(tmp_path / "train.txt")]) == 2
    msg = one_line_error(capsys)
    assert "is not a seqgan checkpoint: torch.save did not write it" in msg and "unsafe" not in msg


def test_a_checkpoint_that_cannot_be_opened_is_one_error(tmp_path):
    """The not-a-torch-file check reads the file's first bytes: a file it cannot open (permissions, removed
    meanwhile) still gives one line."""
    from seqgan.checkpoint import _unreadable

    err = _unreadable(tmp_path / "gone.pt", PermissionError(13, "Permission denied"))
    assert isinstance(err, SeqGANError) and "cannot be read safely (PermissionError" in str(err)


def test_checkpoint_that_is_a_directory(run_dir, capsys):
    assert cli(["sample", "--checkpoint", str(run_dir)]) == 2
    msg = one_line_error(capsys)
    assert "is a directory, not a checkpoint file" in msg and str(run_dir / "checkpoints" / "latest.pt") in msg


def test_corrupt_latest_points_to_the_intact_phase_checkpoints(run_dir, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    latest = run / "checkpoints" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:500])
    assert cli(train_args(run_dir.parent / "train.txt", run, max_len=12,
                          extra=["--resume"])) == 2
    msg = one_line_error(capsys)
    assert "cannot be read safely" in msg and "the phase checkpoints beside it load (adversarial.pt" in msg
    assert f"copy {run / 'checkpoints' / 'adversarial.pt'} over {latest}" in msg


def test_corrupt_latest_names_another_algorithms_phase_checkpoints_newest_first(tmp_path):
    # checkpoints are named after each algorithm's phases: a MaliGAN run's finished phase is maligan.pt; "newest"
    # is the position each holds, not the file's time (a user's later copy of mle.pt is no later phase)
    import os
    import shutil

    import torch

    from seqgan.checkpoint import load_checkpoint

    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    for name, phase in (("maligan.pt", "done"), ("d_pretrain.pt", "maligan"), ("mle.pt", "d_pretrain")):
        torch.save({"format": "seqgan-checkpoint", "algorithm": "maligan", "position": {"phase": phase, "step": 0}},
                   ckpts / name)
    shutil.copy(ckpts / "mle.pt", ckpts / "mle_backup.pt")
    os.utime(ckpts / "mle_backup.pt", ns=(10**19,) * 2)
    torch.save({"format": "seqgan-checkpoint", "w": torch.zeros(1000)}, ckpts / "latest.pt")
    (ckpts / "latest.pt").write_bytes((ckpts / "latest.pt").read_bytes()[:500])  # truncated
    with pytest.raises(SeqGANError) as err:
        load_checkpoint(ckpts / "latest.pt")
    msg = str(err.value)
    assert "beside it load (maligan.pt, d_pretrain.pt, mle.pt, mle_backup.pt)" in msg
    assert f"copy {ckpts / 'maligan.pt'} over {ckpts / 'latest.pt'}" in msg


# ------------------------------------------------------------------ eval


def test_eval_warns_of_bleu_orders_longer_than_every_sequence(tmp_path, capsys):
    (tmp_path / "s.txt").write_text("a b\nb c a\n", encoding="utf-8")
    (tmp_path / "r.txt").write_text("a b c d e\n", encoding="utf-8")
    assert cli(["eval", "--samples", str(tmp_path / "s.txt"), "--references", str(tmp_path / "r.txt"),
                "--bleu", "2,5"]) == 0
    err = capsys.readouterr().err
    assert "BLEU-5" in err and "no sequence has 5 tokens (the longest has 3)" in err and "BLEU-2 " not in err


def test_unwritable_cache_and_per_sequence_file(tmp_path, capsys, monkeypatch):
    import errno

    import seqgan.data.corpora as corpora

    src = tmp_path / "src"
    src.mkdir()
    for name in ("train.txt", "test.txt"):
        write_corpus(src / name, "word", 20, seed=4)
    (tmp_path / "afile").write_text("x")
    assert cli(["data", "coco", "--source", str(src), "--cache", str(tmp_path / "afile" / "c")]) == 2
    assert "cannot write the coco corpus cache at" in one_line_error(capsys)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache" / "x" / "train.txt"))

    monkeypatch.setattr(corpora, "write_entry", full)
    assert cli(["data", "coco", "--source", str(src), "--cache", str(tmp_path / "cache")]) == 2
    assert f"{tmp_path / 'cache' / 'x'} is out of space while caching the coco corpus" in one_line_error(capsys)
    monkeypatch.undo()

    (tmp_path / "s.txt").write_text("the cat\nthe dog sat\n", encoding="utf-8")
    assert cli(["eval", "--samples", str(tmp_path / "s.txt"), "--references", str(src / "train.txt"), "--bleu", "2",
                "--per-sequence", str(tmp_path / "afile" / "x.csv")]) == 2
    assert f"cannot write {tmp_path / 'afile' / 'x.csv'}" in one_line_error(capsys)


@pytest.mark.parametrize("setting, flag", [("model.seq_len=30", "--max-len"), ("data.min_count=2", "--min-count"),
                                           ("data.tokenizer=char", "--tokenizer"),
                                           ("train.algorithm=mle", "--algorithm"),
                                           ("data.train_path=x.txt", "--data")])
def test_a_set_of_what_a_flag_gives_is_refused_not_silently_beaten(tmp_path, capsys, setting, flag):
    write_corpus(tmp_path / "train.txt", "word", 50, seed=2)
    extra = ["--min-count", "1", "--algorithm", "seqgan", "--set", setting]
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", extra=extra)) == 2
    assert f"--set {setting}: {setting.split('=')[0]} is given by {flag}" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_train_of_the_mle_baseline_tells_its_two_rows_apart(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 60, seed=4)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", extra=["--algorithm", "mle"])) == 0
    out = capsys.readouterr().out
    assert "| MLE | " in out and "| MLE (mle_continued) | " in out


def test_resume_of_a_folder_without_a_run_says_so_first(tmp_path, capsys):
    """It asked for --data; given --data, it read the corpus before saying there is no run."""
    assert cli(["train", "--resume", "--out", str(tmp_path / "nope")]) == 2
    assert "holds no run to resume" in one_line_error(capsys)


def test_resume_of_a_run_whose_data_moved_says_how_to_give_its_new_place(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 60, seed=6)
    run = tmp_path / "run"
    assert cli(train_args(tmp_path / "train.txt", run, valid=tmp_path / "train.txt")) == 0
    assert "--valid is the --data file" in capsys.readouterr().err
    (tmp_path / "train.txt").rename(tmp_path / "moved.txt")
    assert cli(["train", "--resume", "--out", str(run)]) == 2
    assert f"the run's --data file {tmp_path / 'train.txt'} does not exist; if it moved" in one_line_error(capsys)


def test_a_length_far_past_the_longest_line_is_a_warning(capsys):
    """--max-len 1000 for 40-token lines ran a round in 430 s where 41 needs a fraction of a second."""
    lines = [["w"] * 40, ["w"] * 3]
    check_length(lines, 1000)
    assert "warning: max_len 1000 is more than twice what the longest line needs (41 with <eos>)" in capsys.readouterr().err
    check_length(lines, 80)  # a margin of up to twice is fine
    check_length([["w"] * 3], 20)  # and so are the presets' lengths for short lines
    assert capsys.readouterr().err == ""


def test_trains_length_warning_names_its_flag(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 40, seed=8, max_tokens=5)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=40)) == 0
    assert "warning: --max-len (model.seq_len) 40 is more than twice what the longest line needs (6 with <eos>)" \
        in capsys.readouterr().err


def test_resume_says_where_it_picks_up(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 60, seed=7)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run")) == 0
    capsys.readouterr()
    assert cli(["train", "--resume", "--out", str(tmp_path / "run")]) == 0
    assert "--resume: it had finished: nothing is left to train" in capsys.readouterr().err
