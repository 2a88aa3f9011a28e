"""Every training algorithm by name: ``train.algorithm``, ``seqgan table1 --methods``, ``--algorithm``.

The order is Table 1's. Random (the untrained G) is no algorithm: ``seqgan table1`` evaluates the
generator as initialised.
"""

from __future__ import annotations

from seqgan.errors import SeqGANError
from seqgan.train.adversarial import SEQGAN, SEQGAN_ROLLOUT_BASELINE, SEQGAN_VALUE
from seqgan.train.algorithm import Algorithm
from seqgan.train.leakgan import LEAKGAN
from seqgan.train.maligan import MALIGAN
from seqgan.train.mle_baseline import MLE
from seqgan.train.pg_bleu import PG_BLEU
from seqgan.train.rankgan import RANKGAN
from seqgan.train.relgan import RELGAN
from seqgan.train.scheduled_sampling import SCHEDULED_SAMPLING

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (MLE, SCHEDULED_SAMPLING, PG_BLEU, SEQGAN, MALIGAN, RANKGAN,
                                                        RELGAN, LEAKGAN, SEQGAN_VALUE, SEQGAN_ROLLOUT_BASELINE)}


def get_algorithm(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise SeqGANError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}") from None


def generator_class(algorithm: str | None) -> type:
    """The class of the generator that ``algorithm`` trains (a checkpoint names its algorithm): the
    LSTM's unless the algorithm has a generator of its own."""
    from seqgan.models.generator import Generator

    found = ALGORITHMS.get(algorithm) if algorithm else None
    return Generator if found is None or found.generator_class is None else found.generator_class
