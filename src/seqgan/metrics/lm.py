"""LM and reverse-LM scores of generated text (Caccia et al., "Language GANs Falling Short", ICLR 2020, §4).

* **LM score**: the NLL per token of the generated sequences under a language model trained by MLE
  on the real training set: low when the samples look like real text (quality).
* **Reverse-LM score**: the NLL per token of the real held-out set under a language model trained by
  MLE on the generated sequences: low when the samples cover the real distribution (diversity); a
  generator that repeats a few sentences trains an LM that finds held-out text unlikely.

Both LMs are plain :class:`~seqgan.models.generator.Generator` LSTMs (:func:`lm_shapes`: the run's
vocabulary, length and special tokens, its ``model.g_emb_dim`` and ``model.g_hidden_dim``), whatever G the
algorithm trains, LeakGAN's and RelGAN's included, so every method is scored by the same kind of LM. They
are trained with the MLE code of pre-training (:func:`seqgan.train.mle.mle_epoch`: Adam, global-norm
clipping, the last smaller batch kept) for a fixed number of epochs, no early stopping, so both scores use
the same recipe. Training is seeded (initial weights and batch order) and deterministic on a CPU. The LM
of the real training set is trained once per (training set, shapes, settings) and cached (:func:`cached_lm`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgan.checkpoint import build_model, load_checkpoint, model_entry, save_checkpoint
from seqgan.metrics.nll import sequence_nll
from seqgan.models.generator import Generator
from seqgan.train.mle import mle_epoch


@dataclass(frozen=True)
class LMConfig:
    """How both language models are trained."""

    epochs: int = 5
    """MLE epochs over the training rows (real training set, or the samples of one sweep point)."""
    batch_size: int = 64
    """rows per MLE step (the authors' batch size)"""
    lr: float = 0.01
    """Adam learning rate (the authors' G pre-training rate)"""
    grad_clip: float = 5.0
    """global gradient-norm clip (the authors')"""
    seed: int = 0
    """seed of the initial weights and of the batch order"""


def lm_shapes(like: Any, emb_dim: int, hidden_dim: int) -> dict[str, Any]:
    """The constructor arguments of an LSTM LM for the data of generator ``like`` (its vocabulary, length,
    start and special tokens) with the given sizes. ``like`` may be any G (LeakGAN's, RelGAN's, whose
    config an LSTM cannot take): the LM is a plain LSTM either way, so every method is scored by the same
    kind of LM. For an LSTM G of those sizes it is ``like.config()``: its LM, numbers and cache key are
    those of before."""
    return dict(vocab_size=like.vocab_size, emb_dim=emb_dim, hidden_dim=hidden_dim, seq_len=like.seq_len,
                start_token=like.start_token, eos_token=like.eos_token, pad_token=like.pad_token)


def train_lm(rows: torch.Tensor, shapes: dict[str, Any], cfg: LMConfig) -> Generator:
    """An LSTM LM ``Generator(**shapes)`` (:func:`lm_shapes`), trained by MLE on rows (N, T) int64.
    Seeded by ``cfg.seed`` without touching the global RNG; returns it in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        lm = Generator(**shapes).to(rows.device)  # N(0, 0.1) weights, as G's
    opt = torch.optim.Adam(lm.parameters(), lr=cfg.lr)
    order = torch.Generator(device=rows.device)
    order.manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        mle_epoch(lm, opt, rows, cfg.batch_size, cfg.grad_clip, generator=order)
    return lm.requires_grad_(False).eval()


def lm_nll(lm: Generator, rows: torch.Tensor) -> tuple[float, float]:
    """(NLL per token over all rows, standard error) of rows (N, T) under ``lm``, nats. Every token up to
    and including <eos> counts once (as ``seqgan train``'s NLL-test); the standard error is that of the
    per-sequence NLLs weighted by their token counts (a ratio estimator)."""
    per_seq = sequence_nll(lm, rows).cpu().numpy()                       # (N,) mean per token
    counts = lm.valid_mask(rows).sum(dim=1).double().cpu().numpy()       # (N,) tokens of each row
    mean = float((per_seq * counts).sum() / counts.sum())
    n = len(per_seq)
    resid = counts * (per_seq - mean)
    stderr = float(np.sqrt((resid ** 2).sum() / max(n - 1, 1) / n) / counts.mean()) if n > 1 else float("nan")
    return mean, stderr


def _key(rows: torch.Tensor, shapes: dict[str, Any], cfg: LMConfig) -> str:
    h = hashlib.sha256(rows.cpu().numpy().astype(np.int64).tobytes())
    h.update(json.dumps({"shape": list(rows.shape), "model": shapes, "lm": asdict(cfg)},
                        sort_keys=True).encode())
    return h.hexdigest()[:20]


def cached_lm(rows: torch.Tensor, shapes: dict[str, Any], cfg: LMConfig,
              cache: Path | None) -> tuple[Generator, bool]:
    """:func:`train_lm` on ``rows``, read from ``cache`` when an LM of the same rows, shapes and settings is
    there, else trained and written there. Returns (LM, whether it came from the cache)."""
    path = None if cache is None else Path(cache) / f"lm-{_key(rows, shapes, cfg)}.pt"
    if path is not None and path.is_file():
        lm = build_model(Generator, load_checkpoint(path)["lm"], "language model")
        return lm.to(rows.device).requires_grad_(False).eval(), True
    lm = train_lm(rows, shapes, cfg)
    if path is not None:
        save_checkpoint(path, {"lm": model_entry(lm), "lm_config": asdict(cfg), "rows": list(rows.shape)})
    return lm, False
