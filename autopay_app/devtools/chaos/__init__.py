"""Chaos: the full stack under seeded random faults, and the verdict from chain and ledger."""
