"""The ``watchtower`` command line. Thin: parse, call the core, render, choose the exit status.

The commands live in ``offline`` (replay, conformance, prove, check-proof, gen-fixtures),
``rollup`` (devnet, propose) and ``service`` (run, status, withdraw, demo).

Exit statuses: 0 success (all valid / all passed), 1 fraud found or conformance failures,
2 unusable input (one line on stderr says what is wrong).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from watchtower import __version__
from watchtower.errors import InputError, WatchtowerError

EXIT_OK = 0
EXIT_FRAUD = 1
EXIT_INPUT = 2

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> None:
    _err.print(f"error: {message}", markup=False, soft_wrap=True)
    sys.exit(EXIT_INPUT)


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_err, transient=True) as progress:
        yield (progress, progress.add_task(label, total=total))


class _Group(click.Group):
    """Turn watchtower's input errors into one line and exit status 2, everywhere."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            _fail(str(exc))
        except WatchtowerError as exc:
            _fail(str(exc))
        return None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="watchtower")
def main() -> None:
    """watchtower: verify an optimistic rollup and prove fraud.

    \b
    Offline (no RPC, no keys):
      watchtower replay fixtures/fraud-wrong-root.json     verify a bundle of batches
      watchtower prove fixtures/fraud-wrong-root.json --batch 1 -o proof.json
                                                          build a fraud proof
      watchtower check-proof proof.json                   check it from its witness alone
      watchtower conformance ../shared/conformance/ethereum-tests
                                                          check the EVM engine against
                                                          Ethereum's state tests

    Exit status: 0 all good, 1 fraud found (or conformance failures), 2 unusable input.
    """


# Register the commands (imported for their side effect on ``main``).
from watchtower.cli import offline, rollup, service  # noqa: E402

__all__ = ["main", "offline", "rollup", "service"]
