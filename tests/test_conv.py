"""conv_relu_maxpool and ConvTables against the plain PyTorch definition."""

import pytest
import torch

import seqgan.models.conv as conv
from seqgan.models.conv import ConvTables, conv_relu_maxpool, conv_relu_maxpool_reference

PAPER_WIDTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
PAPER_FILTERS = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]


def make_params(widths, filters, emb, dtype=torch.float32, seed=0, requires_grad=True):
    gen = torch.Generator().manual_seed(seed)
    weights = [
        (torch.randn(f, emb, w, generator=gen, dtype=dtype) * 0.1).requires_grad_(requires_grad)
        for w, f in zip(widths, filters)
    ]
    biases = [
        (torch.randn(f, generator=gen, dtype=dtype) * 0.1).requires_grad_(requires_grad)
        for f in filters
    ]
    return weights, biases


def make_x(batch, length, emb, dtype=torch.float32, seed=1, requires_grad=True):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, length, emb, generator=gen, dtype=dtype) * 2 - 1
    return x.requires_grad_(requires_grad)


# (batch, length, emb, widths, filters): paper widths, w == L, small L, batch 1, odd sizes.
SHAPES = [
    (6, 20, 64, PAPER_WIDTHS, PAPER_FILTERS),
    (1, 12, 16, [1, 2, 5, 12], [4, 6, 5, 3]),
    (5, 3, 4, [1, 2, 3], [3, 5, 2]),
    (1, 1, 7, [1], [4]),
    (9, 11, 10, [2, 11, 5, 2], [7, 1, 13, 3]),
]


def grads(out, inputs, grad_out):
    return torch.autograd.grad(out, inputs, grad_out)


@pytest.fixture(params=["conv", "mm"])
def forward_kernel(request, monkeypatch):
    """fp32 window sums by oneDNN's convolution (AVX-512 CPUs) or by window copy + GEMM (others)."""
    monkeypatch.setattr(conv, "_conv_beats_mm", lambda: request.param == "conv")
    return request.param


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(shape, dtype, tol, forward_kernel):
    batch, length, emb, widths, filters = shape
    weights, biases = make_params(widths, filters, emb, dtype)
    x = make_x(batch, length, emb, dtype)
    ref = conv_relu_maxpool_reference(x, weights, biases)
    out = conv_relu_maxpool(x, weights, biases)  # gradient path
    assert out.shape == (batch, sum(filters)) and out.dtype == dtype
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    with torch.no_grad():  # inference path
        torch.testing.assert_close(conv_relu_maxpool(x, weights, biases), ref, rtol=tol, atol=tol)


def test_inference_path_chunks_the_batch(monkeypatch):
    monkeypatch.setattr(conv, "_INFERENCE_CHUNK", 4)
    weights, biases = make_params([1, 3, 7], [5, 6, 7], 8, requires_grad=False)
    x = make_x(11, 7, 8, requires_grad=False)
    torch.testing.assert_close(
        conv_relu_maxpool(x, weights, biases),
        conv_relu_maxpool_reference(x, weights, biases),
        rtol=1e-5,
        atol=1e-5,
    )


def test_gradcheck_float64():
    weights, biases = make_params([1, 2, 4, 5], [3, 2, 3, 2], 3, torch.float64)
    x = make_x(2, 5, 3, torch.float64)

    def fn(x, *params):
        return conv_relu_maxpool(x, params[:4], params[4:])

    assert torch.autograd.gradcheck(fn, (x, *weights, *biases), eps=1e-6, atol=1e-7)


@pytest.fixture(params=["sparse", "dense"])
def backward_path(request, monkeypatch):
    """The arg-max gathers, or the dense GEMMs (used for widths with fewer than 3 positions) for every width."""
    if request.param == "dense":
        monkeypatch.setattr(conv, "_SPARSE_MIN_POSITIONS", 10**9)
    return request.param


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
@pytest.mark.parametrize("shape", SHAPES)
def test_gradients_match_autograd_through_reference(shape, dtype, tol, backward_path, forward_kernel):
    batch, length, emb, widths, filters = shape
    for seed in range(2):
        weights, biases = make_params(widths, filters, emb, dtype, seed=seed)
        x = make_x(batch, length, emb, dtype, seed=seed + 10)
        grad_out = torch.randn(batch, sum(filters), dtype=dtype, generator=torch.Generator().manual_seed(seed))
        inputs = [x, *weights, *biases]
        want = grads(conv_relu_maxpool_reference(x, weights, biases), inputs, grad_out)
        got = grads(conv_relu_maxpool(x, weights, biases), inputs, grad_out)
        for g, r in zip(got, want):
            assert g.shape == r.shape and g.dtype == r.dtype
            # relative to the largest entry of each gradient
            torch.testing.assert_close(g, r, rtol=0, atol=tol * max(r.abs().max().item(), 1e-3))


