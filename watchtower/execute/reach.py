"""What a state root reaches: the walk over a state's account trie, storage tries and code.

Two users: pruning marks every key a retained root reaches (:func:`mark`, every node must be
there), and a batch commit writes only the new nodes its final state reaches
(:func:`new_keys`: the walk stops at nodes already on disk). Both see the same structure:

* account-trie nodes (branch, extension, leaf; nodes shorter than 32 bytes are embedded in their
  parent, with no key of their own, and are walked in place);
* for each account in a leaf, its storage trie (unless ``BLANK_ROOT``) and its code (unless
  ``EMPTY_CODE_HASH``), stored under the code's hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from watchtower.errors import MissingStateError, StateCorruptionError
from watchtower.execute.trie import decode_node
from watchtower.rollup.params import BLANK_ROOT, EMPTY_CODE_HASH

NodeGetter = Callable[[bytes], bytes | None]

# How an account with no storage and no code ends: [..., BLANK_ROOT, EMPTY_CODE_HASH] in RLP.
_PLAIN_TAIL = b"\xa0" + BLANK_ROOT + b"\xa0" + EMPTY_CODE_HASH


def mark(get: NodeGetter, roots: Iterable[bytes]) -> set[bytes]:
    """Every database key reachable from the account-trie ``roots``: trie nodes of the account
    tries and of every account's storage trie, and the code of every account with code.

    Raises :class:`MissingStateError` if a reachable node is not in the database.
    """
    walker = _Walker(get, complete=True)
    for root in roots:
        walker.walk_trie(root)
    return walker.marked


def new_keys(
    get: NodeGetter, root: bytes, decoded: Callable[[bytes], Any] | None = None
) -> set[bytes]:
    """The keys ``get`` holds (the nodes a batch wrote) that ``root`` reaches without passing
    through a key ``get`` does not hold (a node already on disk, and so is all below it).

    Committing a batch writes these and no others: the nodes of the intermediate step states
    are needed only until the batch is committed (a prover replays a batch from its
    ``prev_root``), and would otherwise be written and left for pruning. ``decoded``: a cache
    of decoded nodes by hash (returning None for a node it does not hold), to skip decoding.
    """
    walker = _Walker(get, complete=False, decoded=decoded)
    walker.walk_trie(root)
    return walker.marked


class _Walker:
    """A depth-first walk with an explicit stack (tries can be deep). ``complete``: every node
    must be found (marking); otherwise a missing node ends that branch of the walk."""

    def __init__(
        self, get: NodeGetter, *, complete: bool, decoded: Callable[[bytes], Any] | None = None
    ) -> None:
        self.get = get
        self.decoded = decoded
        self.complete = complete
        self.marked: set[bytes] = set()
        # (node hash, whether it is in an account trie)
        self.todo: list[tuple[bytes, bool]] = []
        self.root = b""

    def walk_trie(self, root: bytes) -> None:
        self.root = root
        self.todo.append((root, True))
        while self.todo:
            ref, accounts = self.todo.pop()
            if ref in self.marked:
                continue
            raw = self.get(ref)
            if raw is None:
                if ref == BLANK_ROOT or not self.complete:
                    continue  # the empty trie needs no node; or the node is already stored
                raise MissingStateError(root, f"trie node 0x{ref.hex()} under it is missing")
            self.marked.add(ref)
            if ref != BLANK_ROOT:
                node = None if self.decoded is None else self.decoded(ref)
                self.node(decode_node(raw) if node is None else node, accounts)

    def node(self, node: object, accounts: bool) -> None:
        """Queue the children of one decoded node; walk embedded children in place."""
        if not isinstance(node, list):
            raise self.corrupt("a trie node is not a list")
        if len(node) == 17:
            for child in node[:16]:
                self.child(child, accounts)
            if node[16] and accounts:
                self.account(node[16])
        elif len(node) == 2:
            path = node[0]
            if not isinstance(path, bytes) or not path:
                raise self.corrupt("a trie node has a bad path")
            if path[0] >> 4 >= 2:  # a leaf (hex-prefix flag 2 or 3)
                if accounts:
                    self.account(node[1])
            else:
                self.child(node[1], accounts)
        elif node:
            raise self.corrupt(f"a trie node has {len(node)} items, expected 2 or 17")

    def child(self, child: object, accounts: bool) -> None:
        if isinstance(child, list):
            self.node(child, accounts)  # embedded
        elif isinstance(child, bytes) and len(child) == 32:
            self.todo.append((child, accounts))

    def account(self, value: object) -> None:
        if not self.complete and isinstance(value, bytes) and value.endswith(_PLAIN_TAIL):
            return  # no storage, no code (the last two fields are fixed-size): nothing below
        fields = decode_node(value) if isinstance(value, bytes) else None
        if not isinstance(fields, list) or len(fields) != 4:
            raise self.corrupt("an account is not [nonce, balance, storage_root, code_hash]")
        storage_root, code_hash = fields[2], fields[3]
        if storage_root != BLANK_ROOT:
            self.todo.append((storage_root, False))
        if code_hash != EMPTY_CODE_HASH and code_hash not in self.marked:
            if self.get(code_hash) is None:
                if self.complete:
                    raise MissingStateError(
                        self.root, f"code 0x{code_hash.hex()} under it is missing"
                    )
                return
            self.marked.add(code_hash)

    def corrupt(self, problem: str) -> StateCorruptionError:
        return StateCorruptionError(f"state root 0x{self.root.hex()}: {problem}")


__all__ = ["NodeGetter", "mark", "new_keys"]
