"""G's output layer fused with its cross-entropy, computed in cache-sized chunks.

With V = 5000 the (rows, V) logits are G's dominant cost: writing them, normalising them and
back-propagating through them are memory-bound passes over ~25 MB per batch of 64 x 20. Here
each chunk of rows goes through logits -> log-sum-exp -> loss -> (softmax - one-hot) ->
gradients while it is in cache, and the full logits never exist. The maths is unchanged: the
result equals ``(F.cross_entropy(F.linear(h, W, b), y, reduction="none") * w).sum()`` and its
gradients (tested to float tolerance).

Both of G's training losses are this weighted sum: MLE (w = 1 / number of valid tokens, 0 after
<eos>) and the policy gradient (w = Q, Eq. 6-8: -sum log G(y) Q = sum nll(y) Q).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from seqgan.fastexp import exp_shifted_
from seqgan.precision import autocast_dtype

CHUNK_ROWS = 128  # rows per chunk on a CPU: 128 x 5000 floats = 2.5 MB, about the L2 of two cores


def _chunks(rows: int, device: torch.device):
    step = CHUNK_ROWS if device.type == "cpu" else max(rows, 1)
    return range(0, rows, step), step


def _nll_rows(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log softmax(logits)[target]: (r, V), (r,) -> (r,). Overwrites ``logits``."""
    picked = logits.gather(1, targets.unsqueeze(1)).squeeze(1)
    top = exp_shifted_(logits)  # the log-sum-exp through exp2 (seqgan.fastexp)
    return (top.squeeze(1) + logits.sum(dim=1).log()) - picked


@torch.no_grad()
def linear_nll(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row NLL without gradients: h (R, H), weight (V, H), bias (V,), targets (R,) -> (R,) float32+."""
    out = torch.empty(h.shape[0], dtype=torch.promote_types(h.dtype, torch.float32), device=h.device)
    starts, step = _chunks(h.shape[0], h.device)
    for lo in starts:
        out[lo:lo + step] = _nll_rows(F.linear(h[lo:lo + step], weight, bias).to(out.dtype), targets[lo:lo + step])
    return out


class _WeightedLinearCE(torch.autograd.Function):
    """sum_r w_r * nll_r(h W^T + b); gradients computed chunk by chunk during the forward pass.

    Under autocast (``train.precision = 'bf16'``) the three matrix products per chunk run in the
    autocast dtype; the log-sum-exp, softmax, loss and gradient sums stay float32."""

    @staticmethod
    def forward(ctx, h, weight, bias, targets, weights):  # type: ignore[override]
        low = autocast_dtype(h.device.type)
        acc = torch.promote_types(h.dtype, torch.float32)  # logits, softmax and sums
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros_like(weight)
        grad_b = torch.zeros_like(bias)
        total = torch.zeros((), dtype=torch.float64, device=h.device)
        starts, step = _chunks(h.shape[0], h.device)
        with torch.autocast(h.device.type, enabled=False):
            mixed = low is not None and h.dtype != torch.float64
            hm, wm, bm = (h.to(low), weight.to(low), bias.to(low)) if mixed else (h, weight, bias)
            for lo in starts:
                hc, yc, wc = hm[lo:lo + step], targets[lo:lo + step], weights[lo:lo + step].to(acc)
                logits = F.linear(hc, wm, bm).to(acc)                       # (r, V), in cache
                picked = logits.gather(1, yc.unsqueeze(1))                  # (r, 1)
                top = exp_shifted_(logits)                                  # exp(logits - max), overwriting them
                norm = logits.sum(dim=1, keepdim=True)                      # (r, 1)
                nll = (top + norm.log() - picked).squeeze(1)                # log-sum-exp - picked logit
                # weight 0 (a position after <eos>, whose target <pad> has log-probability -inf) adds nothing
                total += torch.where(wc != 0, nll * wc, 0.0).sum().double()
                g = logits.div_(norm)                                       # softmax: one exponential per logit
                g.scatter_add_(1, yc.unsqueeze(1), -torch.ones_like(picked))  # softmax - one-hot
                g.mul_(wc.unsqueeze(1))                                     # d loss / d logits
                if mixed:
                    gm = g.to(low)
                    grad_h[lo:lo + step] = gm @ wm
                    grad_w += (gm.t() @ hc).to(grad_w.dtype)
                else:
                    grad_h[lo:lo + step] = g @ weight
                    grad_w.addmm_(g.t(), hc)
                grad_b += g.sum(dim=0)
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        return total.to(acc)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        grad_h, grad_w, grad_b = ctx.saved_tensors
        return ((grad_h * grad_out).to(grad_h.dtype), (grad_w * grad_out).to(grad_w.dtype),
                (grad_b * grad_out).to(grad_b.dtype), None, None)


def weighted_linear_ce(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor,
                       weights: torch.Tensor) -> torch.Tensor:
    """sum_r weights_r * CE(h_r W^T + b, targets_r) as a scalar with gradients for h, W and b.

    h (R, H); weight (V, H); bias (V,); targets (R,) int64; weights (R,) (no gradient)."""
    return _WeightedLinearCE.apply(h, weight, bias, targets, weights.detach())
