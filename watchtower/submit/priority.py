"""Which fraudulent batch to challenge first (issue 12): the one with the most value at risk
(the withdrawals it claims, which its finalization would let leave the bridge), then the one
whose deadline is nearest. Pure: the service gives the batches and how to weigh them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar


class _HasDeadline(Protocol):
    @property
    def deadline(self) -> int: ...

    @property
    def idx(self) -> int: ...


T = TypeVar("T", bound=_HasDeadline)


def challenge_order(rows: Iterable[T], value_at_risk: Callable[[T], int]) -> list[T]:
    """``rows`` by value at risk (highest first), then deadline (nearest first), then index."""
    return sorted(rows, key=lambda row: (-value_at_risk(row), row.deadline, row.idx))
