"""The discriminator's convolution block: conv over the full embedding width, ReLU, max over time.

SeqGAN's discriminator (Yu et al. 2017) embeds a sequence ``(B, L, E)`` and, for every window
width ``w`` with ``F_w`` filters, computes ``relu(conv1d(x, W_w, b_w))`` at the ``P = L - w + 1``
window positions and keeps the maximum over positions.  The pooled features of all widths are
concatenated to ``(B, sum F_w)``.  This module computes exactly that, faster than one
``nn.Conv1d`` per width, in two settings:

* :func:`conv_relu_maxpool` -- training and generic use, with a cheap backward pass.
* :class:`ConvTables` -- scoring many sequences with a frozen discriminator by table look-up.

Forward
-------
Per width, the window sums ``y`` (B, P, F) come from one of two kernels, and the bias is added
after the max, which is exact: rounding is monotone, so ``max_p fl(y_p + b) = fl(max_p y_p + b)``.

* float32 on CPU: ``F.conv2d`` on ``x`` viewed as channels-last ``(B, E, L, 1)`` (which is x's
  own memory) with the weight in channels-last; oneDNN then writes ``y`` as (B, P, F), so the
  max over positions is a fast outer reduction;
* otherwise (bf16 autocast, float64, CUDA; and float32 for ``w = 1`` and ``w = L``): the
  windows are copied into a ``(B*P, w*E)`` matrix (each window is ``w*E`` contiguous numbers
  of x, so the copy is cheap) and multiplied by the weight laid out as ``(F, w*E)``.

Forward of one batch of 64 at the paper's shapes (L=20, E=64, widths 1..10,15,20, 1720
filters), window sums and max over positions, measured on the project's 2-core AMD EPYC
(Zen 5, AVX-512 BF16), torch 2.13 CPU, single thread, process CPU time, minimum of 12 runs
(the machine is shared; read them as ratios):

============================================================  =========  =========
method                                                          fp32       bf16
============================================================  =========  =========
``F.conv1d`` per width + ``amax(-1)`` (the reference)          9.4 ms     7.6 ms
window copy + ``mm`` per width                                 11.3 ms    3.4 ms
``F.conv2d`` channels-last per width                           6.4 ms     4.4 ms
chosen: conv2d channels-last, ``mm`` for w=1 and w=L / ``mm``   5.9 ms     3.4 ms
============================================================  =========  =========

(With 2 threads, minima: reference 5.6 / 5.9 ms, chosen ~3.5 / 2.3 ms.)  fp32 ``mm`` loses
because torch sends it to MKL, slower than oneDNN's kernels on this CPU, while bf16 ``mm``
goes to oneDNN's AVX-512-BF16 GEMM.  Also measured and rejected: ``x.unfold`` + ``addmm``
batch-major, one batched ``matmul`` over strided windows (2-5x slower), the weight in
contiguous (not channels-last) layout for conv2d (3x slower), grouping widths into one GEMM
(needs zero padding: more multiply-adds than calls saved) and one ``x @ [W_0 .. W_{w-1}]``
product for all offsets followed by shifted sums (2.1x the multiply-adds, memory bound).
``torch.max(dim)`` with indices and ``argmax`` are 10-100x slower than ``amax`` on CPU, so the
forward keeps ``amax`` and, only when a gradient is needed, the mask ``y == max``.

Backward
--------
After ReLU and max over time, each filter's gradient flows into the window(s) holding the
maximum.  Autograd through the reference spreads the gradient of ``amax`` evenly among tied
maxima and gives ReLU a zero gradient at 0 (so a filter whose maximum is ``<= 0`` gets none).
This function reproduces exactly that rule, on the window sums as it computes them
(ties are of measure zero for fp32 input; under bf16 autocast ~0.6% of the maxima tie and are
handled the same way): with ``gate = grad * (out > 0) / n_ties``

* ``grad_b = sum_b grad * (out > 0)``;
* ``grad_x`` -- ``nonzero`` on the saved mask lists the maxima ordered by window and then
  filter (a grouping by window without a sort); one ``embedding_bag`` sums the weight rows of
  each window's winning filters, weighted by ``gate``; the window gradients are overlap-added
  into ``(B, L, E)``;
* ``grad_W[f] = sum_b gate[b, f] * window(b, argmax)`` -- one ``embedding_bag`` with a fixed
  bag of ``B`` windows per filter (extra tied windows, if any, are added with ``index_add_``).

Each costs ``B * sum_w w F_w * E`` multiply-adds, ~10% of the forward's, instead of a full
transposed convolution.  For widths with very few positions (``P < 3``) the dense GEMMs are
cheaper and are used.  The backward runs in the parameters' precision (float32 under bf16
autocast), through the arg-max chosen by the forward.  Single thread, batch 64, all widths:
sparse grad_x 5.4 ms and grad_W 4.6 ms (each counting the shared ``nonzero``, ~2.2 ms), against
12.4 / 12.3 ms for dense fp32 GEMMs and 11.6 / 16.9 ms for oneDNN's convolution backward.
The sparse work runs far below GEMM speed (``embedding_bag`` ~40-65 GFLOP/s, ``nonzero`` ~1.2 ns
per mask entry, the overlap-add is memory bound), so the backward costs about one forward
rather than the ideal fifth: forward + backward of a batch of 64, single thread, is 18 ms for
this function against 32 ms for the reference in fp32 (forward alone 8.6 against 10.7 ms), and
18.5 against 29.5 ms under bf16 autocast (where dense bf16 GEMMs would be about as fast as the
sparse float32 path, which is kept for its accuracy).

Whole D training step (measured 2026-11, 1 thread)
--------------------------------------------------
``benchmarks/bench_dstep.py`` times one step of ``d_epochs`` at the paper's shapes (batch 64)
against a git revision, interleaved in one process.  With 1 thread it is ~52-55 ms: conv
forward ~8.5 ms (at GEMM speed: 0.97 GFLOP), conv backward ~11 ms (of which ~2.5 ms per-op
overhead, measured as the backward at batch 1; ``nonzero`` 2.1 ms, the two ``embedding_bag``
2.5 ms, window/weight copies 0.6 ms, the skew adds ~1.5 ms), highway + output ~30 ms (six
1720x1720 fp32 GEMMs at ~90-95 GFLOP/s: ~25 ms), clip + fused Adam ~5 ms (~6 ms before
``clipped_step`` stopped multiplying every gradient by 1 when D is not clipped).  With 2 threads
``nonzero`` and ``embedding_bag`` scale ~1.8x, the small ops not at all.  Measured and
rejected for the step (1 thread, same process, min of 30-40 interleaved steps):

* the mask as ``(y - m).logical_not()`` instead of ``y == m`` (the comparison's bool output is
  ~5x slower per entry than ``sub``; alone, 71 against 131 us for the largest width): keeping
  all window sums alive to the end of the forward for one finiteness check made the step no
  faster (55.6 against 55.0 ms);
* ``embedding_bag`` for grad_W directly on an overlapping strided view of x (no window copy):
  exact but no faster (it copies the strided table itself); one ``nonzero`` or a stable
  ``sort`` over all widths: ``nonzero`` costs ~1.15 ns per mask entry whatever the call count
  and a padded (B, 20, 1720) mask has 45% more entries; a sort of the arg-max positions per row
  costs as much as ``nonzero`` (281 against 264 us for the largest width);
* for the highway: a 1x1 ``conv2d`` (oneDNN) instead of ``addmm`` (MKL) -- same ~94 GFLOP/s
  forward, slower for the input gradient; a custom autograd function for the highway (in-place
  ops, input gradient accumulated by ``addmm_``): 27.1 against 27.3 ms for forward + backward,
  within noise -- the six GEMMs are the cost.

Dtypes and devices
------------------
On a GPU (any device but the CPU), training (the gradient path) takes
:func:`conv_relu_maxpool_one_gemm` instead: there a D step is bound by kernel launches and host
synchronisations (``nonzero`` above makes the host wait for the device once per width), not by
multiply-adds, so one padded GEMM over all widths beats twelve exact ones (timings in its
docstring).  Only device-agnostic torch ops are used (CPU and CUDA).  Under ``torch.autocast`` for the
input's device the GEMMs run in the autocast dtype (e.g. bf16) and the output has that dtype,
as ``F.conv1d`` would; float64 inputs are left in float64, as autocast does.
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
    ties = window.numel() != batch * filters
    if ties:  # autograd's amax: split the gradient evenly among tied maxima
        count = torch.bincount(fb, minlength=filters * batch).clamp_min_(1)
        gt = gt / count.view(filters, batch)
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
    It does ~6x the multiply-adds of the per-width products at the paper's shapes (~5.6 GFLOP for a
    batch of 64, forward), a few microseconds on a data-centre GPU, in ~10 kernels instead of ~150.
    In the one session that had a GPU, a paper-shape conv forward + backward went from 6-10 ms to
    under 1 ms with it; not re-measured since (``benchmarks/run.py --device cuda`` times D's epoch)."""
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


