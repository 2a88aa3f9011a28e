"""One optimiser step with gradient-norm clipping and a guard against NaN and infinity."""

from __future__ import annotations

import math
from typing import Iterable

import torch

from seqgan.errors import SeqGANError


class NonFiniteError(SeqGANError):
    """A loss, reward or gradient became NaN or infinite; the parameters were not updated."""


def clipped_step(opt: torch.optim.Optimizer, params: Iterable[torch.Tensor], max_norm: float, what: str) -> float:
    """Clip the global gradient norm to ``max_norm`` (``math.inf``: no clipping, as the authors' D) and
    step; a non-finite norm raises before the step, so the weights stay as they were."""
    norm = torch.nn.utils.clip_grad_norm_(list(params), max_norm)
    if not torch.isfinite(norm):
        raise NonFiniteError(f"the gradient of {what} is {norm.item()}")
    opt.step()
    return norm.item()


NO_CLIP = math.inf
