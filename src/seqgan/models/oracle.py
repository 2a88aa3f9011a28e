"""The synthetic oracle: an LSTM of G's shape with N(0, 1) parameters (paper, Section 4.1).

By default a fresh oracle is drawn from the seed. The authors' oracle (``target_params.pkl``, a
Python-2 pickle of 15 float32 arrays) is loaded by an unpickler that allows numpy array
reconstruction and nothing else: any other global in the file is refused before it can run.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from seqgan.errors import SeqGANError
from seqgan.models.generator import Generator
from seqgan.seeding import hash_seed

# The authors' order: emb, (Wi, Ui, bi), (Wf, Uf, bf), (Wog, Uog, bog), (Wc, Uc, bc), Wo, bo.
PARAM_NAMES = ("emb", "Wi", "Ui", "bi", "Wf", "Uf", "bf", "Wog", "Uog", "bog", "Wc", "Uc", "bc", "Wo", "bo")


def make_oracle(vocab_size: int, emb_dim: int, hidden_dim: int, seq_len: int, start_token: int = 0,
                init_std: float = 1.0, seed: int = 0) -> Generator:
    """A fresh oracle: every parameter ~ N(0, init_std) (paper: 1.0), drawn from a stream of its own
    (``hash_seed("oracle", seed)``) so the oracle does not depend on anything else the run draws, nor
    the run on it: seeded with ``seed`` itself, a G built next from ``torch.manual_seed(seed)`` made the
    same draws, and started as the oracle times g_init_std / init_std."""
    rng_state = torch.random.get_rng_state()
    try:  # the CPU generator only: torch.manual_seed would also re-seed every CUDA device, giving each
        torch.random.default_generator.manual_seed(hash_seed("oracle", seed))  # torchrun rank one CUDA stream
        oracle = Generator(vocab_size, emb_dim, hidden_dim, seq_len, start_token, init_std=init_std)
    finally:
        torch.random.set_rng_state(rng_state)
    return oracle.requires_grad_(False).eval()


def _numpy_global(module: str, name: str):
    """The three globals a pickled numpy array needs, under the numpy 1 and numpy 2 module names."""
    allowed = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }
    if (module, name) not in allowed:
        return None
    if name == "ndarray":
        return np.ndarray
    if name == "dtype":
        return np.dtype
    core = getattr(np, "_core", None) or np.core
    return core.multiarray._reconstruct


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except numpy array reconstruction (never unpickle untrusted data)."""

    def find_class(self, module: str, name: str):
        obj = _numpy_global(module, name)
        if obj is None:
            raise SeqGANError(
                f"refusing to load: the pickle names the global {module}.{name}, but an oracle file may "
                "only hold numpy arrays (numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype). "
                "Pass the authors' target_params.pkl, or leave --oracle-params out to use a fresh oracle."
            )
        return obj


def load_authors_params(path: str | Path) -> list[np.ndarray]:
    """Read the authors' pickle safely: a list of 15 float arrays, checked for shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SeqGANError(f"oracle file {path} does not exist; check --oracle-params") from None
    except OSError as exc:
        raise SeqGANError(f"cannot read oracle file {path}: {exc}") from None
    try:
        params = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except SeqGANError:
        raise
    except Exception as exc:  # truncated or corrupt bytes raise many different types
        raise SeqGANError(
            f"oracle file {path} is not a readable pickle ({type(exc).__name__}: {exc}); "
            "expected the authors' target_params.pkl"
        ) from None
    if not isinstance(params, list) or len(params) != 15 or not all(isinstance(p, np.ndarray) for p in params):
        raise SeqGANError(f"oracle file {path} must hold a list of 15 numpy arrays ({', '.join(PARAM_NAMES)})")
    for name, a in zip(PARAM_NAMES, params):  # biases are vectors, the rest matrices, all of real numbers
        if a.dtype.kind != "f" or a.ndim != (1 if name.startswith("b") else 2):
            raise SeqGANError(f"oracle file {path}: {name} is a {a.ndim}-d array of {a.dtype}; expected "
                              f"{'a vector' if name.startswith('b') else 'a matrix'} of floats, as the authors' "
                              "target_params.pkl holds")
    return params


def oracle_from_authors_params(params: list[np.ndarray], seq_len: int, start_token: int = 0) -> Generator:
    """Map the authors' separate-gate LSTM onto ``nn.LSTM``.

    Authors: i, f, o = sigmoid(x W + h U + b), c~ = tanh(x W_c + h U_c + b_c), logits = h W_o + b_o
    (row vectors). PyTorch: rows of ``weight_ih`` are the gates in order (i, f, g, o), column-vector
    convention, so each block is the transpose of the authors' matrix."""
    p = dict(zip(PARAM_NAMES, params))
    vocab, emb = p["emb"].shape
    hidden = p["Ui"].shape[0]
    expected = {"emb": (vocab, emb), "Wo": (hidden, vocab), "bo": (vocab,)}
    for gate in ("i", "f", "og", "c"):
        expected |= {f"W{gate}": (emb, hidden), f"U{gate}": (hidden, hidden), f"b{gate}": (hidden,)}
    for name, shape in expected.items():
        if p[name].shape != shape:
            raise SeqGANError(f"oracle parameter {name} has shape {p[name].shape}, expected {shape}")
    if not all(np.isfinite(a).all() for a in params):
        raise SeqGANError("oracle parameters contain NaN or infinity")
    t = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in p.items()}
    oracle = Generator(vocab, emb, hidden, seq_len, start_token)
    with torch.no_grad():
        oracle.embedding.weight.copy_(t["emb"])
        oracle.lstm.weight_ih_l0.copy_(torch.cat([t["Wi"], t["Wf"], t["Wc"], t["Wog"]], dim=1).t())
        oracle.lstm.weight_hh_l0.copy_(torch.cat([t["Ui"], t["Uf"], t["Uc"], t["Uog"]], dim=1).t())
        oracle.lstm.bias_ih_l0.copy_(torch.cat([t["bi"], t["bf"], t["bc"], t["bog"]]))
        oracle.lstm.bias_hh_l0.zero_()
        oracle.output.weight.copy_(t["Wo"].t())
        oracle.output.bias.copy_(t["bo"])
    return oracle.requires_grad_(False).eval()


def load_oracle(path: str | Path, seq_len: int, start_token: int = 0) -> Generator:
    return oracle_from_authors_params(load_authors_params(path), seq_len, start_token)
