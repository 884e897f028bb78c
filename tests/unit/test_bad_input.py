"""Bad command-line arguments, files and configuration values: one clear line, exit status 2.

README: "2 unusable input, with one line on stderr that names the problem". Every command that
takes input is run with many bad inputs, through click's ``CliRunner`` (the real ``main``) and,
for a few, as a real ``python -m watchtower`` process (the installed entry point, and inputs that
used to kill the interpreter outright). Each must exit with status exactly 2, print exactly one
non-empty line on stderr starting with ``error:`` that names the offending option, value or file,
and no traceback anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import FIXTURES, ROOT
from watchtower.cli import main

ADDRESS = "0x" + "11" * 20
UNREACHABLE = "http://127.0.0.1:1"
GENESIS = str(FIXTURES / "honest.json")  # a bundle: run uses its genesis
RUN_UNREACHABLE = ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--genesis", GENESIS,
                   "--data-dir", "{tmp}/run-data"]  # fmt: skip
#: A proposer key for the propose cases that get past the key check (a public test key).
PROPOSER_ENV = {"WT_TEST_PROPOSER_KEY": "0x" + "42" * 32}
PROPOSE_KEY = ["--key-env", "WT_TEST_PROPOSER_KEY"]


def assert_one_line_error(code: int, stdout: str, stderr: str, fragments: tuple[str, ...]) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (code, stdout, stderr)
    assert len(lines) == 1, stderr
    assert stderr.strip() == lines[0].strip()
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in stdout + stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ---------------------------------------------------------------------------------------------
# Bad files, built once.


def _bundle(mutate: Any) -> str:
    document = json.loads((FIXTURES / "honest.json").read_text())
    mutate(document)
    return json.dumps(document)


def _first_account(document: dict[str, Any]) -> dict[str, Any]:
    account: dict[str, Any] = next(iter(document["genesis"].values()))
    return account


FILES: dict[str, str | bytes] = {
    "not_json": "{not json",
    "not_utf8": b"\xff\xfe\x00\x01",
    "empty": "",
    "a_list": "[]",
    "deep": "[" * 100_000,
    "wrong_shape": json.dumps(
        {"format": "watchtower-bundle", "version": 1, "genesis": [], "batches": {}}
    ),
    "wrong_format": _bundle(lambda d: d.update(format="something-else")),
    "bad_hex": _bundle(lambda d: d["batches"][0]["steps"][0].update(tx="0xzz")),
    "odd_hex": _bundle(lambda d: d["batches"][0]["steps"][0].update(tx="0x123")),
    "short_root": _bundle(lambda d: d["batches"][0]["steps"][0].update(root="0x1234")),
    "truncated": (FIXTURES / "honest.json").read_text()[:5000],
    "off_genesis": _bundle(lambda d: d["batches"][0].update(prev_root="0x" + "cd" * 32)),
    "broken_chain": _bundle(lambda d: d["batches"][1].update(prev_root="0x" + "ab" * 32)),
    "huge_nonce": _bundle(lambda d: _first_account(d).update(nonce=hex(2**70))),
    "huge_storage": _bundle(lambda d: _first_account(d).update(storage={"0x1": hex(2**256)})),
    "huge_chain_id": _bundle(lambda d: d["params"].update(chain_id=2**64)),
    "negative_index": _bundle(lambda d: d["batches"][0].update(index=-1)),
    "too_many_steps": _bundle(
        lambda d: d["batches"][0].update(steps=[{"tx": "0x", "root": "0x" + "00" * 32}] * 4097)
    ),
    "bad_toml": "[l1\nrpc = 1",
    "unknown_section": "[servce]\nmode = 'watch'\n",
    "unknown_key": '[l1]\nrcp = ["http://127.0.0.1:8545"]\n',
    "section_not_table": "l1 = 5\n",
    "rpc_not_list": "[l1]\nrpc = 5\n",
    "rpc_not_url": '[l1]\nrpc = ["localhost:8545"]\n',
    "confirmations_bool": "[l1]\nconfirmations = true\n",
    "poll_text": '[l1]\npoll_interval = "fast"\n',
    "chunk_negative": "[l1]\nchunk = -1\n",
    "start_negative": "[l1]\nstart_block = -5\n",
    "stake_negative": "[challenge]\nstake_wei = -1\n",
    "stake_float": "[challenge]\nstake_wei = 1.5\n",
    "stake_exponent": "[challenge]\nstake_wei = 1e18\n",
    "stake_bool": "[challenge]\nstake_wei = true\n",
    "stake_decimal_text": '[challenge]\nstake_wei = "1.5"\n',
    "stake_fraction_of_wei": '[challenge]\nstake_wei = "0.5 gwei wei"\n',
    "stake_sub_wei": '[challenge]\nstake_wei = "0.0000000001 gwei"\n',
    "stake_zero": "[challenge]\nstake_wei = 0\n",
    "bump_zero": "[challenge]\nbump_after = 0\n",
    "mode_bad": "[service]\nmode = 1\n",
    "listen_no_port": '[metrics]\nlisten = "9108"\n',
    "listen_bad_port": '[metrics]\nlisten = "0.0.0.0:99999"\n',
    "webhook_no_url": "[[alerts.webhook]]\nsecret_env = 'X'\n",
    "webhook_not_url": "[[alerts.webhook]]\nurl = 'hooks.example.org/x'\nsecret_env = 'X'\n",
    "silence_batch_text": '[alerts]\nsilence_batches = ["one"]\n',
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every bad file above, a fraud proof and broken copies of it, a directory, a file."""
    base = tmp_path_factory.mktemp("bad-input")
    out = {"missing": str(base / "nope.json"), "dir": str(base), "tmp": str(base)}
    out["out"] = str(base / "exported.json")
    out["genesis"] = str(FIXTURES / "honest.json")
    for name, content in FILES.items():
        path = base / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        out[name] = str(path)
    (base / "garbage-db").mkdir()
    (base / "garbage-db" / "data.mdb").write_bytes(b"\x5a" * 65536)
    out["garbage_db"] = str(base / "garbage-db")
    keystore = base / "deep_keystore"
    keystore.write_text(str(FILES["deep"]))
    keystore.chmod(0o600)  # a key file readable by others is refused before it is parsed
    out["deep_keystore"] = str(keystore)
    out["a_file"] = out["not_json"]

    proof = base / "proof.json"
    built = CliRunner().invoke(
        main, ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "-o", str(proof)]
    )
    assert built.exit_code == 0, built.output
    document = json.loads(proof.read_text())
    variants = {
        "proof_truncated": proof.read_text()[: len(proof.read_text()) // 2],
        "proof_bad_hex": json.dumps({**document, "post_root": "0xnothex"}),
        "proof_short_root": json.dumps({**document, "post_root": "0x1234"}),
        "proof_missing_field": json.dumps({k: v for k, v in document.items() if k != "tx"}),
        "proof_wrong_format": json.dumps({**document, "format": "watchtower-bundle"}),
        "proof_step_text": json.dumps({**document, "step": "seven"}),
        "proof_step_outside": json.dumps({**document, "step": 10**6}),
        "proof_no_witness": json.dumps({**document, "state_nodes": []}),
        "proof_chain_zero": json.dumps(
            {**document, "params": {**document["params"], "chain_id": 0}}
        ),
    }
    for name, text in variants.items():
        (base / name).write_text(text)
        out[name] = str(base / name)
    return out


# ---------------------------------------------------------------------------------------------
# The cases: arguments (``{name}`` is a path from ``paths``), environment, fragments of the line.

Case = tuple[list[str], dict[str, str], tuple[str, ...]]

CASES: dict[str, Case] = {
    # top level
    "unknown command": (["frobnicate"], {}, ("No such command 'frobnicate'",)),
    "unknown option": (["--frobnicate"], {}, ("--frobnicate",)),
    # replay
    "replay: no bundle": (["replay"], {}, ("Missing argument 'BUNDLE'", "watchtower replay")),
    "replay: missing file": (["replay", "{missing}"], {}, ("nope.json", "cannot read")),
    "replay: a directory": (["replay", "{dir}"], {}, ("'BUNDLE'", "is a directory")),
    "replay: not JSON": (["replay", "{not_json}"], {}, ("not_json", "invalid JSON")),
    "replay: not UTF-8": (["replay", "{not_utf8}"], {}, ("not_utf8", "UTF-8")),
    "replay: empty file": (["replay", "{empty}"], {}, ("empty", "invalid JSON")),
    "replay: truncated": (["replay", "{truncated}"], {}, ("truncated", "invalid JSON")),
    "replay: a list": (["replay", "{a_list}"], {}, ("top level", "expected an object")),
    "replay: wrong shape": (["replay", "{wrong_shape}"], {}, ("genesis", "expected an object")),
    "replay: wrong format": (["replay", "{wrong_format}"], {}, ("format", "watchtower-bundle")),
    "replay: bad hex": (["replay", "{bad_hex}"], {}, ("steps[0].tx", "not valid hex", "0xzz")),
    "replay: odd hex": (["replay", "{odd_hex}"], {}, ("steps[0].tx", "0x123")),
    "replay: short root": (["replay", "{short_root}"], {}, ("steps[0].root", "32 bytes")),
    "replay: not on genesis": (["replay", "{off_genesis}"], {}, ("0xcdcd", "genesis")),
    "replay: broken chain": (["replay", "{broken_chain}"], {}, ("batch 1 builds on 0xabab",)),
    "replay: nonce above 2^64-1": (["replay", "{huge_nonce}"], {}, ("nonce", "maximum")),
    "replay: storage above 2^256-1": (["replay", "{huge_storage}"], {}, ("storage", "maximum")),
    "replay: chain id 2^64": (["replay", "{huge_chain_id}"], {}, ("params", "chain_id")),
    "replay: negative index": (["replay", "{negative_index}"], {}, ("index", "negative")),
    "replay: too many steps": (["replay", "{too_many_steps}"], {}, ("steps", "1..4096")),
    "replay: --data-dir is a file": (
        ["replay", "--data-dir", "{a_file}", str(FIXTURES / "honest.json")],
        {},
        ("--data-dir",),
    ),
    "replay: --data-dir not a database": (
        ["replay", "--data-dir", "{garbage_db}", str(FIXTURES / "honest.json")],
        {},
        ("--data-dir", "garbage-db", "not a usable state database"),
    ),
    "replay: unknown option": (["replay", "--jsn", "{a_list}"], {}, ("--jsn", "--json")),
    # prove
    "prove: no --batch": (["prove", "{off_genesis}"], {}, ("Missing option '--batch'",)),
    "prove: --batch not a number": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "x"],
        {},
        ("'--batch'", "'x' is not a valid integer"),
    ),
    "prove: --batch 1.5": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1.5"],
        {},
        ("'--batch'", "1.5"),
    ),
    "prove: --batch negative": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "-1"],
        {},
        ("batches 0..2", "-1"),
    ),
    "prove: --batch out of range": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "99"],
        {},
        ("batches 0..2", "99"),
    ),
    "prove: --step out of range": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "--step", "999"],
        {},
        ("step 999",),
    ),
    "prove: --step not a number": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "--step", "last"],
        {},
        ("'--step'", "'last'"),
    ),
    "prove: -o in a missing directory": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "-o", "{missing}/p"],
        {},
        ("--out", "nope.json/p", "cannot write"),
    ),
    "prove: -o a directory": (
        ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "-o", "{dir}"],
        {},
        ("'--out'", "is a directory"),
    ),
    "prove: missing bundle": (["prove", "{missing}", "--batch", "0"], {}, ("nope.json",)),
    "prove: not on genesis": (
        ["prove", "{off_genesis}", "--batch", "0"],
        {},
        ("0xcdcd", "genesis"),
    ),
    # check-proof
    "check-proof: missing file": (["check-proof", "{missing}"], {}, ("nope.json", "cannot read")),
    "check-proof: a directory": (["check-proof", "{dir}"], {}, ("'PROOF_FILE'", "directory")),
    "check-proof: not JSON": (["check-proof", "{not_json}"], {}, ("not_json", "not JSON")),
    "check-proof: not UTF-8": (["check-proof", "{not_utf8}"], {}, ("not_utf8", "not JSON")),
    "check-proof: a list": (["check-proof", "{a_list}"], {}, ("malformed proof",)),
    "check-proof: a bundle": (["check-proof", str(FIXTURES / "honest.json")], {}, ("format",)),
    "check-proof: truncated": (["check-proof", "{proof_truncated}"], {}, ("not JSON",)),
    "check-proof: bad hex": (["check-proof", "{proof_bad_hex}"], {}, ("malformed proof",)),
    "check-proof: short root": (["check-proof", "{proof_short_root}"], {}, ("post_root",)),
    "check-proof: missing field": (["check-proof", "{proof_missing_field}"], {}, ("'tx'",)),
    "check-proof: wrong format": (["check-proof", "{proof_wrong_format}"], {}, ("format",)),
    "check-proof: step not a number": (["check-proof", "{proof_step_text}"], {}, ("seven",)),
    "check-proof: step outside": (["check-proof", "{proof_step_outside}"], {}, ("1000000",)),
    "check-proof: no witness": (["check-proof", "{proof_no_witness}"], {}, ("trie node",)),
    "check-proof: chain id 0": (["check-proof", "{proof_chain_zero}"], {}, ("chain_id 0",)),
    # conformance
    "conformance: missing path": (["conformance", "{missing}"], {}, ("nope.json",)),
    "conformance: no cases": (["conformance", "{garbage_db}"], {}, ("no Cancun state-test",)),
    "conformance: not JSON": (["conformance", "{not_json}"], {}, ("not_json",)),
    # run
    "run: no --l1-rpc": (["run"], {}, ("no L1 endpoint", "--l1-rpc")),
    "run: no --rollup": (["run", "--l1-rpc", UNREACHABLE], {}, ("no rollup address",)),
    "run: no --genesis": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS],
        {},
        ("no L2 genesis", "--genesis"),
    ),
    "run: bad --rollup": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", "0x12"],
        {},
        ("--rollup", "'0x12'", "address"),
    ),
    "run: --confirmations abc": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--confirmations", "abc"],
        {},
        ("--confirmations", "'abc'"),
    ),
    "run: --confirmations negative": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--confirmations", "-1"],
        {},
        ("--confirmations", "'-1'"),
    ),
    "run: --poll-interval negative": (
        ["run", "--poll-interval", "-1"],
        {},
        ("'--poll-interval'", "-1"),
    ),
    "run: --poll-interval text": (["run", "--poll-interval", "soon"], {}, ("'--poll-interval'",)),
    "run: unknown --mode": (["run", "--mode", "attack"], {}, ("'--mode'", "'attack'")),
    "run: --chunk 0": (["run", "--chunk", "0"], {}, ("'--chunk'",)),
    "run: --start-block negative": (["run", "--start-block", "-1"], {}, ("'--start-block'",)),
    "run: --stake negative": (["run", "--stake", "-5"], {}, ("--stake", "'-5'")),
    "run: --stake 1.5": (["run", "--stake", "1.5"], {}, ("--stake", "stake_wei", "'1.5'")),
    "run: --stake 1e18": (["run", "--stake", "1e18"], {}, ("--stake", "stake_wei", "'1e18'")),
    "run: --stake 0.5 wei": (
        ["run", "--stake", "0.5 wei"],
        {},
        ("--stake", "'0.5 wei'", "whole number of wei"),
    ),
    "run: stake_wei 1.5 in the file": (
        ["run", "--config", "{stake_float}"],
        {},
        ("stake_float", "challenge.stake_wei = 1.5", "floating-point"),
    ),
    "run: stake in the environment is a float": (
        ["run"],
        {"WATCHTOWER_CHALLENGE_STAKE_WEI": "1.5"},
        ("$WATCHTOWER_CHALLENGE_STAKE_WEI", "challenge.stake_wei", "'1.5'"),
    ),
    "run: --log-format xml": (["run", "--log-format", "xml"], {}, ("'--log-format'", "'xml'")),
    "run: --metrics-listen without port": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--metrics-listen", "9108"],
        {},
        ("--metrics-listen", "HOST:PORT"),
    ),
    "run: malformed RPC URL": (
        ["run", "--l1-rpc", "notaurl", "--rollup", ADDRESS, "--data-dir", "{tmp}/run"],
        {},
        ("--l1-rpc", "http"),
    ),
    "run: ftp RPC URL": (
        ["run", "--l1-rpc", "ftp://node", "--rollup", ADDRESS],
        {},
        ("--l1-rpc", "'ftp'"),
    ),
    "run: RPC port not a number": (
        ["run", "--l1-rpc", "http://node:port", "--rollup", ADDRESS],
        {},
        ("--l1-rpc", "port"),
    ),
    "run: bad config file": (["run", "--config", "{bad_toml}"], {}, ("bad_toml", "TOML")),
    "run: bad environment": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS],
        {"WATCHTOWER_L1_CONFIRMATIONS": "abc"},
        ("$WATCHTOWER_L1_CONFIRMATIONS", "'abc'"),
    ),
    # config check
    "config: missing file": (["config", "check", "--config", "{missing}"], {}, ("cannot read",)),
    "config: a directory": (["config", "check", "--config", "{dir}"], {}, ("'--config'",)),
    "config: invalid TOML": (["config", "check", "--config", "{bad_toml}"], {}, ("TOML",)),
    "export: missing genesis file": (
        [
            "export",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            ADDRESS,
            "--genesis",
            "{missing}",
            "-o",
            "{out}",
        ],
        {},
        ("genesis file",),
    ),
    "export: unreachable node": (
        [
            "export",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            ADDRESS,
            "--genesis",
            "{genesis}",
            "-o",
            "{out}",
        ],
        {},
        ("127.0.0.1",),
    ),
    "batches: no store": (["batches", "--data-dir", "{dir}"], {}, ("holds no watchtower store",)),
    "challenges: bad --retry": (["challenges", "--retry", "-1"], {}, ("--retry",)),
    "finalize: unreachable node": (
        ["finalize", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS],
        {},
        ("127.0.0.1",),
    ),
    "config: --l1-rpc without --strict": (
        ["config", "check", "--l1-rpc", UNREACHABLE],
        {},
        ("only used with --strict",),
    ),
    "config: --strict --l1-rpc without a rollup": (
        ["config", "check", "--strict", "--l1-rpc", UNREACHABLE],
        {},
        ("l1.rollup",),
    ),
    "config: --strict --l1-rpc unreachable": (
        ["config", "check", "--strict", "--l1-rpc", UNREACHABLE],
        {"WATCHTOWER_L1_ROLLUP": ADDRESS},
        ("127.0.0.1",),
    ),
    "config: unknown section": (
        ["config", "check", "--config", "{unknown_section}"],
        {},
        ("'servce'", "did you mean 'service'"),
    ),
    "config: unknown key": (
        ["config", "check", "--config", "{unknown_key}"],
        {},
        ("'rcp'", "did you mean 'rpc'"),
    ),
    "config: section not a table": (
        ["config", "check", "--config", "{section_not_table}"],
        {},
        ("[l1]", "table"),
    ),
    "config: rpc not a list": (["config", "check", "--config", "{rpc_not_list}"], {}, ("l1.rpc",)),
    "config: rpc not a URL": (
        ["config", "check", "--config", "{rpc_not_url}"],
        {},
        ("l1.rpc", "http"),
    ),
    "config: confirmations true": (
        ["config", "check", "--config", "{confirmations_bool}"],
        {},
        ("l1.confirmations", "True"),
    ),
    "config: poll interval text": (
        ["config", "check", "--config", "{poll_text}"],
        {},
        ("l1.poll_interval", "'fast'"),
    ),
    "config: negative chunk": (
        ["config", "check", "--config", "{chunk_negative}"],
        {},
        ("l1.chunk", "-1", "at least 1"),
    ),
    "config: negative start block": (
        ["config", "check", "--config", "{start_negative}"],
        {},
        ("l1.start_block", "-5"),
    ),
    "config: negative stake": (
        ["config", "check", "--config", "{stake_negative}"],
        {},
        ("challenge.stake_wei", "-1"),
    ),
    "config: float stake": (
        ["config", "check", "--config", "{stake_float}"],
        {},
        ("challenge.stake_wei = 1.5", "floating-point"),
    ),
    "config: exponent stake": (
        ["config", "check", "--config", "{stake_exponent}"],
        {},
        ("challenge.stake_wei = 1e+18", "floating-point"),
    ),
    "config: boolean stake": (
        ["config", "check", "--config", "{stake_bool}"],
        {},
        ("challenge.stake_wei = True", "boolean"),
    ),
    "config: decimal text stake": (
        ["config", "check", "--config", "{stake_decimal_text}"],
        {},
        ("challenge.stake_wei = '1.5'", "whole number of wei"),
    ),
    "config: stake with two units": (
        ["config", "check", "--config", "{stake_fraction_of_wei}"],
        {},
        ("challenge.stake_wei = '0.5 gwei wei'",),
    ),
    "config: stake below one wei": (
        ["config", "check", "--config", "{stake_sub_wei}"],
        {},
        ("challenge.stake_wei", "not a whole number of wei"),
    ),
    "config: zero stake": (
        ["config", "check", "--config", "{stake_zero}"],
        {},
        ("challenge.stake_wei = 0", "at least 1 wei"),
    ),
    "config: stake in the environment with an exponent": (
        ["config", "check"],
        {"WATCHTOWER_CHALLENGE_STAKE_WEI": "1e18"},
        ("$WATCHTOWER_CHALLENGE_STAKE_WEI", "challenge.stake_wei = '1e18'"),
    ),
    "config: negative stake in the environment": (
        ["config", "check"],
        {"WATCHTOWER_CHALLENGE_STAKE_WEI": "-1"},
        ("$WATCHTOWER_CHALLENGE_STAKE_WEI", "'-1'"),
    ),
    "config: zero bump": (
        ["config", "check", "--config", "{bump_zero}"],
        {},
        ("challenge.bump_after", "positive"),
    ),
    "config: mode not text": (["config", "check", "--config", "{mode_bad}"], {}, ("service.mode",)),
    "config: listen without port": (
        ["config", "check", "--config", "{listen_no_port}"],
        {},
        ("metrics.listen", "HOST:PORT"),
    ),
    "config: listen port too big": (
        ["config", "check", "--config", "{listen_bad_port}"],
        {},
        ("metrics.listen", "99999"),
    ),
    "config: webhook without url": (
        ["config", "check", "--config", "{webhook_no_url}"],
        {},
        ("alerts.webhook[0] needs url",),
    ),
    "config: webhook url not a URL": (
        ["config", "check", "--config", "{webhook_not_url}"],
        {},
        ("alerts.webhook.url", "http"),
    ),
    "config: silenced batch not a number": (
        ["config", "check", "--config", "{silence_batch_text}"],
        {},
        ("alerts.silence_batches",),
    ),
    "config: environment not a number": (
        ["config", "check"],
        {"WATCHTOWER_L1_CONFIRMATIONS": "abc"},
        ("$WATCHTOWER_L1_CONFIRMATIONS", "'abc'"),
    ),
    "config: environment zero chunk": (
        ["config", "check"],
        {"WATCHTOWER_L1_CHUNK": "0"},
        ("$WATCHTOWER_L1_CHUNK", "at least 1"),
    ),
    "config: unknown environment variable": (
        ["config", "check"],
        {"WATCHTOWER_L1_RCP": "http://127.0.0.1:8545"},
        ("WATCHTOWER_L1_RCP", "did you mean 'WATCHTOWER_L1_RPC'"),
    ),
    "config: unknown subcommand": (["config", "chek"], {}, ("No such command 'chek'",)),
    # status, withdraw
    "status: missing data dir": (["status", "--data-dir", "{missing}"], {}, ("'--data-dir'",)),
    "status: no store in data dir": (
        ["status", "--data-dir", "{garbage_db}"],
        {},
        ("--data-dir", "garbage-db", "no watchtower store"),
    ),
    "status: malformed RPC URL": (
        ["status", "--data-dir", "{dir}", "--l1-rpc", "localhost"],
        {},
        ("'--l1-rpc'",),
    ),
    "withdraw: no --l1-rpc": (["withdraw", "--rollup", ADDRESS], {}, ("'--l1-rpc'",)),
    "withdraw: no signer": (
        ["withdraw", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS],
        {},
        ("needs a signer",),
    ),
    "withdraw: key variable unset": (
        ["withdraw", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--key-env", "WT_UNSET_KEY"],
        {"WT_UNSET_KEY": ""},
        ("--key-env", "$WT_UNSET_KEY", "not set"),
    ),
    # propose, devnet, demo, gen-fixtures
    "propose: no --l1-rpc": (["propose", "--rollup", ADDRESS], {}, ("'--l1-rpc'",)),
    "propose: no --rollup": (["propose", "--l1-rpc", UNREACHABLE], {}, ("'--rollup'",)),
    "propose: no key": (
        ["propose", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS],
        {},
        ("no proposer key", "--key-env", "--keystore"),
    ),
    "propose: key variable unset": (
        ["propose", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--key-env", "WT_UNSET_KEY"],
        {"WT_UNSET_KEY": ""},
        ("$WT_UNSET_KEY", "not set"),
    ),
    "propose: bad --rollup": (
        [
            "propose",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            "y",
            "--data-dir",
            "{tmp}/propose",
            *PROPOSE_KEY,
        ],
        PROPOSER_ENV,
        ("--rollup", "'y'"),
    ),
    "propose: malformed RPC URL": (
        ["propose", "--l1-rpc", "notaurl", "--rollup", ADDRESS],
        {},
        ("'--l1-rpc'", "http"),
    ),
    "propose: unreachable RPC": (
        [
            "propose",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            ADDRESS,
            "--data-dir",
            "{tmp}/p2",
            *PROPOSE_KEY,
        ],
        PROPOSER_ENV,
        ("cannot reach the L1 node", "127.0.0.1:1"),
    ),
    "propose: --txs 0": (["propose", "--txs", "0"], {}, ("'--txs'", "0")),
    "propose: unknown --fault": (["propose", "--fault", "evil"], {}, ("'--fault'", "'evil'")),
    "devnet: negative --batches": (["devnet", "--batches", "-1"], {}, ("'--batches'", "-1")),
    "devnet: unknown --l1": (["devnet", "--l1", "geth"], {}, ("'--l1'", "'geth'")),
    "devnet: --keep-running in process": (["devnet", "--keep-running"], {}, ("--keep-running",)),
    "devnet: --interval 0": (["devnet", "--interval", "0"], {}, ("'--interval'",)),
    "devnet: --challenge-period 0": (
        ["devnet", "--challenge-period", "0"],
        {},
        ("'--challenge-period'",),
    ),
    "devnet: --txs 0": (["devnet", "--txs", "0"], {}, ("'--txs'",)),
    "devnet: --txs too many": (["devnet", "--txs", "5000"], {}, ("'--txs'",)),
    "devnet: --fault-step -1": (["devnet", "--fault-step", "-1"], {}, ("'--fault-step'",)),
    "devnet: unknown --fault": (["devnet", "--fault", "evil"], {}, ("'--fault'", "'evil'")),
    "devnet: --data-dir is a file": (["devnet", "--data-dir", GENESIS], {}, ("'--data-dir'",)),
    "propose: --data-dir is a file": (
        ["propose", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--data-dir", GENESIS],
        {},
        ("'--data-dir'",),
    ),
    "propose: --fault-step -1": (["propose", "--fault-step", "-1"], {}, ("'--fault-step'",)),
    # bond, mine
    "bond: no --l1-rpc": (["bond", "--rollup", ADDRESS], {}, ("'--l1-rpc'",)),
    "bond: no --rollup": (["bond", "--l1-rpc", UNREACHABLE], {}, ("'--rollup'",)),
    "bond: malformed --l1-rpc": (
        ["bond", "--l1-rpc", "notaurl", "--rollup", ADDRESS],
        {},
        ("'--l1-rpc'", "http"),
    ),
    "bond: no key": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS],
        {},
        ("no proposer key", "--key-env"),
    ),
    "bond: key variable unset": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--key-env", "WT_UNSET_KEY"],
        {"WT_UNSET_KEY": ""},
        ("$WT_UNSET_KEY", "not set"),
    ),
    "bond: --keystore missing": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--keystore", "{missing}"],
        {},
        ("nope.json",),
    ),
    "bond: --amount words": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--amount", "lots", *PROPOSE_KEY],
        PROPOSER_ENV,
        ("--amount", "'lots'"),
    ),
    "bond: --amount 0": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--amount", "0", *PROPOSE_KEY],
        PROPOSER_ENV,
        ("--amount", "more than zero"),
    ),
    "bond: --coinbase not an address": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--coinbase", "me", *PROPOSE_KEY],
        PROPOSER_ENV,
        ("--coinbase", "'me'"),
    ),
    "bond: --rollup not an address": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", "nope", *PROPOSE_KEY],
        PROPOSER_ENV,
        ("--rollup", "'nope'"),
    ),
    "bond: unreachable RPC": (
        ["bond", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, *PROPOSE_KEY],
        PROPOSER_ENV,
        ("cannot reach the L1 node", "127.0.0.1:1"),
    ),
    "mine: no --l1-rpc": (["mine"], {}, ("'--l1-rpc'",)),
    "mine: malformed --l1-rpc": (["mine", "--l1-rpc", "localhost"], {}, ("'--l1-rpc'",)),
    "mine: --blocks 0": (["mine", "--l1-rpc", UNREACHABLE, "--blocks", "0"], {}, ("'--blocks'",)),
    "mine: --blocks x": (["mine", "--l1-rpc", UNREACHABLE, "--blocks", "x"], {}, ("'--blocks'",)),
    "mine: --seconds -1": (
        ["mine", "--l1-rpc", UNREACHABLE, "--seconds", "-1"],
        {},
        ("'--seconds'",),
    ),
    "mine: unreachable RPC": (
        ["mine", "--l1-rpc", UNREACHABLE],
        {},
        ("cannot reach the L1 node", "127.0.0.1:1"),
    ),
    "demo: --honest 0": (["demo", "--honest", "0"], {}, ("'--honest'",)),
    "run: --key-env names an unset variable": (
        [*RUN_UNREACHABLE, "--data-dir", "{tmp}/k", "--key-env", "WT_NOT_SET_ANYWHERE"],
        {},
        ("$WT_NOT_SET_ANYWHERE", "not set"),
    ),
    "demo: unknown --fault": (["demo", "--fault", "evil"], {}, ("'--fault'", "'evil'")),
    # Every option of run, status, withdraw and challenge (run: the L1 node is never reached).
    "run: --data-dir is a file": (
        [
            "run",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            ADDRESS,
            "--genesis",
            GENESIS,
            "--data-dir",
            GENESIS,
        ],
        {},
        ("'--data-dir'",),
    ),
    "run: --genesis missing": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--genesis", "{missing}"],
        {},
        ("genesis file", "No such file"),
    ),
    "run: --genesis not JSON": (
        ["run", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--genesis", "{not_json}"],
        {},
        ("genesis file",),
    ),
    "run: --keystore missing": (
        [*RUN_UNREACHABLE, "--keystore", "{missing}", "--password-env", "WT_P"],
        {"WT_P": "x"},
        ("nope.json", "cannot read"),
    ),
    "run: --confirmations -1": ([*RUN_UNREACHABLE, "--confirmations", "-1"], {}, ("-1",)),
    "run: --poll-interval 0": (
        [*RUN_UNREACHABLE, "--poll-interval", "0"],
        {},
        ("'--poll-interval'",),
    ),
    "run: --rpc-timeout x": ([*RUN_UNREACHABLE, "--rpc-timeout", "x"], {}, ("'--rpc-timeout'",)),
    "run: --max-backoff 0": ([*RUN_UNREACHABLE, "--max-backoff", "0"], {}, ("'--max-backoff'",)),
    "run: --start-block -1": ([*RUN_UNREACHABLE, "--start-block", "-1"], {}, ("'--start-block'",)),
    "run: --stake words": ([*RUN_UNREACHABLE, "--stake", "lots"], {}, ("--stake", "lots")),
    "run: --stake float": ([*RUN_UNREACHABLE, "--stake", "1.5"], {}, ("--stake",)),
    "run: --bump-after 0": ([*RUN_UNREACHABLE, "--bump-after", "0"], {}, ("'--bump-after'",)),
    "run: --metrics-listen no port": (
        [*RUN_UNREACHABLE, "--metrics-listen", "localhost"],
        {},
        ("--metrics-listen",),
    ),
    "run: --metrics-listen port out of range": (
        [*RUN_UNREACHABLE, "--metrics-listen", "127.0.0.1:99999"],
        {},
        ("--metrics-listen",),
    ),
    "run: unknown --log-format": ([*RUN_UNREACHABLE, "--log-format", "x"], {}, ("'--log-format'",)),
    "run: --config missing": (
        [*RUN_UNREACHABLE, "--config", "{missing}"],
        {},
        ("nope.json", "cannot read"),
    ),
    "run: --startup-timeout 0": (
        [*RUN_UNREACHABLE, "--startup-timeout", "0"],
        {},
        ("'--startup-timeout'",),
    ),
    "run: --l1-quorum 0": ([*RUN_UNREACHABLE, "--l1-quorum", "0"], {}, ("'--l1-quorum'",)),
    "run: --l1-quorum above the endpoints": (
        [*RUN_UNREACHABLE, "--l1-quorum", "2"],
        {},
        ("l1.quorum 2", "1 L1 endpoint"),
    ),
    "status: --signer not an address": (
        ["status", "--data-dir", "{dir}", "--signer", "0xnotanaddress"],
        {},
        ("--signer", "0xnotanaddress"),
    ),
    "status: --data-dir is a file": (["status", "--data-dir", GENESIS], {}, ("'--data-dir'",)),
    "status: --url not a URL": (["status", "--url", "localhost:9108"], {}, ("'--url'",)),
    "status: --url with --data-dir": (
        ["status", "--url", UNREACHABLE, "--data-dir", "{dir}"],
        {},
        ("--url", "--data-dir"),
    ),
    "status: --url with --l1-rpc": (
        ["status", "--url", UNREACHABLE, "--l1-rpc", UNREACHABLE],
        {},
        ("--url", "--l1-rpc"),
    ),
    "status: --url with --signer": (
        ["status", "--url", UNREACHABLE, "--signer", ADDRESS],
        {},
        ("--url", "--signer"),
    ),
    "status: --url where nothing listens": (
        ["status", "--url", UNREACHABLE, "--json"],
        {},
        ("--url http://127.0.0.1:1", "no service answers"),
    ),
    "withdraw: --rollup not an address": (
        ["withdraw", "--l1-rpc", UNREACHABLE, "--rollup", "nope", *PROPOSE_KEY],
        PROPOSER_ENV,
        ("--rollup", "'nope'"),
    ),
    "withdraw: --keystore missing": (
        ["withdraw", "--l1-rpc", UNREACHABLE, "--rollup", ADDRESS, "--keystore", "{missing}"],
        {},
        ("nope.json", "cannot read"),
    ),
    "withdraw: --data-dir is a file": (
        [
            "withdraw",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            ADDRESS,
            "--data-dir",
            GENESIS,
            *PROPOSE_KEY,
        ],
        PROPOSER_ENV,
        ("'--data-dir'",),
    ),
    "challenge: --batch -1": (["challenge", "--batch", "-1"], {}, ("'--batch'",)),
    "challenge: --stake -1": (["challenge", "--batch", "0", "--stake", "-1"], {}, ("'--stake'",)),
    "challenge: malformed --l1-rpc": (
        ["challenge", "--batch", "0", "--l1-rpc", "nope", "--rollup", ADDRESS, *PROPOSE_KEY],
        PROPOSER_ENV,
        ("--l1-rpc",),
    ),
    "challenge: --rollup not an address": (
        ["challenge", "--batch", "0", "--l1-rpc", UNREACHABLE, "--rollup", "nope", *PROPOSE_KEY],
        PROPOSER_ENV,
        ("--rollup", "'nope'"),
    ),
    "challenge: --data-dir without a store": (
        [
            "challenge",
            "--batch",
            "0",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            ADDRESS,
            "--data-dir",
            "{dir}",
            *PROPOSE_KEY,
        ],
        PROPOSER_ENV,
        ("holds no watchtower store",),
    ),
    "channels submit: missing file": (
        ["channels", "submit", "{missing}", "--url", UNREACHABLE, "--token-env", "WT_TOKEN"],
        {"WT_TOKEN": "t"},
        ("nope.json", "cannot read"),
    ),
    "channels submit: token variable unset": (
        ["channels", "submit", "{not_json}", "--url", UNREACHABLE, "--token-env", "WT_NO_TOKEN"],
        {},
        ("$WT_NO_TOKEN",),
    ),
    "channels submit: bad --url": (
        ["channels", "submit", "{not_json}", "--url", "nope", "--token-env", "WT_TOKEN"],
        {"WT_TOKEN": "t"},
        ("--url",),
    ),
    "channels list: no store": (
        ["channels", "list", "--data-dir", "{dir}/no-store"],
        {},
        ("holds no store",),
    ),
    "channels status: no store": (
        ["channels", "status", "--data-dir", "{dir}/no-store"],
        {},
        ("holds no store",),
    ),
    "run: channels-only without contracts": (
        ["run", "--l1-rpc", UNREACHABLE, "--data-dir", "{dir}/chan"],
        {"WATCHTOWER_SERVICE_GUARD": "channels"},
        ("no contracts to guard",),
    ),
    "run: channels intake API without a signer": (
        ["run", "--l1-rpc", UNREACHABLE, "--data-dir", "{dir}/chan2"],
        {
            "WATCHTOWER_SERVICE_GUARD": "channels",
            "WATCHTOWER_CHANNELS_CONTRACTS": "state:0x" + "11" * 20,
            "WATCHTOWER_CHANNELS_API_LISTEN": "127.0.0.1:1",
            "WATCHTOWER_CHANNELS_API_TOKEN_ENV": "WT_TOKEN",
            "WT_TOKEN": "t",
        },
        ("needs a signer",),
    ),
    "gen-fixtures: unknown bundle": (
        ["gen-fixtures", "{tmp}/fixtures", "--only", "nope"],
        {},
        ("unknown bundle 'nope'",),
    ),
}

