"""Fuzzing: the x402 parsers and payment-header decoders must fail only in a classified way.

``oracles`` holds the properties (shared by the hypothesis tests in
``tests/fuzz`` and the atheris harnesses here); ``fuzz_gateway`` and
``fuzz_mock_api`` are atheris harnesses. Run one for a minute::

    .venv/bin/python fuzz/fuzz_gateway.py -max_total_time=60
    .venv/bin/python fuzz/fuzz_mock_api.py -max_total_time=60

(any libFuzzer flag works: ``-runs=N``, a corpus directory, ``-dict=...``).
``tests/fuzz/test_atheris.py`` runs each for a bounded number of inputs.
"""
