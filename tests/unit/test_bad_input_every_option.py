"""Every value-taking option of every command, the development ones included, given a bad value:
one line on stderr, exit status 2, never a traceback (issue 14).

The named cases of ``test_bad_input.py`` check the exact message of each; this file makes sure
no option is left out. An option those cases do not reach gets a generated case here: a value
its type refuses (a word for a number or a choice, a missing file, a negative count), or, for a
free-form option (an address, a URL, a variable name), a value no command accepts. The other
options the command requires are given harmless values pointing at a closed local port, so the
command fails on the bad value or on the node, in one line either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.unit.test_bad_input import CASES, UNREACHABLE, assert_one_line_error
from watchtower.cli import main

ADDRESS = "0x" + "11" * 20
#: Commands that retry an unreachable node for minutes by design (their own tests cover them).
SLOW = {"run"}


def _commands(group: click.Group, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            yield from _commands(command, [*path, name])
        else:
            yield [*path, name], command


def _all_commands() -> list[tuple[list[str], click.Command]]:
    main._load_plugins()  # type: ignore[attr-defined]
    return list(_commands(main, []))


def _value_options(command: click.Command) -> list[click.Option]:
    return [
        p
        for p in command.params
        if isinstance(p, click.Option) and not p.is_flag and not p.count and p.name != "help"
    ]


def _covered(path: list[str], option: click.Option) -> bool:
    for argv, _env, _fragments in CASES.values():
        if argv[: len(path)] != path:
            continue
        if any(a in option.opts or any(a.startswith(o + "=") for o in option.opts) for a in argv):
            return True
    return False


def _bad_value(option: click.Option, tmp: Path) -> str:
    kind = option.type
    if isinstance(kind, click.Choice):
        return "no-such-choice"
    if isinstance(kind, click.IntRange | click.FloatRange):
        return "-1" if kind.min is not None and kind.min >= 0 else "not-a-number"
    if kind in (click.INT, click.FLOAT) or isinstance(kind, click.types.IntParamType):
        return "not-a-number"
    if isinstance(kind, click.Path):
        if kind.exists:
            return str(tmp / "missing" / "nothing.json")
        return str(tmp / "a-directory-not-a-file")  # made a directory below
    return "0xnot-valid\x7f"


def _filler(option: click.Option, tmp: Path) -> str:
    name = option.name or ""
    if "rpc" in name or "url" in name:
        return UNREACHABLE
    if name in ("rollup", "contract", "to", "account", "signer", "guardian", "peer"):
        return ADDRESS
    if isinstance(option.type, click.Path):
        path = tmp / f"filler-{name}.json"
        path.write_text("{}")
        return str(path)
    if isinstance(option.type, click.IntRange | click.FloatRange) or option.type in (
        click.INT,
        click.FLOAT,
    ):
        return "1"
    if isinstance(option.type, click.Choice):
        return str(option.type.choices[0])
    if name.endswith("_env"):
        return "WT_TEST_UNSET_VARIABLE"
    return "1"


def _uncovered() -> list[tuple[str, list[str], str]]:
    out = []
    for path, command in _all_commands():
        if path[0] in SLOW:
            continue
        for option in _value_options(command):
            if not _covered(path, option):
                out.append((" ".join(path) + " " + option.opts[0], path, option.opts[0]))
    return out


UNCOVERED = _uncovered()

#: Generated cases whose command refuses in one line before it reads the option's value: the
#: option only matters once a key, a companion option or a store is there (e.g. a password
#: variable without a keystore, a wallets file before the key that opens it). They still show
#: the command never tracebacks; the others must name the option they refuse.
REFUSED_EARLIER = frozenset({
    "alerts list --data-dir",
    "alerts retry --data-dir",
    "alerts retry --sink",
    "bond --password-env",
    "challenge --password-env",
    "channel close --wallets",
    "channel open --wallets",
    "channel pay --wallets",
    "channel pay --peer-key-env",
    "channel request --wallets",
    "channel request --reward",
    "channel request --guardian",
    "channel settle --wallets",
    "channel withdraw --wallets",
    "check-proof --rollup",
    "chequebook cash --wallets",
    "chequebook cheque --wallets",
    "chequebook withdraw --wallets",
    "claim --rollup",
    "claim --password-env",
    "conformance --fork",
    "deposit --rollup",
    "deposit --password-env",
    "finalize --key-env",
    "finalize --password-env",
    "l2-withdraw --rollup",
    "l2-withdraw --data-dir",
    "l2-withdraw --password-env",
    "payment-channel claim --wallets",
    "payment-channel open --wallets",
    "payment-channel open --key-env",
    "payment-channel pay --wallets",
    "payment-channel pay --recipient-key-env",
    "payment-channel reclaim --wallets",
    "propose --password-env",
    "withdraw --password-env",
})  # fmt: skip


def test_every_value_option_of_every_command_has_a_case() -> None:
    total = sum(len(_value_options(c)) for p, c in _all_commands() if p[0] not in SLOW)
    assert total > 200  # the walk found the commands, the development ones included
    assert len(UNCOVERED) < total  # most options have a named case with its exact message
    assert {u[0] for u in UNCOVERED} >= REFUSED_EARLIER  # no stale entry


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "path", "opt"), UNCOVERED, ids=[u[0] for u in UNCOVERED])
def test_a_bad_value_for_the_option_is_one_line(
    name: str, path: list[str], opt: str, tmp_path: Path
) -> None:
    (tmp_path / "a-directory-not-a-file").mkdir()
    command = {" ".join(p): c for p, c in _all_commands()}[" ".join(path)]
    option = next(o for o in _value_options(command) if o.opts[0] == opt)
    argv = [*path]
    for other in _value_options(command):
        if other.required and other is not option:
            argv += [other.opts[0], _filler(other, tmp_path)]
    for param in command.params:  # required arguments get a file that is not what they want
        if isinstance(param, click.Argument) and param.required:
            argv.append(str(tmp_path / "a-directory-not-a-file"))
    argv += [opt, _bad_value(option, tmp_path)]
    result = CliRunner().invoke(
        main, argv, env={"WT_TEST_UNSET_VARIABLE": None}, prog_name="watchtower"
    )
    assert isinstance(result.exception, SystemExit), (name, result.exception, result.output)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, ())
    if name not in REFUSED_EARLIER:
        assert opt in result.stderr, (name, result.stderr)
