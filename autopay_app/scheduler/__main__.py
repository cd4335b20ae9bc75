"""``python -m autopay_app.scheduler``: the same as ``autopay scheduler``.

Configured by the same environment as ``autopay``; see :mod:`.process`.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autopay_app.scheduler")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it is gone")
    parser.add_argument("--seconds", type=float, default=None, help="exit after this long")
    args = parser.parse_args(argv)

    from autopay_app import create_app
    from autopay_app.errors import AutopayError
    from autopay_app.scheduler.process import run

    try:
        app = create_app()
    except AutopayError as exc:
        print(f"autopay scheduler: {exc}", file=sys.stderr)
        return 2
    return run(app, parent_pid=args.parent_pid, seconds=args.seconds)


if __name__ == "__main__":
    sys.exit(main())
