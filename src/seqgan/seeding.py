"""Seeds and independent random streams, the same in every process and on every machine."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch

from seqgan.errors import SeqGANError

SEED_LIMIT = 2**53
"""Seeds lie in [-2**53, 2**53): each stream's seed, ``seed * 1000 + stream``, then fits torch's 64 bits."""


def check_seed(seed: int) -> int:
    """Refuse, before any work, a seed whose streams overflow torch's 64-bit seeds (a traceback at the first draw)."""
    if not -SEED_LIMIT <= seed < SEED_LIMIT:
        raise SeqGANError(f"seed {seed} is out of range: give --seed an integer from {-SEED_LIMIT} to {SEED_LIMIT - 1} "
                          "(-2**53 to 2**53 - 1)")
    return seed


def hash_seed(*key: Any) -> int:
    """A seed from a readable key, the same in every process (unlike Python's salted ``hash``)."""
    digest = hashlib.blake2b("/".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # < 2**63: a valid torch seed


def rng(device: torch.device | str, *key: Any) -> torch.Generator:
    """A torch.Generator seeded from a readable key (e.g. ('final', seed, 'mle')), independent of every
    other stream."""
    g = torch.Generator(device=device)
    g.manual_seed(hash_seed(*key))
    return g


def seeded_generator(seed: int, stream: int, device: torch.device | str) -> torch.Generator:
    """An independent RNG stream: data (1), evaluation (2), ... so that, e.g., how often a run evaluates
    does not change what it trains on. For a stream each process draws differently from (evaluation),
    pass ``seqgan.distributed.rank_seed(seed)``."""
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1000 + stream)
    return g


def seed_globals(seed: int) -> None:
    """Seed the global RNGs of torch, NumPy and Python."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
