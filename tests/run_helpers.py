"""What several test modules need of a run: hooks that record nothing, and metrics without wall times."""

import json


class Quiet:
    """Training hooks that do nothing (a training function called directly, without a Run)."""

    def step_done(self, phase, step, metrics):
        pass

    def phase_done(self, phase):
        pass


def strip_time(path):
    """The records of a metrics.jsonl without their time/ keys (equal across runs that are equal)."""
    return [{k: v for k, v in json.loads(line).items() if not k.startswith("time/")}
            for line in path.read_text().splitlines()]


def assert_same_checkpoint(a, b, skip=()):
    """Two checkpoints (paths) hold the same weights, optimiser states, RNG states, position and summary, bit for
    bit: everything but wall times (``timings`` and ``*_time_s``) and the top-level entries in ``skip``."""
    import torch

    def same(x, y, where):
        assert type(x) is type(y), f"{where}: {type(x).__name__} vs {type(y).__name__}"
        if isinstance(x, dict):
            keys = {k for k in x.keys() | y.keys() if k != "timings" and not str(k).endswith("time_s")}
            assert {k for k in x if k in keys} == {k for k in y if k in keys}, f"{where}: keys differ"
            for k in sorted(keys, key=str):
                same(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), f"{where}: lengths differ"
            for i, (u, v) in enumerate(zip(x, y)):
                same(u, v, f"{where}[{i}]")
        elif isinstance(x, torch.Tensor):
            assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y), f"{where}: tensors differ"
        else:
            assert x == y, f"{where}: {x!r} vs {y!r}"

    x, y = ({k: v for k, v in torch.load(p, map_location="cpu", weights_only=True).items() if k not in skip}
            for p in (a, b))
    same(x, y, "checkpoint")
