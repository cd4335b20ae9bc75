"""Tooling for developers and operators: never imported by product code.

- ``bench``: the benchmarks behind ``autopay bench`` (agent, ledger,
  dashboard, prioritizer);
- ``chaos``: ``autopay chaos``, the stack under seeded faults and the verdict
  from chain and ledger;
- ``seed``: demo data for ``autopay seed``; ``samples``: sample x402 documents,
  signatures and addresses for the seed, the benchmarks and the tests;
- ``secret_scan``: looks for keys and plaintext session tokens in dumps and
  logs (``python -m autopay_app.devtools.secret_scan``);
- ``scratch``: scratch databases (create, migrate, drop) for the tests, the
  benchmarks and the chaos run;
- ``progress``: progress bars on stderr.

Only the CLI (:mod:`autopay_app.cli`), which composes everything, and the tests
import these modules (``tests/unit/architecture`` checks it).
"""
