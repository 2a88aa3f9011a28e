"""Data parallelism with torch.distributed: two CPU processes (gloo) on the tiny preset.

* An MLE epoch, D epochs, a policy-gradient update and V's fit give the losses and weights of one process
  with the same global batch and the same draws (the same function runs in both settings).
* The collectives, evaluation split and error sharing of ``seqgan.distributed`` behave as documented.
* ``oracle``, ``train``, ``table1`` (also ``--seeds``) and ``strategy`` run under two processes, rank 0
  alone writes, and a run resumed from a checkpoint ends exactly as the uninterrupted one; the real
  ``torchrun`` launcher works.

Both processes are started once per module (torch.multiprocessing.spawn, about 10 s in all).
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from seqgan import distributed as dist
from seqgan.config import resolve
from seqgan.errors import SeqGANError
from seqgan.experiments.oracle import build_oracle
from seqgan.experiments.run import build_discriminator, build_generator
from seqgan.metrics.nll import nll_oracle
from seqgan.rollout import mc_rewards
from seqgan.train.algorithm import Models
from seqgan.train.discriminator import d_accuracy, d_epochs
from seqgan.train.mle import mle_epoch
from seqgan.train.policy_gradient import pg_step
from seqgan.train.rankgan import RankGANConfig, ranker_step
from seqgan.train.value import fit_value, value_models
from run_helpers import assert_same_checkpoint

WORLD = 2
TINY = ["--preset", "tiny", "--threads", "1", "--no-progress"]
SRC = Path(__file__).resolve().parents[1] / "src"


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# ------------------------------------------------------------------ run by one process or by each of two


def updates() -> dict:
    """An MLE epoch, two D epochs and a policy-gradient update, every random draw fixed by a seed that
    is the same in every process. In a distributed run each process computes its rows: the batches of
    the epochs are split by the training functions, the g-step's batch and its roll-outs here."""
    cfg = resolve("tiny", overrides=["model.d_dropout_keep=1.0"])  # dropout masks are each process's own draws
    torch.manual_seed(0)
    oracle = build_oracle(cfg)
    real = oracle.sample(65, generator=gen(1))  # batches of 32, 32, 1: rank 1 has no row of the last one
    m = Models.create(build_generator(cfg), build_discriminator(cfg), cfg.train)
    out = {"mle_loss": mle_epoch(m.gen_replica, m.opts["mle"], real, 32, 5.0, generator=gen(2)),
           "gen_mle": snapshot(m.gen)}
    fake = m.gen.sample(65, generator=gen(3))
    out["d_loss"] = d_epochs(m.disc_replica, m.opts["d"], real, fake, 2, 32, generator=gen(4))
    out["disc"] = snapshot(m.disc)

    seqs = m.gen.sample(32, generator=gen(5))                       # the g-step's global batch Y (B, T)
    n, (b, t) = 4, seqs.shape
    uniforms = torch.rand(t - 1, n, b, t, dtype=torch.float64, generator=gen(6))  # every roll-out's draws
    mine = dist.shard(seqs)                                         # this process's rows and their roll-outs
    rewards = mc_rewards(m.gen, mine, m.disc.frozen_scorer(), n, uniforms=dist.shard(uniforms, dim=2))
    out["rewards"] = dist.gather_rows(rewards)
    out["pg_loss"] = pg_step(m.gen_replica, m.opts["pg"], mine, rewards, 5.0)
    out["gen_pg"] = snapshot(m.gen)
    out["acc"] = d_accuracy(m.disc, dist.shard(real), dist.shard(fake))

    # V's fit on a batch of 5 (shares 3 and 2) whose rows count different numbers of prefixes (<eos>)
    value = value_models(cfg, "value")["value"][0]
    v_opt = torch.optim.Adam(value.parameters(), lr=cfg.value.lr)
    v_seqs = oracle.sample(5, generator=gen(8))
    t = v_seqs.shape[1]
    v_mask = torch.arange(t + 1) <= torch.tensor([t, 1, 2, t, t]).unsqueeze(1)
    v_targets = torch.rand(5, t + 1, generator=gen(9))
    out["value_loss"] = fit_value(dist.Replica(value), v_opt, dist.shard(v_seqs), dist.shard(v_targets),
                                  dist.shard(v_mask), 2, 5.0)
    out["value"] = snapshot(value)
    # RankGAN's ranker step: D without its output layer, whose parameters get no gradient (DDP must be told)
    torch.manual_seed(10)
    ranker = build_discriminator(cfg)
    r_opt = torch.optim.Adam(ranker.parameters(), lr=cfg.train.d_lr)
    before = snapshot(ranker)
    ranker_step(m.gen_replica, dist.Replica(ranker, partial=True), r_opt, real, 2, 32, RankGANConfig(references=4))
    out["ranker"], out["ranker_before"] = snapshot(ranker), before
    out["ranker_output_grad"] = [p.grad for p in ranker.output.parameters()]
    out["nll"] = nll_oracle(m.gen, oracle, 9, generator=gen(7 + dist.world().rank))
    out["nll_mine"] = m.gen.sample(dist.share(9), generator=gen(7 + dist.world().rank))
    return out


