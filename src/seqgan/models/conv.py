"""The discriminator's convolution block: conv over the full embedding width, ReLU, max over time.

SeqGAN's discriminator (Yu et al. 2017) embeds a sequence ``(B, L, E)`` and, for every window
width ``w`` with ``F_w`` filters, computes ``relu(conv1d(x, W_w, b_w))`` at the ``P = L - w + 1``
window positions and keeps the maximum over positions; the pooled features of all widths are
concatenated to ``(B, sum F_w)``.  This module computes exactly that, faster than one
``nn.Conv1d`` per width:

* :func:`conv_relu_maxpool` -- training and generic use.  Forward: one GEMM (or, in fp32 on
  AVX-512 CPUs, one oneDNN convolution) per width, bias added after the max (exact: rounding is
  monotone).  Backward: only through each filter's arg-max window, with autograd's rule for ReLU
  at 0 and tied maxima (an even split), ~10% of a dense backward's multiply-adds.
* :func:`conv_relu_maxpool_one_gemm` -- GPUs, where launches, not multiply-adds, bound a step.
* :class:`~seqgan.models.conv_tables.ConvTables` -- scoring with a frozen discriminator by table look-up.

Under ``torch.autocast`` the GEMMs run in the autocast dtype and the output has it, as
``F.conv1d``'s would; float64 stays float64.  Why each choice, measured, with the commands that
repeat the measurements: ``docs/performance.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from seqgan.precision import autocast_dtype as _autocast_dtype

__all__ = ["conv_relu_maxpool", "conv_relu_maxpool_one_gemm", "conv_relu_maxpool_reference", "ConvTables"]

# Widths with fewer window positions than this use dense GEMMs in the backward pass: the
# sparse gathers cost about as much as 2-3 dense positions (measured: at P=1 the dense GEMM
# is ~2x faster, at P=6 the sparse path is ~2-3x faster).
_SPARSE_MIN_POSITIONS = 3

# Sequences per chunk on the inference path (no gradient): keeps the window matrices of one
# chunk in the low tens of MB.
_INFERENCE_CHUNK = 512


def conv_relu_maxpool_reference(
    x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]
) -> torch.Tensor:
    """The plain PyTorch definition: ``F.conv1d`` per width, ReLU, ``amax`` over positions."""
    xt = x.transpose(1, 2)
    return torch.cat(
        [F.conv1d(xt, w, b).relu().amax(-1) for w, b in zip(weights, biases)], dim=1
    )


def _check(x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]) -> None:
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, length, embedding), got shape {tuple(x.shape)}")
    if len(weights) != len(biases) or not weights:
        raise ValueError(
            f"need one bias per weight and at least one width, got {len(weights)} weights "
            f"and {len(biases)} biases"
        )
    _, length, emb = x.shape
    for w, b in zip(weights, biases):
        if w.dim() != 3 or w.shape[1] != emb or not 1 <= w.shape[2] <= length:
            raise ValueError(
                f"weight of shape {tuple(w.shape)} does not fit input {tuple(x.shape)}: "
                f"expected (filters, {emb}, width) with 1 <= width <= {length}"
            )
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias of shape {tuple(b.shape)} does not match {w.shape[0]} filters")


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The GEMM dtype: the autocast dtype for float32/16 input under autocast, else x's."""
    cast = _autocast_dtype(x.device.type)
    if cast is not None and x.is_floating_point() and x.dtype != torch.float64:
        return cast
    return x.dtype


def _windows(x: torch.Tensor, width: int) -> torch.Tensor:
    """``(B*P, width*E)``: row ``b*P + p`` is ``x[b, p:p+width, :]`` flattened (offset-major)."""
    batch, length, emb = x.shape
    positions = length - width + 1
    # unfold: (B, P, E, w); as (B, P, w, E) each window is w*E contiguous floats of x.
    return x.unfold(1, width, 1).transpose(2, 3).reshape(batch * positions, width * emb)


