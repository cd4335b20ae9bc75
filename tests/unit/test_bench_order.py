"""``autopay bench``: the four clients take turns so none always follows the same one."""

from __future__ import annotations

from collections import Counter

from autopay_app.devtools.bench.agent import CLIENTS, _order


def test_each_client_follows_each_other_equally_often() -> None:
    names = list(CLIENTS)
    follows: Counter[tuple[str, str]] = Counter()
    for i in range(24):
        order = _order(names, i)
        assert sorted(order) == sorted(names)  # every client once per round
        follows.update(zip(order, order[1:], strict=False))
    assert len(follows) == len(names) * (len(names) - 1)
    assert len(set(follows.values())) == 1