def collectives() -> dict:
    rank = dist.world().rank
    out = {"sizes": dist.sizes(5), "shard": dist.shard(torch.arange(5)),
           "gathered": dist.gather_rows(torch.arange(dist.share(5)) + 100 * rank),
           "any": dist.any_true(rank == 1), "mean": dist.mean(torch.full((rank + 1,), float(rank))),
           "sum": dist.all_reduce_sum(torch.tensor([rank + 1.0])), "seed": dist.rank_seed(0),
           "batch": dist.shard_batch(3), "short_batch": dist.shard_batch(1), "on_main": dist.on_main(lambda: rank)}

    def fails() -> None:
        raise SeqGANError("rank 0 could not open the run directory")

    try:
        dist.on_main(fails)
    except SeqGANError as exc:
        out["error"] = (type(exc).__name__, str(exc))
    dist.check_same(torch.arange(6), "the same rows")  # passes
    try:  # a process that drew other rows (another CPU type, another copy of the file): every process stops
        dist.check_same(torch.arange(6) + (rank == 1), "the training set S")
    except SeqGANError as exc:
        out["same"] = str(exc)
    return out


def commands(tmp: Path, corpus: Path) -> dict:
    """The CLI under two processes: oracle, its resume from the checkpoint after MLE, train, table1, strategy, and
    a refused --out (an error on rank 0 that must end every process, not leave one waiting)."""
    from seqgan.cli import main

    rc = {"oracle": main(["oracle", *TINY, "--out", str(tmp / "a")])}
    if dist.is_main():  # a copy of the finished run, rewound to the end of MLE pre-training
        shutil.copytree(tmp / "a", tmp / "b")
        shutil.copy(tmp / "b" / "checkpoints" / "mle.pt", tmp / "b" / "checkpoints" / "latest.pt")
        for later in ("summary.json", "samples/seqgan.txt"):  # written after mle.pt: the resumed run must remake them
            (tmp / "b" / later).unlink()
    torch.distributed.barrier()
    rc["resume"] = main(["oracle", *TINY, "--out", str(tmp / "b"), "--resume"])
    rc["train"] = main(["train", "--data", str(corpus), "--tokenizer", "bpe", "--vocab-size", "40", "--max-len", "10",
                        *TINY, "--set", "train.batch_size=16", "--out", str(tmp / "text")])
    rc["train_resume"] = main(["train", "--resume", "--out", str(tmp / "text")])  # its bpe model, read by rank 0
    rc["table1"] = main(["table1", *TINY, "--methods", "mle,ss,pg_bleu,seqgan", "--set", "train.adv_rounds=2",
                         "--set", "train.g_pretrain_epochs=2", "--out", str(tmp / "table1")])
    rc["strategy"] = main(["strategy", *TINY, "--settings", "1,1,1;2,0,1,2", "--set", "train.adv_rounds=2",
                           "--set", "train.g_pretrain_epochs=2", "--pretrained", str(tmp / "table1" / "pretrain"),
                           "--out", str(tmp / "strategy")])
    rc["seeds"] = main(["table1", *TINY, "--seeds", "0,1", "--methods", "mle,seqgan", "--set", "train.adv_rounds=1",
                        "--set", "train.g_pretrain_epochs=2", "--out", str(tmp / "seeds")])
    for name in ("rankgan", "maligan"):  # RankGAN's ranker leaves D's output layer without a gradient
        rc[name] = main(["oracle", *TINY, "--algorithm", name, "--set", "train.adv_rounds=2", "--out", str(tmp / name)])
    rc["refused"] = main(["oracle", *TINY, "--out", str(tmp / "a")])
    return rc