# The channel development commands (watchtower-dev: channel-devnet, channel, payment-channel,
# chequebook, channel-demo).
_SC = ["--l1-rpc", UNREACHABLE, "--contract", ADDRESS]
_KEY = {"WT_TEST_A": "0x" + "42" * 32, "WT_TEST_B": "0x" + "43" * 32}
CASES.update({
    "channel-devnet: --keep-running with --l1-rpc": (
        ["channel-devnet", "--l1-rpc", UNREACHABLE, "--keep-running"],
        {},
        ("--keep-running",),
    ),
    "channel-devnet: unreachable --l1-rpc": (
        ["channel-devnet", "--l1-rpc", UNREACHABLE, "--data-dir", "{tmp}/chdev"],
        {},
        ("cannot reach the L1 node", "127.0.0.1:1"),
    ),
    "channel-devnet: malformed --l1-rpc": (
        ["channel-devnet", "--l1-rpc", "localhost"],
        {},
        ("'--l1-rpc'",),
    ),
    "channel open: no --contract": (
        ["channel", "open", "--l1-rpc", UNREACHABLE, "--deposit", "1"],
        {},
        ("'--contract'",),
    ),
    "channel open: --deposit words": (
        ["channel", "open", *_SC, "--key-env", "WT_TEST_A", "--peer", ADDRESS, "--deposit", "x"],
        _KEY,
        ("--deposit", "'x'"),
    ),
    "channel open: --window 59": (
        ["channel", "open", *_SC, "--deposit", "1", "--window", "59"],
        {},
        ("'--window'", "59"),
    ),
    "channel open: both --peer and --peer-key-env": (
        ["channel", "open", *_SC, "--key-env", "WT_TEST_A", "--peer", ADDRESS,
         "--peer-key-env", "WT_TEST_B", "--deposit", "1"],
        _KEY,
        ("--peer", "one of them"),
    ),
    "channel open: --peer not an address": (
        ["channel", "open", *_SC, "--key-env", "WT_TEST_A", "--peer", "bob", "--deposit", "1"],
        _KEY,
        ("--peer", "'bob'"),
    ),
    "channel open: key variable unset": (
        ["channel", "open", *_SC, "--key-env", "WT_NOT_SET", "--peer", ADDRESS, "--deposit", "1"],
        {},
        ("$WT_NOT_SET", "not set"),
    ),
    "channel open: key not hex": (
        ["channel", "open", *_SC, "--key-env", "WT_TEST_A", "--peer", ADDRESS, "--deposit", "1"],
        {"WT_TEST_A": "not a key"},
        ("$WT_TEST_A", "not a hex private key"),
    ),
    "channel open: unreachable": (
        ["channel", "open", *_SC, "--key-env", "WT_TEST_A", "--peer", ADDRESS, "--deposit", "1"],
        _KEY,
        ("cannot reach the L1 node",),
    ),
    "channel pay: --channel -1": (
        ["channel", "pay", *_SC, "--channel", "-1", "--amount", "1"],
        {},
        ("'--channel'",),
    ),
    "channel pay: --reward without --guardian": (
        ["channel", "pay", *_SC, "--channel", "0", "--amount", "1", "--reward", "0.1"],
        {},
        ("--reward needs --guardian",),
    ),
    "channel pay: --amount 0": (
        ["channel", "pay", *_SC, "--channel", "0", "--amount", "0"],
        {},
        ("--amount", "more than zero"),
    ),
    "channel close: --stale and --nonce": (
        ["channel", "close", *_SC, "--channel", "0", "--stale", "--nonce", "1"],
        {},
        ("--stale or --nonce",),
    ),
    "channel request: no --request": (
        ["channel", "request", *_SC, "--channel", "0", "--key-env", "WT_TEST_A"],
        _KEY,
        ("--request FILE",),
    ),
    "channel update: --request missing": (
        ["channel", "update", "--l1-rpc", UNREACHABLE, "--request", "{missing}"],
        {},
        ("'--request'", "nope.json"),
    ),
    "channel update: --request not JSON": (
        ["channel", "update", "--l1-rpc", UNREACHABLE, "--request", "{not_json}",
         "--key-env", "WT_TEST_A"],
        _KEY,
        ("--request", "not_json", "not JSON"),
    ),
    "channel settle: no --key-env": (
        ["channel", "settle", *_SC, "--channel", "0"],
        {},
        ("no key", "--key-env"),
    ),
    "channel withdraw: unreachable": (
        ["channel", "withdraw", *_SC, "--key-env", "WT_TEST_A"],
        _KEY,
        ("cannot reach the L1 node",),
    ),
    "payment-channel open: --to not an address": (
        ["payment-channel", "open", *_SC, "--to", "x", "--deposit", "1"],
        {},
        ("--to", "'x'"),
    ),
    "payment-channel open: --expires-in 0": (
        ["payment-channel", "open", *_SC, "--to", ADDRESS, "--deposit", "1", "--expires-in", "0"],
        {},
        ("'--expires-in'",),
    ),
    "payment-channel pay: --reward without the recipient's key": (
        ["payment-channel", "pay", *_SC, "--channel", "0", "--amount", "1", "--reward", "0.1",
         "--guardian", ADDRESS],
        {},
        ("--recipient-key-env",),
    ),
    "payment-channel claim: unreachable": (
        ["payment-channel", "claim", *_SC, "--channel", "0", "--key-env", "WT_TEST_A"],
        _KEY,
        ("cannot reach the L1 node",),
    ),
    "payment-channel reclaim: --channel x": (
        ["payment-channel", "reclaim", *_SC, "--channel", "x"],
        {},
        ("'--channel'", "'x'"),
    ),
    "chequebook deploy: --deposit -1": (
        ["chequebook", "deploy", "--l1-rpc", UNREACHABLE, "--deposit", "-1"],
        {},
        ("--deposit", "more than zero"),
    ),
    "chequebook cheque: --guardian not an address": (
        ["chequebook", "cheque", *_SC, "--to", ADDRESS, "--amount", "1", "--reward", "1",
         "--guardian", "g"],
        {},
        ("--guardian", "'g'"),
    ),
    "chequebook cheque: the beneficiary's key is another's": (
        ["chequebook", "cheque", *_SC, "--key-env", "WT_TEST_A", "--to", ADDRESS, "--amount", "1",
         "--beneficiary-key-env", "WT_TEST_B"],
        _KEY,
        ("--beneficiary-key-env", "not of --to"),
    ),
    "chequebook cash: unreachable": (
        ["chequebook", "cash", *_SC, "--key-env", "WT_TEST_A"],
        _KEY,
        ("cannot reach the L1 node",),
    ),
    "chequebook withdraw: --amount words": (
        ["chequebook", "withdraw", *_SC, "--amount", "all"],
        {},
        ("--amount", "'all'"),
    ),
    "channel-demo: --payments 1": (["channel-demo", "--payments", "1"], {}, ("'--payments'",)),
    "channel-demo: --window 10": (["channel-demo", "--window", "10"], {}, ("'--window'",)),
})  # fmt: skip


