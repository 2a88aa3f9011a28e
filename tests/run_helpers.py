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
