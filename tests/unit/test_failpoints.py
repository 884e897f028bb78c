"""Failpoints: the list of names cannot rot, a bad specification is refused, ``kill@N`` kills on
the N-th hit with a real SIGKILL, and a disarmed failpoint costs about nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import watchtower
from watchtower.failpoints import ENV, KNOWN, Armed, FailpointSpecError, parse

PACKAGE = Path(watchtower.__file__).parent
CALL = re.compile(r"""\bfailpoint\(\s*(?P<arg>[^)]*?)\s*\)""")
LITERAL = re.compile(r"""^"(?P<name>[a-z0-9_.]+)"$""")


def _calls() -> tuple[Counter[str], list[str]]:
    """Names of every ``failpoint(...)`` call in the package, and calls without a literal name."""
    names: Counter[str] = Counter()
    dynamic: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "failpoints.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in CALL.finditer(line):
                literal = LITERAL.match(match["arg"])
                if literal is None:
                    dynamic.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
                else:
                    names[literal["name"]] += 1
    return names, dynamic


def test_every_known_name_is_in_the_source_exactly_once() -> None:
    names, dynamic = _calls()
    assert dynamic == [], "failpoint names must be string literals"
    assert len(set(KNOWN)) == len(KNOWN), "KNOWN lists a name twice"
    assert sorted(set(names) - set(KNOWN)) == [], "failpoints in the source but not in KNOWN"
    assert {name: names[name] for name in KNOWN if names[name] != 1} == {}, (
        "every KNOWN failpoint appears exactly once (0: gone from the source, 2+: ambiguous)"
    )
    assert len(KNOWN) >= 15


def test_parse() -> None:
    assert parse("") == {}
    assert parse(" , ") == {}
    assert parse("scan.fetched=kill") == {"scan.fetched": Armed("kill", 1)}
    assert parse("replay.step=kill@12, outbox.sent=kill") == {
        "replay.step": Armed("kill", 12),
        "outbox.sent": Armed("kill", 1),
    }


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("scan.fetchd=kill", "unknown failpoint 'scan.fetchd' (known: scan.before_get_logs"),
        ("nowhere=kill", "unknown failpoint 'nowhere'"),
        ("scan.fetched", "'scan.fetched' is not NAME=ACTION[@N]"),
        ("scan.fetched=", "is not NAME=ACTION[@N]"),
        ("scan.fetched=explode", "unknown action 'explode'"),
        ("scan.fetched=kill@0", "@0 is not a hit number"),
        ("scan.fetched=kill@x", "@x is not a hit number"),
        ("scan.fetched=kill,scan.fetched=kill@2", "given twice"),
    ],
)
def test_a_bad_specification_is_refused_in_one_line(spec: str, says: str) -> None:
    with pytest.raises(FailpointSpecError) as caught:
        parse(spec)
    message = str(caught.value)
    assert says in message
    assert message.startswith(ENV + ": ")
    assert "\n" not in message


def _python(code: str, spec: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ENV: spec}
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_importing_reads_nothing_from_the_environment() -> None:
    done = _python(
        "import watchtower.failpoints as f, watchtower.cli; print(f.armed())", "scan.fetchd=kill"
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "{}", "")


def test_an_unknown_name_in_the_environment_stops_the_cli_in_one_line() -> None:
    env = {**os.environ, ENV: "scan.fetchd=kill"}
    done = subprocess.run(
        [sys.executable, "-m", "watchtower", "replay", "--help"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()]  # one line, no traceback
    assert done.stderr.startswith("error: WATCHTOWER_FAILPOINTS: unknown failpoint 'scan.fetchd'")


def test_kill_at_the_nth_hit_is_a_real_sigkill() -> None:
    code = (
        "import atexit\n"
        "from watchtower.failpoints import arm_from_environment, failpoint\n"
        "arm_from_environment()\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "for i in range(6):\n"
        "    failpoint('scan.fetched')  # not armed: never counted\n"
        "    print(i, flush=True)\n"
        "    failpoint('replay.step')\n"
        "print('survived', flush=True)\n"
    )
    done = _python(code, "replay.step=kill@3")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["0", "1", "2"]  # died in the 3rd hit; no atexit handler ran
    (line,) = done.stderr.splitlines()
    hit = json.loads(line)
    assert hit["event"] == "failpoint_hit"
    assert (hit["name"], hit["hit"], hit["action"]) == ("replay.step", 3, "kill")
