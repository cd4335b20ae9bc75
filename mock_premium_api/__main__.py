"""``python -m mock_premium_api [--port N] [bench]``."""

from .cli import mock_api_cli

if __name__ == "__main__":
    mock_api_cli(prog_name="mock_premium_api")
