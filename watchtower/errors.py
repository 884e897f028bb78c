"""One error hierarchy for the whole package.

Finding fraud is *not* an error: it is a :class:`~watchtower.rollup.types.Verdict`.
Exceptions are for input that cannot be used and data that is unavailable::

    WatchtowerError                    root; every message is one line naming what is wrong
    ├── InputError                     the user's input cannot be used (CLI exit status 2)
    │   ├── RequestError               a monitoring request (channels.md §5) is malformed
    ├── UnavailableError               a service needed at start-up stayed down (CLI exit 75)
    │   ├── BundleError                an offline bundle is malformed or inconsistent
    │   ├── MalformedBatchError        batch bytes break the batch encoding (protocol.md §4.1)
    │   ├── GenesisError               a genesis allocation breaks protocol.md §2
    │   └── ConformanceFixtureError    a state-test file cannot be read
    ├── StateError                     the state database
    │   ├── MissingStateError          a root, or a trie node under it, is not in the database
    │   └── StateCorruptionError       stored data contradicts itself
    └── TransitionInvariantError       py-evm disagreed with the rollup rules (a bug, never input)
"""

from __future__ import annotations


class WatchtowerError(Exception):
    """Root of every error raised on purpose by watchtower."""


def one_line(exc: BaseException, limit: int = 500) -> str:
    """``exc`` as one line for a log or an alert: our own messages as they are, anything else
    (a library's) prefixed with its type; whitespace folded, at most ``limit`` characters."""
    text = str(exc) if isinstance(exc, WatchtowerError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:limit]


class InputError(WatchtowerError):
    """Input given to watchtower cannot be used."""


class UnavailableError(WatchtowerError):
    """Something needed at start-up (the L1 nodes) stayed unavailable: nothing is wrong with
    the input, and trying again later may work (CLI exit status 75, EX_TEMPFAIL, which
    supervisors restart)."""


class BundleError(InputError):
    """An offline bundle is malformed or inconsistent."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"bundle {where}: {problem}")


class MalformedBatchError(InputError):
    """Batch bytes break the batch encoding of protocol.md §4.1."""

    def __init__(self, offset: int, problem: str) -> None:
        self.offset = offset
        self.problem = problem
        super().__init__(f"malformed batch at byte {offset}: {problem}")


class GenesisError(InputError):
    """A genesis allocation breaks the rules of protocol.md §2."""


class ConformanceFixtureError(InputError):
    """A state-test fixture file cannot be read."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class StateError(WatchtowerError):
    """A problem with the state database."""


class MissingStateError(StateError):
    """A state root, or a trie node below it, is not in the database."""

    def __init__(self, root: bytes, detail: str = "") -> None:
        self.root = root
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"state root 0x{root.hex()} is not in the state database{suffix}")


class StateCorruptionError(StateError):
    """Stored state data contradicts itself."""


class TransitionInvariantError(WatchtowerError):
    """py-evm rejected or mis-executed a step that the rollup rules accepted.

    This means the Python layer and the EVM disagree about protocol.md; it is a bug, never
    the proposer's fault, so it is surfaced instead of being turned into a verdict.
    """

    def __init__(self, batch: int | None, step: int | None, tx_hash: bytes, problem: str) -> None:
        self.batch = batch
        self.step = step
        self.tx_hash = tx_hash
        self.problem = problem
        super().__init__(
            f"batch {batch} step {step} tx 0x{tx_hash.hex()}: rollup rules accepted the "
            f"transaction but the EVM did not: {problem}"
        )


class RequestError(InputError):
    """A monitoring request (docs/channels.md §5) is malformed: ``where`` is the JSON path."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"monitoring request {where}: {problem}")