def test_ties_and_relu_at_zero_follow_autograd(backward_path):
    # Small integers in float64: sums are exact, so many maxima tie and many are exactly 0 or
    # negative; autograd splits amax's gradient evenly among ties and gives relu none at 0.
    gen = torch.Generator().manual_seed(3)
    widths, filters = [1, 2, 3, 6, 8], [4, 4, 3, 3, 2]
    for _ in range(4):
        x = torch.randint(-2, 3, (7, 8, 3), generator=gen).double().requires_grad_()
        weights = [torch.randint(-1, 2, (f, 3, w), generator=gen).double().requires_grad_() for w, f in zip(widths, filters)]
        biases = [torch.randint(-1, 2, (f,), generator=gen).double().requires_grad_() for f in filters]
        grad_out = torch.randn(7, sum(filters), dtype=torch.float64, generator=gen)
        inputs = [x, *weights, *biases]
        ref = conv_relu_maxpool_reference(x, weights, biases)
        out = conv_relu_maxpool(x, weights, biases)
        assert torch.equal(out, ref)
        assert (out == 0).any()
        for g, r in zip(grads(out, inputs, grad_out), grads(ref, inputs, grad_out)):
            torch.testing.assert_close(g, r, rtol=0, atol=1e-12)


def test_gradients_when_only_some_inputs_need_them():
    weights, biases = make_params([2, 5], [4, 3], 6)
    x = make_x(3, 9, 6, requires_grad=False)
    grad_out = torch.randn(3, 7)
    want = grads(conv_relu_maxpool_reference(x, weights, biases), weights, grad_out)
    got = grads(conv_relu_maxpool(x, weights, biases), weights, grad_out)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)
    frozen_w, frozen_b = make_params([2, 5], [4, 3], 6, requires_grad=False)
    x.requires_grad_(True)
    (want,) = grads(conv_relu_maxpool_reference(x, frozen_w, frozen_b), [x], grad_out)
    (got,) = grads(conv_relu_maxpool(x, frozen_w, frozen_b), [x], grad_out)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_is_close_to_fp32():
    weights, biases = make_params(PAPER_WIDTHS, PAPER_FILTERS, 64)
    x = make_x(8, 20, 64)
    grad_out = torch.randn(8, sum(PAPER_FILTERS), generator=torch.Generator().manual_seed(5))
    inputs = [x, *weights, *biases]
    ref = conv_relu_maxpool_reference(x, weights, biases)
    want = grads(ref, inputs, grad_out)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv_relu_maxpool(x, weights, biases)
        ref_bf16 = conv_relu_maxpool_reference(x, weights, biases)
    assert out.dtype == torch.bfloat16 == ref_bf16.dtype
    scale = ref.abs().max().item()
    torch.testing.assert_close(out.float(), ref, rtol=0, atol=0.02 * scale)
    got = grads(out, inputs, grad_out.bfloat16())
    for g, r in zip(got, want):
        assert g.dtype == r.dtype
        # A bf16 forward can pick a different arg-max where two windows are within bf16
        # rounding of each other, so compare in norm rather than entry by entry.
        assert (g - r).norm() <= 0.1 * r.norm()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(
            conv_relu_maxpool(x, weights, biases).float(), ref, rtol=0, atol=0.02 * scale
        )


@pytest.mark.parametrize("chunk_size", [1000, 7, 1])
def test_tables_match_conv(chunk_size):
    gen = torch.Generator().manual_seed(7)
    vocab, emb = 50, 64
    embedding = torch.rand(vocab, emb, generator=gen) * 2 - 1
    weights, biases = make_params(PAPER_WIDTHS, PAPER_FILTERS, emb, requires_grad=False)
    tokens = torch.randint(0, vocab, (23, 20), generator=gen)
    want = conv_relu_maxpool(embedding[tokens], weights, biases)
    tables = ConvTables.build(embedding, weights, biases, chunk_size=chunk_size)
    assert tables.nbytes == 4 * vocab * sum(w * f for w, f in zip(PAPER_WIDTHS, PAPER_FILTERS))
    torch.testing.assert_close(tables.pooled(tokens), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tables.pooled(tokens, chunk_size=5), want, rtol=1e-5, atol=1e-5)


def test_tables_subset_of_widths_and_update():
    gen = torch.Generator().manual_seed(8)
    embedding = torch.rand(30, 16, generator=gen) * 2 - 1
    weights, biases = make_params([1, 3, 9], [5, 4, 6], 16, requires_grad=False)
    tokens = torch.randint(0, 30, (9, 9), generator=gen)
    tables = ConvTables(embedding, weights, biases, widths=[1, 3])
    assert tables.nbytes == 4 * 30 * (1 * 5 + 3 * 4)
    want = conv_relu_maxpool(embedding[tokens], weights, biases)
    torch.testing.assert_close(tables.pooled(tokens), want, rtol=1e-5, atol=1e-5)
    # new parameter values: update in place, same memory
    new_w, new_b = make_params([1, 3, 9], [5, 4, 6], 16, seed=9, requires_grad=False)
    new_emb = embedding * 0.5
    ptr = tables.tables[1].data_ptr()
    tables.update(new_emb, new_w, new_b)
    assert tables.tables[1].data_ptr() == ptr
    want = conv_relu_maxpool(new_emb[tokens], new_w, new_b)
    torch.testing.assert_close(tables.pooled(tokens), want, rtol=1e-5, atol=1e-5)


