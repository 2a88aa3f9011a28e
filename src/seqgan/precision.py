"""``train.precision`` (``--precision``): the number format of the training computations.

* ``fp32`` (default): everything in float32, as the authors' TensorFlow code.
* ``bf16``: ``torch.autocast`` with bfloat16 around the forward passes of G and D while they train
  (MLE, the policy-gradient loss, D's loss) and around the sampling, roll-outs and reward scoring of
  the adversarial phase. Matrix products and convolutions then run in bfloat16 (8 bits of mantissa);
  parameters, gradients, optimiser states, the step-by-step LSTM cell's state (sampling and
  roll-outs), softmax normalisations, losses and their sums stay float32. The teacher-forced
  ``nn.LSTM`` (MLE, the policy-gradient loss) runs wholly in bfloat16 under autocast: its outputs and
  cell state are bfloat16 (on a Zen 4 CPU, ~2e-3 from float32 after 30 steps). Evaluation (NLL-oracle, NLL-test, D's accuracy, the written samples)
  always runs in float32, so the metrics of runs in either precision are comparable.

bf16 changes the numbers, not the algorithm: G's token probabilities are computed from logits
rounded to about 3 significant digits (relative error ~0.4%), so the samples, rewards and losses
of a bf16 run differ from an fp32 run with the same seed after the first step, and a result
measured in one precision is not reproduced bit for bit in the other. No loss scaling is needed
(bfloat16 has float32's exponent range). Supported on every CPU (fast with AVX-512 BF16 or AMX)
and on GPUs with bfloat16 arithmetic (NVIDIA compute capability 8.0 and later: A100, H100, ...).
float16 is not offered: it would need gradient scaling for no gain over bfloat16 on such GPUs.

This module imports torch only when a context is asked for, so :mod:`seqgan.config` can use
:data:`PRECISIONS` without importing torch.
"""

from __future__ import annotations

import contextlib

PRECISIONS = ("fp32", "bf16")


def autocast(precision: str, device_type: str):
    """The context for ``precision`` on ``device_type`` ('cpu' or 'cuda'): torch.autocast to
    bfloat16 for 'bf16'; no context at all for 'fp32' (so that it does not switch off an outer one)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        import torch

        return torch.autocast(device_type, dtype=torch.bfloat16)
    raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def autocast_dtype(device_type: str):
    """The autocast dtype active for ``device_type`` at the call, or None (works on torch >= 2.2)."""
    import torch

    try:
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
        return None
    except TypeError:  # torch < 2.4: per-device functions without arguments
        if device_type == "cpu":
            return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
        if device_type == "cuda":
            return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None
        return None


def bf16_is_native(device_type: str = "cpu") -> bool:
    """Whether bfloat16 products run at hardware speed on ``device_type``: a CPU with AVX-512 BF16 or AMX,
    a GPU with bfloat16 arithmetic. Elsewhere a CPU's bf16 GEMM is ~20x slower than its fp32 one
    (docs/performance.md), so ``--precision bf16`` would slow training down."""
    import torch

    try:
        if device_type == "cpu":  # the instructions themselves: oneDNN's own check accepts any AVX-512 CPU,
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())  # emulating
        if device_type == "cuda":
            return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    except (AttributeError, RuntimeError, TypeError):  # private or newer APIs missing in this torch
        return False
    return False


def denormals_flushed() -> bool:
    """Whether this thread flushes float32 denormals to 0 now (a probe: torch has no getter)."""
    import torch

    return (torch.tensor(1e-39, dtype=torch.float32) * 1.0).item() == 0.0


def ieee_fp32() -> None:
    """float32 is IEEE float32 on a GPU too: cuDNN's LSTM and convolutions default to TF32 (a 10-bit mantissa),
    which would move fp32 training and every evaluation (NLL-oracle) off the CPU's values in the fourth digit."""
    import torch

    torch.backends.cudnn.allow_tf32 = False  # the flags tests/test_cuda.py sets: one API, not two
    torch.backends.cuda.matmul.allow_tf32 = False


def flush_denormals() -> bool:
    """Treat float32 numbers below 1.2e-38 as 0 on the CPU (x86 FTZ/DAZ), once, before torch's threads start.

    A trained G's probabilities underflow into that range, and a GEMM fed such numbers runs ~150x slower
    on some Intel CPUs: RelGAN's MLE epoch went from 76 to ~900 s over 10 epochs (docs/performance.md).
    The values lost are below any float32 probability that matters. ``SEQGAN_DENORMALS=keep`` turns it off.
    True if flushing is on."""
    import os

    import torch

    if os.environ.get("SEQGAN_DENORMALS", "") == "keep":
        return False
    return bool(torch.set_flush_denormal(True))
