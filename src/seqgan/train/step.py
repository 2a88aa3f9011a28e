"""One optimiser step with gradient-norm clipping and a guard against NaN and infinity."""

from __future__ import annotations

import math
from typing import Iterable

import torch

from seqgan.errors import SeqGANError


class NonFiniteError(SeqGANError):
    """A loss, reward or gradient became NaN or infinite; the step it happened in was not applied."""


def clipped_step(opt: torch.optim.Optimizer, params: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Clip the global gradient norm to ``max_norm`` (``math.inf``: no clipping, as the authors' D) and
    step, unless the norm is NaN or infinite: then the step is skipped and the weights and optimiser
    state stay as they were. Returns a 0-d bool tensor on the parameters' device: True if skipped.

    The check costs no host synchronisation with a fused optimiser (seqgan's Adam): the skip happens on
    the device through the optimiser's ``found_inf`` input, the mechanism ``torch.amp.GradScaler`` uses.
    The caller raises with :func:`raise_if_skipped` once per epoch or update, where it reads its loss
    anyway. Other optimisers are checked at once."""
    params = list(params)
    if math.isinf(max_norm) and max_norm > 0 and hasattr(torch.nn.utils, "get_total_norm"):
        # No clipping: only the finiteness check needs the norm. clip_grad_norm_ would also multiply
        # every gradient by min(inf / norm, 1) = 1, a full read and write of them (~2 ms of a 35 ms
        # D step at the paper's shapes) that changes nothing the step uses.
        norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    skipped = ~torch.isfinite(norm)
    if getattr(opt, "_step_supports_amp_scaling", False):
        opt.found_inf = skipped.float()
        try:
            opt.step()
        finally:
            del opt.found_inf
    elif not bool(skipped):
        opt.step()
    return skipped


def raise_if_skipped(skipped: torch.Tensor, what: str) -> None:
    """Raise NonFiniteError if any step behind ``skipped`` (bool, from :func:`clipped_step`) was skipped."""
    if bool(skipped):
        raise NonFiniteError(f"the gradient of {what} became NaN or infinite (that step was not applied)")


NO_CLIP = math.inf