def test_bf16_tables_are_close():
    gen = torch.Generator().manual_seed(11)
    embedding = torch.rand(40, 64, generator=gen) * 2 - 1
    weights, biases = make_params(PAPER_WIDTHS, PAPER_FILTERS, 64, requires_grad=False)
    tokens = torch.randint(0, 40, (6, 20), generator=gen)
    want = conv_relu_maxpool(embedding[tokens], weights, biases)
    tables = ConvTables(embedding, weights, biases, dtype=torch.bfloat16)
    assert tables.nbytes == 2 * 40 * 12500
    got = tables.pooled(tokens)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=0.02 * want.abs().max().item())


def test_bad_inputs_are_rejected():
    weights, biases = make_params([2, 3], [4, 4], 5, requires_grad=False)
    with pytest.raises(ValueError, match="batch, length, embedding"):
        conv_relu_maxpool(torch.zeros(3, 5), weights, biases)
    with pytest.raises(ValueError, match="does not fit"):
        conv_relu_maxpool(torch.zeros(2, 2, 5), weights, biases)  # width 3 > length 2
    with pytest.raises(ValueError, match="does not fit"):
        conv_relu_maxpool(torch.zeros(2, 6, 4), weights, biases)  # wrong embedding size
    with pytest.raises(ValueError, match="one bias per weight"):
        conv_relu_maxpool(torch.zeros(2, 6, 5), weights, biases[:1])
    with pytest.raises(ValueError, match="does not match"):
        conv_relu_maxpool(torch.zeros(2, 6, 5), weights, [torch.zeros(3), torch.zeros(4)])


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
@pytest.mark.parametrize("shape", SHAPES)
def test_one_gemm_path_matches_reference(shape, dtype, tol):
    """The GPU's training path (all widths zero-padded into one GEMM), checked here on the CPU."""
    batch, length, emb, widths, filters = shape
    weights, biases = make_params(widths, filters, emb, dtype)
    x = make_x(batch, length, emb, dtype)
    grad_out = torch.randn(batch, sum(filters), dtype=dtype, generator=torch.Generator().manual_seed(5))
    inputs = [x, *weights, *biases]
    ref = conv_relu_maxpool_reference(x, weights, biases)
    out = conv.conv_relu_maxpool_one_gemm(x, weights, biases)
    assert out.shape == ref.shape and out.dtype == dtype
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    for g, r in zip(grads(out, inputs, grad_out), grads(ref, inputs, grad_out)):
        assert g.shape == r.shape
        torch.testing.assert_close(g, r, rtol=0, atol=tol * max(r.abs().max().item(), 1e-3))


def test_one_gemm_path_ignores_windows_past_the_end():
    # Width 3 reads only its first tap: window p sums x[p]. Of 5 positions only windows 0..2 exist,
    # so the large x[3:] would win the max only through a window past the end (a wrong -inf mask).
    weights, biases = make_params([3, 1], [2, 2], 1, dtype=torch.float64)
    with torch.no_grad():
        weights[0].zero_()
        weights[0][:, :, 0] = 1.0
        weights[1].fill_(1.0)
    x = torch.zeros(1, 5, 1, dtype=torch.float64)
    x[0, 3:, 0] = 100.0
    out = conv.conv_relu_maxpool_one_gemm(x, weights, biases)
    ref = conv_relu_maxpool_reference(x, weights, biases)
    assert ref[0, :2].max() < 1 and ref[0, 2:].min() > 99  # width 1 does see them
    torch.testing.assert_close(out, ref)


def test_sparse_grads_split_ties_beside_a_column_without_maximum():
    """A filter whose window sums are NaN has no maximum; beside a filter with two tied maxima the count of
    maxima equalled B F, so the ties were not split (each got the whole gradient)."""
    torch.manual_seed(0)
    k = 4
    mask = torch.zeros(1, 3, 2, dtype=torch.bool)
    mask[0, [0, 2], 1] = True           # filter 1: tied maxima at positions 0 and 2; filter 0: none (NaN)
    gt, u, rows = torch.ones(2, 1), torch.randn(3, k, dtype=torch.float64), torch.randn(2, k, dtype=torch.float64)
    grad_w, grad_u = conv._grads_sparse(mask, gt.double(), u, rows)
    torch.testing.assert_close(grad_u[0], 0.5 * rows[1])
    torch.testing.assert_close(grad_u[2], 0.5 * rows[1])
    assert not grad_u[1].any()
    torch.testing.assert_close(grad_w[1], 0.5 * (u[0] + u[2]))
