"""``autopay harness`` and ``autopay mock-api``: the two services, mounted from their packages.

The CLI is the one place allowed to compose every package (DESIGN.md).
"""

from __future__ import annotations

from harness.cli import harness_cli
from mock_premium_api.cli import mock_api_cli

COMMANDS = {"harness": harness_cli, "mock-api": mock_api_cli}