def _worker(rank: int, port: int, tmp: Path, corpus: Path) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    # One process group for the whole session: seqgan's init() joins it, and its shutdown() leaves it be.
    store = torch.distributed.TCPStore("127.0.0.1", port, is_master=False, timeout=timedelta(seconds=120))
    torch.distributed.init_process_group("gloo", store=store, rank=rank, world_size=WORLD)
    try:
        dist.init("cpu")
        result = {"updates": updates(), "collectives": collectives()}
        dist.shutdown()
        result["commands"] = commands(tmp, corpus)
        torch.save(result, tmp / f"rank{rank}.pt")
    finally:
        # As seqgan.distributed.shutdown does for a group it made: collect the commands' unreachable DDP
        # replicas while the group lives, or gloo can abort the process at exit (SIGABRT, "terminate
        # called without an active exception"; seen once in CI after strategy and --seeds were added here).
        gc.collect()
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    corpus = tmp / "corpus.txt"
    words = "the a cat dog sat on mat red blue big small runs".split()
    corpus.write_text("\n".join(" ".join(words[(i * k) % len(words)] for k in range(2 + i % 5))
                                for i in range(120)) + "\n", encoding="utf-8")
    # The processes meet at a store this process opens on a port the system picks and keeps: a port
    # found free, closed, then bound by a worker could be taken in between on a busy machine.
    store = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    ctx = mp.spawn(_worker, args=(store.port, tmp, corpus), nprocs=WORLD, join=False)
    deadline = time.monotonic() + 240
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the two processes did not finish in 240 s (a collective waiting for a process?)")
    return tmp, [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


# ------------------------------------------------------------------------------------------ tests


def test_updates_equal_one_process_with_the_same_batch(session):
    _, ranks = session
    ref = updates()  # this (pytest) process: not distributed
    for got in (r["updates"] for r in ranks):
        for key in ("mle_loss", "d_loss", "pg_loss", "value_loss"):
            assert got[key] == pytest.approx(ref[key], rel=1e-5), key
        for key in ("gen_mle", "disc", "gen_pg", "value"):
            for name, p in ref[key].items():
                torch.testing.assert_close(got[key][name], p, atol=2e-5, rtol=1e-4, msg=f"{key} {name}")
        torch.testing.assert_close(got["rewards"], ref["rewards"], atol=1e-6, rtol=1e-6)
        assert got["acc"] == pytest.approx(ref["acc"])
    a, b = (r["updates"] for r in ranks)
    for key in ("gen_mle", "disc", "gen_pg", "value", "ranker"):  # DDP keeps the replicas identical, bit for bit
        assert all(torch.equal(a[key][n], b[key][n]) for n in a[key]), key
    for got in (a, b):  # the ranker's step moved its own parameters and left D's output layer as one process does
        assert got["ranker_output_grad"] == [None, None]
        moved = {n for n, p in got["ranker"].items() if not torch.equal(p, got["ranker_before"][n])}
        assert moved and not any(n.startswith("output.") for n in moved)


def test_evaluation_is_split_and_gathered_in_rank_order(session):
    _, ranks = session
    means = [r["updates"]["nll"][0] for r in ranks]
    samples = [r["updates"]["nll"][1] for r in ranks]
    per_seq = [r["updates"]["nll"][2] for r in ranks]
    assert means[0] == means[1] == pytest.approx(per_seq[0].mean().item())
    assert torch.equal(samples[0], samples[1]) and samples[0].shape[0] == 9 and per_seq[0].shape == (9,)
    assert torch.equal(samples[0], torch.cat([r["updates"]["nll_mine"] for r in ranks]))  # 5 + 4, own draws
    assert not torch.equal(ranks[0]["updates"]["nll_mine"][:4], ranks[1]["updates"]["nll_mine"])


def test_collectives(session):
    _, ranks = session
    c0, c1 = (r["collectives"] for r in ranks)
    assert c0["sizes"] == c1["sizes"] == [3, 2]
    assert c0["shard"].tolist() == [0, 1, 2] and c1["shard"].tolist() == [3, 4]
    assert c0["gathered"].tolist() == c1["gathered"].tolist() == [0, 1, 2, 100, 101]
    assert c0["any"] and c1["any"]
    assert c0["mean"] == c1["mean"] == pytest.approx(2 / 3)
    assert c0["sum"].item() == c1["sum"].item() == 3.0
    assert c0["seed"] == 0 and c1["seed"] != 0  # rank 0 keeps the run's seed; the others draw differently
    assert (c0["batch"], c1["batch"]) == ((slice(0, 2), 2.0), (slice(2, 3), 2.0))
    assert (c0["short_batch"], c1["short_batch"]) == ((slice(0, 1), 2.0), (slice(0, 1), 0.0))
    assert c0["on_main"] == c1["on_main"] == 0
    message = "rank 0 could not open the run directory"
    assert c0["error"] == ("SeqGANError", message) and c1["error"] == ("MainProcessError", message)
    assert c0["same"] == c1["same"] and c0["same"].startswith("the training set S differs between processes: process 1")


def test_commands_run_and_only_rank_0_writes(session):
    tmp, ranks = session
    for r in ranks:
        assert r["commands"] == {"oracle": 0, "resume": 0, "train": 0, "train_resume": 0, "rankgan": 0, "maligan": 0,
                                "table1": 0, "strategy": 0, "seeds": 0,
                                "refused": 2}
    a = tmp / "a"
    summary = json.loads((a / "summary.json").read_text())
    assert summary["processes"] == WORLD and set(summary["nll_oracle"]) == {"random", "mle", "seqgan"}
    cfg = resolve("tiny")
    assert len((a / "samples" / "seqgan.txt").read_text().splitlines()) == cfg.eval.final_samples
    single_run_records = 1 + cfg.train.g_pretrain_epochs + cfg.train.d_pretrain_steps + cfg.train.adv_rounds
    assert len((a / "metrics.jsonl").read_text().splitlines()) == single_run_records
    assert len(list((a / "tensorboard").glob("events.*"))) == 1  # one writer: rank 0's (and D pre-training's run)
    assert [p.name for p in (a / "tensorboard").iterdir() if p.is_dir()] == ["d_pretrain"]
    assert len(list((a / "tensorboard" / "d_pretrain").iterdir())) == 1
    ckpt = torch.load(a / "checkpoints" / "latest.pt", weights_only=True)
    assert ckpt["processes"] == WORLD and len(ckpt["rng_by_rank"]) == WORLD
    assert not torch.equal(ckpt["rng_by_rank"][0]["torch"], ckpt["rng_by_rank"][1]["torch"])
    assert (tmp / "text" / "summary.json").exists() and (tmp / "text" / "samples" / "seqgan.txt").exists()
    rows = json.loads((tmp / "table1" / "table1.json").read_text())["rows"]
    assert [r["key"] for r in rows] == ["mle", "ss", "pg_bleu", "seqgan"]
    rows = json.loads((tmp / "strategy" / "strategy.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["g=1, d=1, k=1", "g=2, d=0, k=1, N=2"]
    for name in ("g1_d1_k1", "g2_d0_k1_n2"):  # each setting's run: 2 rounds, logged once (rank 0)
        records = [json.loads(l) for l in (tmp / "strategy" / name / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in records if r["phase"] == "adversarial"] == [1, 2], name
    rows = json.loads((tmp / "seeds" / "table1_seeds.json").read_text())["rows"]
    assert [r["key"] for r in rows] == ["mle", "seqgan"] and all(len(r["nll_oracle"]) == 2 for r in rows)
    for s in (0, 1):
        saved = torch.load(tmp / "seeds" / f"seed{s}" / "pretrain" / "checkpoints" / "latest.pt", weights_only=True)
        assert saved["processes"] == WORLD and saved["config"]["seed"] == s


def test_resume_under_two_processes_is_exact(session):
    tmp, _ = session
    a, b = tmp / "a", tmp / "b"
    strip = lambda path: [{k: v for k, v in json.loads(line).items() if not k.startswith("time/")}  # noqa: E731
                          for line in path.read_text().splitlines()]
    assert json.loads((b / "summary.json").read_text())["nll_oracle"] == \
        json.loads((a / "summary.json").read_text())["nll_oracle"]
    assert (b / "samples" / "seqgan.txt").read_text() == (a / "samples" / "seqgan.txt").read_text()
    assert strip(b / "metrics.jsonl") == strip(a / "metrics.jsonl")
    assert_same_checkpoint(b / "checkpoints" / "latest.pt", a / "checkpoints" / "latest.pt")


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=WORLD -m seqgan ARGS``, finished (skips without torchrun)."""
    launcher = Path(sys.executable).with_name("torchrun")
    if not launcher.exists():
        pytest.skip("torchrun is not installed beside this Python")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    cmd = [str(launcher), "--standalone", f"--nproc_per_node={WORLD}", "-m", "seqgan", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_torchrun(tmp_path):
    """The real launcher: torchrun sets RANK/WORLD_SIZE/LOCAL_RANK, seqgan joins with gloo, prints once."""
    proc = torchrun("oracle", *TINY, "--set", "train.adv_rounds=1", "--out", str(tmp_path / "run"))
    assert proc.stdout.count("| SeqGAN |") == 1 and proc.stderr.count("NLL-oracle after SeqGAN") == 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["processes"] == WORLD


def test_torchrun_seeds(tmp_path):
    """``table1 --seeds --resume`` as torchrun starts it: the processes join before rank 0 looks for the seeds'
    runs (in the session above the group already exists, so only a real launch shows this); seeds not begun
    yet start fresh."""
    proc = torchrun("table1", *TINY, "--seeds", "0,1", "--resume", "--methods", "mle,seqgan",
                    "--set", "train.adv_rounds=1", "--set", "train.g_pretrain_epochs=2", "--out", str(tmp_path / "run"))
    assert proc.stdout.count("across seeds 0, 1") == 1
    assert len(json.loads((tmp_path / "run" / "table1_seeds.json").read_text())["rows"]) == 2