def _weight_rows(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(F, w*E)`` with the window layout of :func:`_windows` (offset-major, then channel)."""
    filters, emb, width = weight.shape
    return weight.to(dtype).permute(0, 2, 1).reshape(filters, width * emb)


@functools.lru_cache(maxsize=1)
def _conv_beats_mm() -> bool:
    """oneDNN's fp32 convolution beats window copy + GEMM on AVX-512 CPUs only (docs/performance.md)."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def _use_conv(x: torch.Tensor, dtype: torch.dtype, width: int) -> bool:
    """Whether oneDNN's convolution beats window copy + GEMM for this width (see module doc)."""
    positions = x.shape[1] - width + 1
    return x.device.type == "cpu" and dtype == torch.float32 and width > 1 and positions > 1 and _conv_beats_mm()


def _window_sums(x: torch.Tensor, weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(B, P, F)`` window sums without bias, ``x`` contiguous ``(B, L, E)`` in ``dtype``."""
    batch, length, _ = x.shape
    filters, _, width = weight.shape
    positions = length - width + 1
    if _use_conv(x, dtype, width):
        # (B, E, L, 1) channels-last is x's own memory; the output (B, F, P, 1) is
        # channels-last too, i.e. (B, P, F) in memory: the max over P is a fast outer reduction.
        w4 = weight.to(dtype).unsqueeze(-1).contiguous(memory_format=torch.channels_last)
        y = F.conv2d(x.transpose(1, 2).unsqueeze(-1), w4)
        return y.squeeze(-1).transpose(1, 2)
    y = torch.mm(_windows(x, width), _weight_rows(weight, dtype).t())
    return y.view(batch, positions, filters)


def _pooled_no_grad(
    x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Forward only, chunked over the batch so the window matrices stay small."""
    dtype = _compute_dtype(x)
    bias = torch.cat([b.to(dtype) for b in biases])
    out = []
    with torch.autocast(x.device.type, enabled=False):
        for xc in x.to(dtype).split(_INFERENCE_CHUNK):
            xc = xc.contiguous()
            maxima = [_window_sums(xc, w, dtype).amax(1) for w in weights]
            out.append(torch.cat(maxima, 1).add_(bias).relu_())
    return out[0] if len(out) == 1 else torch.cat(out)


class _ConvReluMaxPool(torch.autograd.Function):
    """Forward saves, per width, the mask ``y == max_p y`` (B, P, F) (one byte per output)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, n_widths: int, *params: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        weights, biases = params[:n_widths], params[n_widths:]
        dtype = _compute_dtype(x)
        masks, maxima = [], []
        with torch.autocast(x.device.type, enabled=False):
            xc = x.to(dtype).contiguous()
            for w in weights:
                y = _window_sums(xc, w, dtype)
                m = y.amax(1, keepdim=True)
                masks.append(y == m)
                maxima.append(m.squeeze(1))
            bias = torch.cat([b.to(dtype) for b in biases])
            out = torch.cat(maxima, 1).add_(bias).relu_()
        ctx.n_widths = n_widths
        ctx.bias_dtypes = [b.dtype for b in biases]
        ctx.save_for_backward(x, out, *weights, *masks)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        n = ctx.n_widths
        x, out, *rest = ctx.saved_tensors
        weights, masks = rest[:n], rest[n:]
        need_x = ctx.needs_input_grad[0]
        need_w = any(ctx.needs_input_grad[2 : 2 + n])
        need_b = any(ctx.needs_input_grad[2 + n :])
        acc = torch.promote_types(x.dtype, weights[0].dtype)
        batch, length, emb = x.shape
        with torch.autocast(x.device.type, enabled=False):
            gate = grad_out.to(acc) * (out > 0)
            grad_b = gate.sum(0) if need_b else None
            gate_t = gate.t().contiguous()  # (sum F, B): per width a contiguous block
            xa = x.to(acc).contiguous() if need_w else None
            # Window gradients are overlap-added through a skewed buffer: skew[b, p + j, j] holds
            # the gradient of x[b, p + j] from offset j of window p (summed over widths), so
            # grad_x is one sum over j -- one add per width instead of one per (width, offset).
            max_width = max(w.shape[2] for w in weights)
            skew = x.new_zeros((batch, length, max_width, emb), dtype=acc) if need_x else None
            grads_w, grads_b = [], []
            start = 0
            for w, mask in zip(weights, masks):
                filters, _, width = w.shape
                positions = length - width + 1
                gt = gate_t[start : start + filters]
                grads_b.append(grad_b[start : start + filters] if need_b else None)
                start += filters
                if not (need_w or need_x):
                    grads_w.append(None)
                    continue
                rows = _weight_rows(w, acc) if need_x else None
                u = _windows(xa, width) if need_w else None
                if positions < _SPARSE_MIN_POSITIONS:
                    count = mask.sum(1, keepdim=True)
                    g = gt.t().unsqueeze(1) / count.clamp_min(1)
                    s = (mask * g).view(batch * positions, filters)
                    gw_rows = s.t() @ u if need_w else None
                    gu = s @ rows if need_x else None
                else:
                    gw_rows, gu = _grads_sparse(mask, gt, u, rows)
                if need_w:
                    gw = gw_rows.view(filters, width, emb).permute(0, 2, 1).contiguous().to(w.dtype)
                    if gw.stride() != w.stride():  # width 1: give the weight's own strides (DDP's buckets)
                        gw = torch.empty_like(w).copy_(gw)
                    grads_w.append(gw)
                else:
                    grads_w.append(None)
                if need_x:
                    # (b, p, j) -> skew[b, p + j, j]: an injective strided view of skew.
                    target = skew.as_strided(
                        (batch, positions, width, emb),
                        (length * max_width * emb, max_width * emb, (max_width + 1) * emb, 1),
                    )
                    target.add_(gu.view(batch, positions, width, emb))
        gx = skew.sum(2).to(x.dtype) if need_x else None
        grads_b = [gb.to(dt) if gb is not None else None for gb, dt in zip(grads_b, ctx.bias_dtypes)]
        return (gx, None, *grads_w, *grads_b)


def _grads_sparse(
    mask: torch.Tensor, gt: torch.Tensor, u: torch.Tensor | None, rows: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Gradients through the arg-max windows of one width.

    ``mask`` (B, P, F): True where a window holds its filter's maximum; ``gt`` (F, B),
    contiguous: gradient of the pooled output after the ReLU gate, transposed; ``u``
    (B*P, w*E): the windows (for grad_W); ``rows`` (F, w*E): the weights (for grad_x).
    Returns ``grad_W`` as (F, w*E) and the window gradients as (B*P, w*E) (each None where
    its input is None).
    """
    batch, positions, filters = mask.shape
    # All maxima, ordered by window (b, p) and then filter: the grouping by window that the
    # window gradients need, without a sort.
    window, f = mask.view(batch * positions, filters).nonzero(as_tuple=True)  # window = b*P + p
    fb = f * batch + window.div(positions, rounding_mode="floor")  # index into gt
    # Not the number of maxima against B F: a column of NaN sums (no maximum) and a tied one cancel out.
    count = torch.bincount(fb, minlength=filters * batch)
    ties = bool((count != 1).any())
    if ties:  # autograd's amax: split the gradient evenly among tied maxima
        gt = gt / count.clamp_min_(1).view(filters, batch)
    weights = gt.view(-1).take(fb)

    grad_w = grad_u = None
    if rows is not None:
        counts = torch.bincount(window, minlength=batch * positions)
        offsets = counts.cumsum(0) - counts
        grad_u = F.embedding_bag(f, rows, offsets, per_sample_weights=weights, mode="sum")
    if u is not None:
        # One window per (b, f), the first maximum, in fixed-size bags of B per filter; further
        # tied maxima, if any, are added separately.
        if ties:
            first = torch.full((filters * batch,), batch * positions, dtype=window.dtype, device=mask.device)
            first.scatter_reduce_(0, fb, window, reduce="amin")  # row b*P + p of u
            # (NaN window sums leave a column without maxima: point it at a valid row.)
            first = torch.where(first < batch * positions, first, 0)
        else:
            first = torch.empty(filters * batch, dtype=window.dtype, device=mask.device)
            first.scatter_(0, fb, window)
        grad_w = F.embedding_bag(first.view(filters, batch), u, per_sample_weights=gt, mode="sum")
        if ties:
            extra = window != first.take(fb)
            if bool(extra.any()):
                grad_w.index_add_(0, f[extra], u[window[extra]] * weights[extra].unsqueeze(1))
    return grad_w, grad_u


@functools.lru_cache(maxsize=16)
def _invalid_positions(length: int, widths_filters: tuple[tuple[int, int], ...], device: torch.device) -> torch.Tensor:
    """(L, sum F) bool: True at positions past the last window of the filter's width (built once)."""
    last = torch.tensor([length - w for w, f in widths_filters for _ in range(f)])
    return (torch.arange(length).unsqueeze(1) > last).to(device)


def conv_relu_maxpool_one_gemm(
    x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]
) -> torch.Tensor:
    """All widths in one GEMM, for GPUs, where a D step is bound by kernel launches, not FLOPs.

    Every weight is zero-padded to the largest width ``K`` and ``x`` to ``L + K - 1`` positions, so
    row ``b*L + p`` of one ``(B*L, K*E) @ (K*E, sum F)`` product holds every filter's window sum at
    position ``p``; positions past a width's last window are set to -inf before the max.  The padded
    taps add exact zeros, so the values are the reference's up to summation order (x must be finite:
    0 * inf is NaN).  Autograd differentiates it, with the reference's rule for ReLU and tied maxima.
    ~6x the multiply-adds of the per-width products, in ~10 kernels instead of ~150 (docs/performance.md)."""
    _check(x, list(weights), list(biases))
    batch, length, emb = x.shape
    widths = [w.shape[2] for w in weights]
    k = max(widths)
    xp = F.pad(x, (0, 0, 0, k - 1))  # (B, L + K - 1, E)
    windows = xp.unfold(1, k, 1).transpose(2, 3).reshape(batch * length, k * emb)
    rows = torch.cat([F.pad(w, (0, k - w.shape[2])) for w in weights]).permute(0, 2, 1).reshape(-1, k * emb)
    y = (windows @ rows.t()).view(batch, length, -1)  # (B, L, sum F), in the autocast dtype if any
    invalid = _invalid_positions(length, tuple((w.shape[2], w.shape[0]) for w in weights), x.device)
    pooled = y.masked_fill(invalid, float("-inf")).amax(1)
    return (pooled + torch.cat(list(biases)).to(pooled.dtype)).relu()


def conv_relu_maxpool(
    x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Concatenation over widths of ``max_p relu(conv1d(x, W_i, b_i))[:, :, p]``.

    Args:
        x: embedded sequences ``(B, L, E)``, float32 or float64 (under ``torch.autocast`` the
            GEMMs run in the autocast dtype).
        weights: per width a tensor ``(F_i, E, w_i)`` (the layout of ``nn.Conv1d(E, F_i, w_i)``),
            ``1 <= w_i <= L``.
        biases: per width a tensor ``(F_i,)``.

    Returns:
        ``(B, sum F_i)`` in the compute dtype.  Equal to
        :func:`conv_relu_maxpool_reference` up to rounding (~1e-6 relative in float32).
        Gradients to ``x``, weights and biases follow autograd's rule for ReLU and ``amax``
        (even split among tied maxima) but cost ~``B * sum w F E`` multiply-adds each instead
        of a full transposed convolution; see the module docstring.
    """
    weights, biases = list(weights), list(biases)
    _check(x, weights, biases)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or any(t.requires_grad for t in weights + biases)
    )
    if not needs_grad:
        return _pooled_no_grad(x, weights, biases)
    if x.device.type != "cpu":
        return conv_relu_maxpool_one_gemm(x, weights, biases)
    return _ConvReluMaxPool.apply(x, len(weights), *weights, *biases)


def __getattr__(name: str):
    """``ConvTables`` lives in ``conv_tables.py`` (which imports this module); importable from here too."""
    if name == "ConvTables":
        from seqgan.models.conv_tables import ConvTables

        return ConvTables
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
