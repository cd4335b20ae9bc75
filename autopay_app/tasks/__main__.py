"""``python -m autopay_app.tasks [options]``: the same as ``autopay worker [options]``."""

from __future__ import annotations

import sys

from autopay_app.cli import main

if __name__ == "__main__":
    sys.argv = ["autopay", "worker", *sys.argv[1:]]
    main()
