"""``rackshop sandbox simulate``: weeks of a business in minutes, every invariant checked.

Modules: :mod:`.clock` (simulated time, the cron timetable), :mod:`.events` (the seeded event
stream), :mod:`.apply` (events made to happen in the twins), :mod:`.invariants` (what must hold
at each quiet point), :mod:`.runner` (the run), :mod:`.report` (what it found),
:mod:`.userconfig` (a user's config served by the twins).
"""

from rackshop.sandbox.simulate.report import SimReport
from rackshop.sandbox.simulate.runner import SimOptions, run_simulation

__all__ = ["SimOptions", "SimReport", "run_simulation"]
