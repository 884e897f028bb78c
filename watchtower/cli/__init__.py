"""The ``watchtower`` command line. Thin: parse, call the core, render, choose the exit status.

The commands live in ``replay`` (replay, genesis-root, fill-roots), ``proofs`` (prove,
check-proof), ``conformance``, ``service`` (run, status, withdraw, config), ``challenge`` and
``alerts`` (test, list, retry). Other
distributions add commands through the ``watchtower.commands`` entry-point group
(:data:`COMMANDS_GROUP`): the development package watchtower-dev (dev/) adds devnet, propose,
demo and gen-fixtures. They are loaded when the command line starts, so the runtime never
imports them statically; one that cannot be loaded costs one line on stderr, never the
runtime's own commands.

Exit statuses: 0 success (all valid / all passed), 1 fraud found or conformance failures,
2 unusable input (one line on stderr says what is wrong).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from watchtower import __version__
from watchtower.errors import InputError, UnavailableError, WatchtowerError
from watchtower.failpoints import FailpointSpecError, arm_from_environment
from watchtower.hashing import use_fast_keccak

if TYPE_CHECKING:
    from watchtower.execute.statedb import StateDB

#: The entry-point group through which other distributions add commands to ``watchtower``.
COMMANDS_GROUP = "watchtower.commands"

_F = TypeVar("_F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FRAUD = 1
EXIT_INPUT = 2
#: A service needed at start-up stayed unavailable (sysexits.h EX_TEMPFAIL): restart later.
EXIT_TEMPFAIL = 75

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


#: ``ctx.meta`` key (shared by a context and its children): the running command has ``--json``,
#: so unusable input is also reported as a JSON error object on stdout.
_JSON_ERRORS = "watchtower.json_errors"


def _wants_json_errors() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_JSON_ERRORS))


def _json_error(message: str) -> None:
    """The JSON error object of a ``--json`` command whose input is unusable (exit status 2)."""
    if _wants_json_errors():
        click.echo(json.dumps({"error": message, "status": EXIT_INPUT}))


def _fail(message: str) -> None:
    _json_error(message)
    _err.print(f"error: {message}", markup=False, soft_wrap=True)
    sys.exit(EXIT_INPUT)


#: ``ctx.meta`` key: the raw arguments of the command line (for usage errors found before the
#: ``--json`` flag is processed, e.g. an unknown option).
_ARGV = "watchtower.argv"


def _json_usage(ctx: click.Context) -> bool:
    """Whether a usage error in ``ctx`` is also reported as a JSON error object: the command has
    ``--json`` and it was given."""
    if ctx.meta.get(_JSON_ERRORS):
        return True
    has_json = any(p.name == "as_json" for p in ctx.command.params)
    return has_json and "--json" in ctx.meta.get(_ARGV, ())


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_JSON_ERRORS] = True
    return value


def json_option(help_text: str) -> Callable[[_F], _F]:
    """``--json`` for a command: one JSON document on stdout, also when the input is unusable
    (``{"error": "...", "status": 2}``, with the usual one line on stderr)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,  # before the other parameters, so their usage errors are JSON too
        callback=_remember_json,
        help=help_text,
    )


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for an L1 RPC option: an http(s) URL, refused in one line otherwise."""
    from watchtower.config import http_url

    if value is None:
        return None
    try:
        return http_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _open_state_db(path: Path, *, sync: bool) -> StateDB:
    """The state database at ``path``, or exit 2 naming the directory if it cannot be used
    (not a directory, not writable, not an LMDB database)."""
    import lmdb

    from watchtower.execute.statedb import StateDB

    try:
        return StateDB(path, sync=sync)
    except OSError as exc:
        raise InputError(f"--data-dir {path}: {exc.strerror or exc}") from None
    except lmdb.Error as exc:
        problem = str(exc).removeprefix(f"{path}: ")
        raise InputError(f"--data-dir {path}: not a usable state database ({problem})") from None


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


_HELP_ON_NO_ARGS = click.exceptions.NoArgsIsHelpError


class _UsageLine(click.UsageError):
    """A usage error shown as one line (click's own shows usage, a hint and the error: three).

    README: unusable input exits with status 2 and one line on stderr naming the problem, and
    scripts and log collectors read exactly that line, whatever part of the input was wrong.
    """

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)

    def show(self, file: Any = None) -> None:
        message = " ".join(self.format_message().split()).rstrip(".")
        where = self.ctx.command_path if self.ctx is not None else "watchtower"
        if self.ctx is not None and _json_usage(self.ctx):
            click.echo(json.dumps({"error": message, "status": EXIT_INPUT}))
        _err.print(f"error: {message} (see '{where} --help')", markup=False, soft_wrap=True)


class _Group(click.Group):
    """Turn watchtower's input errors and click's usage errors into one line and exit status 2,
    everywhere (argument parsing of every subcommand happens inside :meth:`invoke`)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        argv = tuple(args)
        try:
            ctx = super().make_context(info_name, args, parent, **extra)
            ctx.meta.setdefault(_ARGV, argv)
            return ctx
        except _HELP_ON_NO_ARGS:
            raise  # a bare `watchtower` (or `watchtower config`) shows the help, unchanged
        except click.UsageError as exc:
            raise _UsageLine(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (_UsageLine, _HELP_ON_NO_ARGS):
            raise
        except click.UsageError as exc:
            raise _UsageLine(exc) from None
        except InputError as exc:
            _fail(str(exc))
        except UnavailableError as exc:
            _err.print(f"error: {exc}", markup=False, soft_wrap=True)
            sys.exit(EXIT_TEMPFAIL)
        except WatchtowerError as exc:
            _fail(str(exc))
        return None


def load_commands(group: click.Group, found: Iterable[EntryPoint]) -> list[str]:
    """Add the commands of ``found`` (entry points naming click commands) to ``group``.

    One that cannot be loaded, is not a click command or would replace a command of the group
    is skipped with one line on stderr. Returns the names added.
    """
    added = []
    for point in found:
        if point.name in group.commands:
            _err.print(
                f"warning: command {point.name!r} from {point.value} ignored: "
                "watchtower has its own",
                markup=False,
            )
            continue
        try:
            command = point.load()
        except Exception as exc:  # a broken plugin never breaks the runtime's own commands
            problem = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            _err.print(
                f"warning: command {point.name!r} unavailable ({point.value}: {problem})",
                markup=False,
            )
            continue
        if not isinstance(command, click.Command):
            _err.print(
                f"warning: command {point.name!r} unavailable ({point.value} is not a command)",
                markup=False,
            )
            continue
        group.add_command(command, point.name)
        added.append(point.name)
    return added


class _MainGroup(_Group):
    """The top-level group: also the commands of other distributions (:data:`COMMANDS_GROUP`),
    loaded once, on the first look-up of a command (that is, when the command line starts)."""

    _plugins_loaded = False

    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            load_commands(self, entry_points(group=COMMANDS_GROUP))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_plugins()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugins()
        return super().list_commands(ctx)


@click.group(cls=_MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="watchtower")
def main() -> None:
    """watchtower: verify an optimistic rollup and prove fraud.

    \b
    Offline (no RPC, no keys):
      watchtower replay fixtures/fraud-wrong-root.json     verify a bundle of batches
      watchtower prove fixtures/fraud-wrong-root.json --batch 1 -o proof.json
                                                          build a fraud proof
      watchtower check-proof proof.json                   re-execute it from its witness alone
                                                          (consistent with the file; add
                                                          --l1-rpc URL --rollup ADDR to
                                                          prove it against the contract)
      watchtower conformance ../shared/conformance/ethereum-tests
                                                          check the EVM engine against
                                                          Ethereum's state tests

    Exit status: 0 all good, 1 fraud found (or conformance failures), 2 unusable input
    (check-proof with --l1-rpc: 3 when the proof does not match the contract).
    """
    use_fast_keccak()
    try:
        arm_from_environment()  # test builds only: WATCHTOWER_FAILPOINTS (watchtower.failpoints)
    except FailpointSpecError as exc:
        _fail(str(exc))


# Register the commands (imported for their side effect on ``main``).
from watchtower.cli import (  # noqa: E402
    alerts,
    challenge,
    channels,
    conformance,
    export,
    ops,
    proofs,
    replay,
    service,
)

__all__ = [
    "COMMANDS_GROUP",
    "alerts",
    "challenge",
    "channels",
    "conformance",
    "export",
    "load_commands",
    "main",
    "ops",
    "proofs",
    "replay",
    "service",
]
