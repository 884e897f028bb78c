"""The auditors' tools: genesis-root, fill-roots, replay --all, reasons in the table, --json
error objects, strict bundle parsing (docs/protocol.md §6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES
from watchtower.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _honest() -> dict[str, Any]:
    return json.loads((FIXTURES / "honest.json").read_text())  # type: ignore[no-any-return]


def _write(tmp_path: Path, document: Any, name: str = "b.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


# genesis-root


def test_genesis_root_of_a_bundle_and_of_an_allocation(tmp_path: Path) -> None:
    honest = _honest()
    expected = honest["batches"][0]["prev_root"]
    code, out, _ = _run("genesis-root", str(FIXTURES / "honest.json"))
    assert code == 0 and out.strip() == expected
    code, out, _ = _run("genesis-root", "--json", _write(tmp_path, honest["genesis"]))
    document = json.loads(out)
    assert code == 0 and document["root"] == expected and document["source"] == "allocation"
    assert document["accounts"] == len(honest["genesis"])


def test_genesis_root_bad_input_is_one_line_and_a_json_error(tmp_path: Path) -> None:
    bad = _write(tmp_path, {"0x" + "11" * 20: {"balance": "0x1", "balanse": "0x2"}})
    code, out, err = _run("genesis-root", bad)
    assert code == 2 and not out and err.count("\n") == 1 and "balanse" in err
    code, out, err = _run("genesis-root", "--json", bad)
    assert code == 2 and err.count("\n") == 1
    document = json.loads(out)
    assert document["status"] == 2 and "balanse" in document["error"]


# fill-roots


def _draft(tmp_path: Path) -> str:
    draft = _honest()
    del draft["format"], draft["version"]
    for batch in draft["batches"]:
        del batch["prev_root"]
        for k, step in enumerate(batch["steps"]):
            if k % 2:
                step["root"] = "0xTODO"
            else:
                del step["root"]
    return _write(tmp_path, draft, "draft.json")


def test_fill_roots_gives_the_honest_bundle(tmp_path: Path) -> None:
    # a draft without a version is written as format version 2 (protocol.md §6), its queue empty
    expected = {**_honest(), "version": 2, "deposits": []}
    out = tmp_path / "filled.json"
    code, _, err = _run("fill-roots", _draft(tmp_path), "-o", str(out))
    assert code == 0, err
    assert json.loads(out.read_text()) == expected
    code, stdout, _ = _run("fill-roots", _draft(tmp_path))
    assert code == 0 and json.loads(stdout) == expected


def test_fill_roots_never_overwrites_the_draft_and_asks_before_overwriting(
    tmp_path: Path,
) -> None:
    draft = _draft(tmp_path)
    before = Path(draft).read_text()
    code, _, err = _run("fill-roots", draft, "-o", draft)
    assert code == 2 and "draft itself" in err and Path(draft).read_text() == before
    code, _, err = _run("fill-roots", draft, "-o", draft, "--force")
    assert code == 2 and Path(draft).read_text() == before
    existing = tmp_path / "exists.json"
    existing.write_text("keep")
    code, _, err = _run("fill-roots", draft, "-o", str(existing))
    assert code == 2 and "--force" in err and existing.read_text() == "keep"
    code, _, _ = _run("fill-roots", draft, "-o", str(existing), "--force")
    assert code == 0 and json.loads(existing.read_text()) == {
        **_honest(),
        "version": 2,
        "deposits": [],
    }


# replay --all


def _two_frauds(tmp_path: Path) -> str:
    """honest.json with two independent wrong roots: batch 0 step 3 and batch 2 step 5 (each
    followed by the honest root again, so the chain of batches is unchanged)."""
    document = _honest()
    document["batches"][0]["steps"][3]["root"] = "0x" + "aa" * 32
    document["batches"][2]["steps"][5]["root"] = "0x" + "bb" * 32
    return _write(tmp_path, document)


def test_replay_all_reports_every_bad_step(tmp_path: Path) -> None:
    bundle = _two_frauds(tmp_path)
    code, out, _ = _run("replay", "-q", "--json", bundle)
    assert code == 1 and "all" not in json.loads(out)  # without --all: the first fraud only
    code, out, _ = _run("replay", "-q", "--json", "--all", bundle)
    document = json.loads(out)
    assert code == 1
    assert [b["verdict"] for b in document["batches"]] == ["fraud", "skipped", "skipped"]
    bad = document["all"]["bad_steps"]
    assert [(b["batch"], b["step"], b["provable"]) for b in bad] == [(0, 3, True), (2, 5, True)]
    assert bad[1]["claimed_root"] == "0x" + "bb" * 32
    code, out, _ = _run("replay", "-q", "--all", bundle)
    assert "2 bad steps (2 provable)" in out
    assert "batch 2 step 5" in out and "provably wrong" in out


def test_replay_all_on_the_fraud_fixture_reports_the_inherited_steps() -> None:
    code, out, _ = _run("replay", "-q", "--json", "--all", str(FIXTURES / "fraud-wrong-root.json"))
    bad = json.loads(out)["all"]["bad_steps"]
    assert code == 1
    expected = [(1, k) for k in range(7, 20)] + [(2, k) for k in range(3)]
    assert [(b["batch"], b["step"]) for b in bad] == expected
    assert [b["provable"] for b in bad] == [True] + [False] * (len(expected) - 1)
    assert bad[-1]["invalid_reason"] == "bad_nonce"  # its senders' nonces are the fraud's


def test_replay_all_of_an_honest_bundle_is_the_plain_replay() -> None:
    code, out, _ = _run("replay", "-q", "--all", "--json", str(FIXTURES / "honest.json"))
    assert code == 0 and "all" not in json.loads(out)


# the human output


def test_replay_table_names_invalid_step_reasons_and_times_the_replay_only() -> None:
    code, out, _ = _run("replay", "-q", str(FIXTURES / "invalid-kinds.json"))
    assert code == 0
    for reason in ("bad_nonce", "insufficient_balance", "wrong_chain_id", "recipient_has_code"):
        assert reason in out
    assert "genesis built in" in out and "steps/s, replay only" in out
    code, out, _ = _run("replay", "-q", "--json", str(FIXTURES / "honest.json"))
    document = json.loads(out)
    assert document["steps_replayed"] == 60 and "genesis_seconds" in document


# --json error objects


@pytest.mark.parametrize(
    "args",
    [
        ("replay", "--json", "MISSING"),
        ("replay", "MISSING", "--json"),
        ("prove", "--json", "MISSING", "--batch", "0"),
        ("check-proof", "--json", "MISSING"),
        ("genesis-root", "--json", "MISSING"),
        ("conformance", "--json", "EMPTY"),
        ("replay", "--json"),  # a usage error
        ("replay", "--bogus", "--json", "MISSING"),  # found before --json is processed
        ("genesis-root", "--json", "MISSING", "extra"),
    ],
)
def test_json_commands_print_an_error_object_on_unusable_input(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "EMPTY").mkdir()
    resolved = [str(tmp_path / a) if a in ("MISSING", "EMPTY") else a for a in args]
    code, out, err = _run(*resolved)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    document = json.loads(out)
    assert set(document) == {"error", "status"} and document["status"] == 2
    assert document["error"] in err


def test_prove_json_says_there_is_nothing_to_prove() -> None:
    code, out, _ = _run("prove", "--json", str(FIXTURES / "honest.json"), "--batch", "0")
    assert code == 1 and json.loads(out)["fraud"] is False
    code, out, _ = _run("prove", "--json", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1")
    document = json.loads(out)
    assert code == 0 and document["step"] == 7 and document["proof"]["step"] == 7


# strict parsing


def _unknown_param(d: dict[str, Any]) -> None:
    d["params"]["chainid"] = 1


def _unknown_top(d: dict[str, Any]) -> None:
    d["comment"] = "x"


def _unknown_context(d: dict[str, Any]) -> None:
    d["batches"][1]["context"]["gaslimit"] = 1


def _unknown_batch(d: dict[str, Any]) -> None:
    d["batches"][0]["final_root"] = d["batches"][0]["prev_root"]


def _unknown_step(d: dict[str, Any]) -> None:
    d["batches"][2]["steps"][4]["sender"] = "0x00"


def _unknown_account(d: dict[str, Any]) -> None:
    first = next(iter(d["genesis"]))
    d["genesis"][first]["balanse"] = "0x1"


def _two_cases(d: dict[str, Any]) -> None:
    first = next(iter(d["genesis"]))
    d["genesis"][first.upper().replace("0X", "0x")] = {"balance": "0x1"}


def _number_not_index(d: dict[str, Any]) -> None:
    d["batches"][1]["context"]["number"] = 7


def _number_too_big(d: dict[str, Any]) -> None:
    d["batches"][0]["context"]["number"] = 2**64


def _timestamp_too_big(d: dict[str, Any]) -> None:
    d["batches"][0]["context"]["timestamp"] = hex(2**64)


STRICT_CASES = {
    "unknown params key": (_unknown_param, "params.chainid"),
    "unknown top-level key": (_unknown_top, "comment"),
    "unknown context key": (_unknown_context, "batches[1].context.gaslimit"),
    "unknown batch key": (_unknown_batch, "batches[0].final_root"),
    "unknown step key": (_unknown_step, "batches[2].steps[4].sender"),
    "unknown account key": (_unknown_account, ".balanse"),
    "one address in two letter cases": (_two_cases, "the same address as"),
    "context.number is not the index": (_number_not_index, "batches[1].context.number"),
    "context.number above 2^64-1": (_number_too_big, "batches[0].context.number"),
    "context.timestamp above 2^64-1": (_timestamp_too_big, "batches[0].context.timestamp"),
}


@pytest.mark.parametrize("name", list(STRICT_CASES))
def test_strict_bundle_parsing(tmp_path: Path, name: str) -> None:
    mutate, fragment = STRICT_CASES[name]
    document = _honest()
    mutate(document)
    code, out, err = _run("replay", "-q", _write(tmp_path, document))
    assert code == 2 and not out and err.count("\n") == 1, err
    assert fragment in err, (fragment, err)


def test_a_key_given_twice_is_an_error_naming_its_line(tmp_path: Path) -> None:
    """JSON keeps the last of two equal keys: an account or a field given twice is refused."""
    text = (FIXTURES / "honest.json").read_text()
    first = next(iter(_honest()["genesis"]))
    entry = f'"{first}": {{\n   "balance": "0x1",\n   "nonce": "0x0"\n  }},\n  '
    at = text.index(f'"{first}"')
    path = tmp_path / "dup.json"
    path.write_text(text[:at] + entry + text[at:])
    for command in (("replay", "-q"), ("genesis-root",), ("fill-roots",)):
        code, out, err = _run(*command, str(path))
        assert code == 2 and not out and err.count("\n") == 1, (command, err)
        assert f"duplicate key '{first}'" in err and "line 14" in err, err