def _args(args: list[str], paths: dict[str, str]) -> list[str]:
    return [arg.format(**paths) for arg in args]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_and_status_2(name: str, paths: dict[str, str]) -> None:
    args, env, fragments = CASES[name]
    result: Result = CliRunner().invoke(main, _args(args, paths), env=env, prog_name="watchtower")
    assert isinstance(result.exception, SystemExit), (result.exception, result.output)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, fragments)


@pytest.mark.timeout(60)
def test_run_with_an_unreachable_node_retries_then_exits_75_in_one_line(
    paths: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` retries an L1 node that fails at start-up (it may be starting too), logging each
    attempt, for l1.startup_timeout; then it gives up with status 75 (EX_TEMPFAIL: supervisors
    restart it, unlike 2) and one error line naming the endpoint. The log records are
    structured (one JSON object per line): only the last line is the error."""
    monkeypatch.setattr("watchtower.runner.STARTUP_RETRIES", (0.01, 0.05))
    args = [*RUN_UNREACHABLE, "--data-dir", "{tmp}/run", "--startup-timeout", "0.5"]
    result = CliRunner().invoke(main, _args(args, paths), prog_name="watchtower")
    *logs, last = [line for line in result.stderr.splitlines() if line.strip()]
    retries = [json.loads(line) for line in logs]
    assert len(retries) >= 3 and all(r["event"] == "startup_retry" for r in retries), logs
    assert [r["attempt"] for r in retries] == list(range(1, len(retries) + 1))
    assert result.exit_code == 75, result.output
    assert last.startswith("error: ") and "cannot reach the L1 node" in last
    assert "127.0.0.1:1" in last and "l1.startup_timeout" in last
    assert "Traceback" not in result.output


def test_help_and_version_still_exit_0() -> None:
    """The one-line usage errors must not swallow what click prints on purpose."""
    runner = CliRunner()
    for args in (["--help"], ["--version"], ["replay", "--help"], ["config", "check", "-h"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and result.stdout and not result.stderr, args
    bare = runner.invoke(main, [])  # click: a bare group shows its help, exit status 2
    assert bare.exit_code == 2 and "Usage:" in bare.output


# ---------------------------------------------------------------------------------------------
# Through a real process: the entry point, and inputs that crashed the interpreter before.

PROCESS_CASES: dict[str, Case] = {
    "deeply nested bundle": (["replay", "{deep}"], {}, ("deep", "nested deeper than 64")),
    "deeply nested proof": (["check-proof", "{deep}"], {}, ("deep", "nested deeper than 64")),
    "deeply nested state test": (
        ["conformance", "{deep}"],
        {},
        ("deep", "nested deeper than 64"),
    ),
    "deeply nested keystore": (
        [
            *RUN_UNREACHABLE,
            "--data-dir",
            "{tmp}/ks",
            "--keystore",
            "{deep_keystore}",
            "--password-env",
            "WT_PASSWORD",
        ],
        {"WT_PASSWORD": "secret"},
        ("deep_keystore", "cannot decrypt"),
    ),
    "usage error": (
        ["prove", str(FIXTURES / "honest.json"), "--batch", "x"],
        {},
        ("'--batch'", "'x'"),
    ),
    "unreachable RPC": (
        [
            "propose",
            "--l1-rpc",
            UNREACHABLE,
            "--rollup",
            ADDRESS,
            "--data-dir",
            "{tmp}/proc",
            *PROPOSE_KEY,
        ],
        PROPOSER_ENV,
        ("cannot reach the L1 node", "127.0.0.1:1"),
    ),
}


@pytest.fixture(scope="module")
def processes(paths: dict[str, str]) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """All the process cases at once (each pays the interpreter's start-up, in parallel)."""
    started = {}
    for name, (args, env, _) in PROCESS_CASES.items():
        started[name] = subprocess.Popen(
            [sys.executable, "-m", "watchtower", *_args(args, paths)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    done = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=120)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    yield done


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", list(PROCESS_CASES))
def test_bad_input_in_a_real_process(
    name: str, processes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = processes[name]
    assert result.returncode != -11, "the interpreter crashed (SIGSEGV)"
    assert_one_line_error(result.returncode, result.stdout, result.stderr, PROCESS_CASES[name][2])


def test_paths_of_bad_files_are_what_the_cases_name(paths: dict[str, str]) -> None:
    """Guards the table: every ``{name}`` in a case is a prepared path."""
    for args, _, _ in [*CASES.values(), *PROCESS_CASES.values()]:
        _args(args, paths)
    assert Path(paths["missing"]).exists() is False and Path(paths["dir"]).is_dir()
