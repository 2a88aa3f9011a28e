"""The MLE baseline of Table 1: the pre-trained G, trained on by maximum likelihood.

The same loss, optimiser and batch order as Algorithm 1's pre-training (line 2), continued for
``train.adv_rounds`` epochs, so that it has as many updates to learn from as the methods it is
compared with after the shared pre-training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from seqgan.train.algorithm import Algorithm, Hooks, Models, Position, pretrain
from seqgan.train.mle import mle_epoch

if TYPE_CHECKING:
    from seqgan.config import Config


def mle(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position) -> None:
    """Pre-training, then ``train.adv_rounds`` more MLE epochs on S (N, T)."""
    t = config.train
    pretrain(m, real, config, hooks, start)
    done = start.start_of("mle_continued")
    if done >= 0:
        for epoch in range(done, t.adv_rounds):
            loss = mle_epoch(m.gen_replica, m.opts["mle"], real, t.batch_size, t.g_grad_clip)
            hooks.step_done("mle_continued", epoch + 1, {"gen/mle_loss": loss})
        hooks.phase_done("mle_continued")


MLE = Algorithm("mle", "MLE", ("mle_continued",), mle, uses_disc=False, final_sample_name="mle_continued")
