"""``rackshop check --contract``: prove every assumption the enabled jobs make about the live APIs.

rackshop is tested against its twins, and where the public record on Rackbeat is thin the twin
encodes a choice (``docs/sandbox-rackbeat.md``, "Choices where the public record is unsure").
This module probes the user's own accounts for each of those choices, with read calls only
(``--write-probes`` adds one scratch draft order, shown and confirmed first), and prints one row
per assumption: what rackshop expects, what the account answered, and a verdict:

* ``ok``: the account behaves as assumed;
* ``differs: using <fallback>``: it does not, and rackshop has an alternative that stays correct
  (the row says what it costs);
* ``differs: job X cannot run``: it does not and there is no alternative: the job would write
  wrong data or fail, so ``check --contract`` exits :attr:`~rackshop.errors.ExitCode.CONTRACT`;
* ``cannot tell``: the account holds nothing to test it with (say, no customer with an e-mail).

What was observed is recorded in the state store (table ``contract``); jobs read it back with
:func:`~rackshop.contract.recorded.load` and adapt (:mod:`rackshop.contract.recorded`:
per-location availability computed from per-location stock and booked order lines; a refused
report filter paged and filtered locally; the customer look-up; page size and pacing).
Every probe is listed in ``docs/contract.md``.

The modules: :mod:`~rackshop.contract.run` (one run: every probe the enabled jobs need),
:mod:`~rackshop.contract.rackbeat_probes`, :mod:`~rackshop.contract.shopify_probes`,
:mod:`~rackshop.contract.write_probes`, :mod:`~rackshop.contract.report` (probes, verdicts,
the report) and :mod:`~rackshop.contract.recorded` (what the jobs read back).
"""
