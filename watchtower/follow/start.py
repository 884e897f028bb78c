"""Where a first sync starts, and what of it is history.

* :func:`deployment_block` finds the rollup contract's deployment block by a binary search on
  its code over block numbers (``eth_getCode`` at a block: about log2(head) requests), so that a
  first sync on a long chain does not scan the blocks before the contract existed.
* :data:`HISTORY_KINDS` are the alerts about the past: on a first sync, those about an L1 block
  up to the head at start-up are recorded and logged (``history_event``), not paged. Everything
  that still needs action stays an alert whenever it happened (docs/operations.md, "First sync").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

#: Events that are over once they are on L1: another party's slashing of a proposer (its batches
#: are rejected, nothing is left to do) and a withdrawal claim already paid out (the money left).
#: Not history, whenever it happened: fraud in a batch (``fraud_detected``: in its window it must
#: be challenged), unreadable batches and halted verification (in the window), overdue deposits,
#: conservation, the signer's balance, stalls and endpoint disagreements (conditions that hold
#: now), and everything the challenger raises.
HISTORY_KINDS: Final = frozenset({"proposer_slashed", "withdrawal_forged"})


def deployment_block(has_code: Callable[[int], bool], head: int) -> int:
    """The first block at whose end the contract has code, searching blocks 0..``head`` (the
    contract has code at ``head``: the service checked it at start-up). ``has_code`` may raise
    (a node without the old state): the caller decides."""
    if head <= 0 or has_code(0):
        return 0
    without, with_code = 0, head  # no code at the end of `without`, code at the end of `with_code`
    while with_code - without > 1:
        middle = (without + with_code) // 2
        if has_code(middle):
            with_code = middle
        else:
            without = middle
    return with_code
