"""Checks shared by the crash tests: a state database that survived a crash must be whole."""

from __future__ import annotations

from collections.abc import Mapping

import rlp

from watchtower.execute.statedb import StateDB


def reachable_nodes_present(db: StateDB, root: bytes) -> int:
    """Walk the whole trie under ``root``; every referenced node must be on disk. Returns the
    number of nodes walked."""
    seen = 0
    todo = [root]
    while todo:
        ref = todo.pop()
        raw = db.get_node(ref)
        assert raw is not None, f"node 0x{ref.hex()} under root 0x{root.hex()} is missing"
        seen += 1
        node = rlp.decode(raw)
        children = node[:16] if len(node) == 17 else [node[1]] if node[0][0] >> 4 < 2 else []
        todo.extend(c for c in children if isinstance(c, bytes) and len(c) == 32)
    return seen


def check_state_chain(db: StateDB, finals: Mapping[int, bytes] | None = None) -> int:
    """The batch records chain from genesis (each ``prev_root`` is the previous ``final_root``),
    with no gap in the indices, the head is the last record, each final root is the expected
    one (``finals``, where given) and every node under the head root is on disk. Returns the
    number of batch records."""
    genesis = db.genesis_root()
    assert genesis is not None, "the state database has no genesis"
    previous = genesis
    records = list(db.batches())
    for expected_index, record in enumerate(records):
        assert record.index == expected_index, f"batch records skip to {record.index}"
        assert record.prev_root == previous, f"batch {record.index} does not chain"
        if finals is not None and record.index in finals:
            assert record.final_root == finals[record.index], f"batch {record.index}: final root"
        previous = record.final_root
    head = db.head()
    assert (head.index if head is not None else None) == (records[-1].index if records else None)
    assert db.head_root() == previous
    assert reachable_nodes_present(db, previous) > 1
    return len(records)