class ConvTables:
    """Frozen-discriminator scoring by table look-up.

    With the embedding ``emb`` (V, E) and the conv weights fixed, the conv output of a window
    ``tokens[p : p+w]`` for width ``w`` is ``b + sum_j T_{w,j}[tokens[p+j]]`` with the table
    ``T_{w,j} = emb @ W[:, :, j].T`` (V, F).  :meth:`pooled` gathers and sums those rows with
    ``embedding_bag`` (``w * F`` adds per window instead of ``w * E * F`` multiply-adds) and
    equals ``conv_relu_maxpool(emb[tokens], weights, biases)`` to float32 rounding.

    Table memory is ``V * sum_w w F_w`` entries: for the paper's discriminator (V=5000,
    ``sum_w w F_w`` = 12,500) that is 62.5 M floats, 250 MB in float32 -- large, but it replaces
    ``sum_w P w F E`` = 7.6 M multiply-adds per sequence by 0.12 M additions, and one build
    (``emb @ W`` for all offsets, 8 GFLOP) costs ~0.2 s.  Every width pays for its table (even
    ``w = L``, 64 MB for one position: 0.011 against 0.10 s of convolution for 19,520
    sequences, single thread); a width's table is reused by its ``P = L - w + 1`` positions, so
    if memory is short restrict ``widths`` to the narrow ones -- the others are then computed by
    the convolution from the embedded tokens.  ``dtype=torch.bfloat16`` halves the memory but is
    not exact (entries rounded to 8 bits of mantissa: up to ~3e-2 absolute error on pooled
    values up to ~9, median relative error 1e-3) and on CPU hardly faster.  In float32 the
    result differs from the convolution only by summation order (~1e-6 relative).

    Scoring one generator update's 19,520 roll-outs (length 20), single thread, process CPU
    time: tables 0.55-0.65 s (+0.18 s build) against 2.4 s for :func:`conv_relu_maxpool` in
    fp32, 1.3-1.4 s under bf16 autocast, and 3.5 s for the ``F.conv1d`` reference.  The look-up
    is memory bound (~118,600 table entries gathered per sequence); ``chunk_size`` between 128
    and 1024 sequences makes no measurable difference, 4096 is slower.

    The tables are only valid for the weights they were built from: rebuild (``build`` or,
    reusing the memory, :meth:`update`) whenever D changes, e.g. once per generator update.
    """

    def __init__(
        self,
        embedding: torch.Tensor,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        *,
        widths: Sequence[int] | None = None,
        dtype: torch.dtype = torch.float32,
        chunk_size: int = 512,
    ) -> None:
        weights, biases = list(weights), list(biases)
        if embedding.dim() != 2:
            raise ValueError(f"embedding must be (vocab, emb), got shape {tuple(embedding.shape)}")
        emb = embedding.shape[1]
        for w in weights:
            if w.dim() != 3 or w.shape[1] != emb:
                raise ValueError(f"weight of shape {tuple(w.shape)} does not fit embedding size {emb}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        all_widths = [w.shape[2] for w in weights]
        chosen = set(all_widths if widths is None else widths)
        self.widths = all_widths
        self.tabulated = [w in chosen for w in all_widths]
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.tables: list[torch.Tensor | None] = [None] * len(weights)
        self.update(embedding, weights, biases)

    @classmethod
    def build(
        cls,
        embedding: torch.Tensor,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        **kwargs,
    ) -> "ConvTables":
        """New tables for the given (frozen) discriminator parameters."""
        return cls(embedding, weights, biases, **kwargs)

    @torch.no_grad()
    def update(
        self,
        embedding: torch.Tensor,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
    ) -> "ConvTables":
        """Recompute the tables in place (same shapes) for new parameter values."""
        weights, biases = list(weights), list(biases)
        if [w.shape[2] for w in weights] != self.widths:
            raise ValueError("update() needs the same widths as the tables were built with")
        self.embedding = embedding.detach()
        self.weights = [w.detach() for w in weights]
        self.bias = torch.cat([b.detach() for b in biases]).float()
        emb = self.embedding.float()
        with torch.autocast(emb.device.type, enabled=False):  # float32 tables even under bf16 autocast
            self._build_tables(emb)
        return self

    def _build_tables(self, emb: torch.Tensor) -> None:
        for i, (w, tab) in enumerate(zip(self.weights, self.tabulated)):
            if not tab:
                continue
            filters, _, width = w.shape
            # (V, E) @ (E, w*F) -> (V, w*F): row v holds [T_{w,0}[v], ..., T_{w,w-1}[v]], so
            # the w rows of one token are adjacent; as (V*w, F), T_{w,j}[v] is row v*w + j.
            rhs = w.detach().float().permute(1, 2, 0).reshape(w.shape[1], width * filters)
            old = self.tables[i]
            if old is not None and self.dtype == torch.float32 and old.shape == (emb.shape[0] * width, filters):
                torch.mm(emb, rhs, out=old.view(emb.shape[0], width * filters))
            else:
                self.tables[i] = torch.mm(emb, rhs).view(-1, filters).to(self.dtype)

    @property
    def nbytes(self) -> int:
        """Bytes held by the tables."""
        return sum(t.numel() * t.element_size() for t in self.tables if t is not None)

    @torch.no_grad()
    def pooled(self, tokens: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """``(B, sum F)`` pooled features (float32) of ``tokens`` ``(B, L)`` (int64)."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (batch, length), got shape {tuple(tokens.shape)}")
        chunk = chunk_size or self.chunk_size
        tokens = tokens.to(self.embedding.device, torch.long)
        out = []
        with torch.autocast(tokens.device.type, enabled=False):  # float32 look-ups, as documented
            for tc in tokens.split(chunk):
                out.append(self._pooled_chunk(tc.contiguous()))
        return out[0] if len(out) == 1 else torch.cat(out)

    def _pooled_chunk(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length = tokens.shape
        x = None
        maxima = []
        for w, tab, table in zip(self.weights, self.tabulated, self.tables):
            filters, _, width = w.shape
            if width > length:
                raise ValueError(f"sequences of length {length} are shorter than width {width}")
            positions = length - width + 1
            if tab:
                offs = torch.arange(width, device=tokens.device)
                idx = tokens.unfold(1, width, 1) * width + offs  # (B, P, w): rows v*w + j
                s = F.embedding_bag(idx.reshape(batch * positions, width), table, mode="sum")
                s = s.view(batch, positions, filters)
            else:
                if x is None:
                    x = F.embedding(tokens, self.embedding.float())
                s = _window_sums(x, w, torch.float32)
            maxima.append(s.amax(1).float())
        return torch.cat(maxima, 1).add_(self.bias).relu_()
