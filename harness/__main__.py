"""``python -m harness``: the harness command line."""

from harness.cli import harness_cli

if __name__ == "__main__":
    harness_cli(prog_name="python -m harness")
