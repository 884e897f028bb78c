"""The conformance command: run Ethereum state tests against the execution layer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from watchtower.cli import (
    EXIT_FRAUD,
    EXIT_OK,
    _fail,
    json_option,
    main,
)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--fork", default="Cancun", show_default=True, help="Fork key in the test files.")
@click.option("--quiet", "-q", is_flag=True, help="Only failures and the final line.")
@json_option("Print one JSON document (counts and failures) instead of lines.")
def conformance(paths: tuple[Path, ...], fork: str, quiet: bool, as_json: bool) -> None:
    """Run Ethereum GeneralStateTests files through watchtower's own engine.

    PATHS are JSON state-test files or directories searched recursively (default:
    ../shared/conformance/ethereum-tests). Every (test, index) case for FORK runs on the
    project's state database and transition in Ethereum mode; a failing case prints the
    expected and computed state root. Ends with the line `N passed, M failed`.

    Exit status: 0 all passed, 1 any failed, 2 no cases found or unreadable files.

    \b
    Examples:
      watchtower conformance -q ../shared/conformance/ethereum-tests
      watchtower conformance ../shared/conformance/eest-fixtures_eest --fork Prague
    """
    from watchtower.conformance.runner import run_paths

    if not paths:
        paths = (Path("../shared/conformance/ethereum-tests"),)
    passed = failed = 0
    failures: list[dict[str, Any]] = []
    for result in run_paths(list(paths), fork):
        if result.passed:
            passed += 1
            if not quiet and not as_json:
                click.echo(f"ok    {result.case.label}")
            continue
        failed += 1
        case = result.case
        if as_json:
            failures.append(
                {
                    "case": case.label,
                    "expected_root": "0x" + case.expected_root.hex(),
                    "computed_root": "0x" + result.computed_root.hex(),
                    "expected_logs": "0x" + case.expected_logs.hex(),
                    "computed_logs": "0x" + result.computed_logs.hex(),
                    "detail": result.detail or None,
                    "expected_exception": case.expect_exception or None,
                }
            )
            continue
        click.echo(
            f"FAIL  {case.label}\n"
            f"      expected root 0x{case.expected_root.hex()}  logs 0x{case.expected_logs.hex()}\n"
            f"      computed root 0x{result.computed_root.hex()}"
            f"  logs 0x{result.computed_logs.hex()}"
            + (f"\n      tx: {result.detail}" if result.detail else "")
            + (
                f"\n      expected exception: {case.expect_exception}"
                if case.expect_exception
                else ""
            )
        )
    if passed + failed == 0:
        _fail(f"no {fork} state-test cases found under {', '.join(map(str, paths))}")
    if as_json:
        document = {"fork": fork, "passed": passed, "failed": failed, "failures": failures}
        click.echo(json.dumps(document, indent=1))
    else:
        click.echo(f"{passed} passed, {failed} failed")
    sys.exit(EXIT_FRAUD if failed else EXIT_OK)
