from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ORACLE_PKL = SHARED_DATA / "seqgan_target_params.pkl"
ORACLE_DATA = SHARED_DATA / "seqgan_oracle_real_data.txt"


def pytest_configure(config):
    """Denormals flushed from the start, as every command does (seqgan.precision.flush_denormals): tests
    that call the API directly then compute as the commands, whatever ran before them. Hypothesis draws the
    same examples on every run (no example database, no deadline: a loaded 2-core machine is slow)."""
    from hypothesis import settings

    from seqgan.precision import flush_denormals

    flush_denormals()
    settings.register_profile("seqgan", derandomize=True, deadline=None, database=None)
    settings.load_profile("seqgan")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not present (the authors' files live in ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="module")
def restore_threads():
    """Put torch's thread count back after a module whose runs set it (``--threads 1``)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
