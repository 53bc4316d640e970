"""Two fixed seeds × one simulated day of ``rackshop sandbox simulate``, with faults, killed and
overlapping passes: every invariant holds (the CI seeds of the issue; ``bench/simulate.py`` runs
20 seeds × 3 days).

A failure prints the first violation of each kind with the events that touched its record;
``rackshop sandbox simulate --seed S --days 1 --shops 2 --products 24 --faults 0.05`` replays it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rackshop.sandbox.simulate import SimOptions, run_simulation


@pytest.mark.timeout(900)  # about 50 s of CPU; a busy CI machine stretches it
@pytest.mark.parametrize("seed", [3, 7])
def test_a_simulated_day_with_faults_holds_every_invariant(seed: int, tmp_path: Path) -> None:
    report = run_simulation(SimOptions(seed=seed, days=1, shops=2, faults=0.05, products=24),
                            tmp_path)
    assert report.completed_days == 1
    broken = {name: days for name, days in report.violations.items() if any(days)}
    firsts = "\n".join(f"{f.invariant}: {f.record}: {f.detail}; events: {f.events}"
                       for f in report.first)
    assert broken == {}, firsts
    # the day was a real one: orders, passes, and the operations the faults bring
    assert report.events >= 100 and report.passes >= 400
    assert report.kills + report.overlaps >= 1
