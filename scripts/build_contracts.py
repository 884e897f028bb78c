"""Compile contracts/ with the pinned solcjs and write deterministic JSON artifacts.

Usage::

    python scripts/build_contracts.py            # write the artifacts
    python scripts/build_contracts.py --check    # exit 1 if the committed artifacts are stale
    python scripts/build_contracts.py --out-dir D --test-out-dir T   # write elsewhere

The compiler is ``node_modules/solc`` (installed by ``npm ci`` from package-lock.json), run through
node with a standard-JSON input whose settings are fixed below. Contracts defined in
``contracts/*.sol`` get artifacts in ``watchtower/rollup/artifacts/``; test harnesses defined in
``contracts/test/*.sol`` get theirs in ``tests/contracts/artifacts/`` so they are not shipped.

Every artifact records the compiler version, the settings and a sha256 over all sources, so a stale
artifact is detectable without a compiler.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = ROOT / "contracts"
ARTIFACTS_DIR = ROOT / "watchtower" / "rollup" / "artifacts"
TEST_ARTIFACTS_DIR = ROOT / "tests" / "contracts" / "artifacts"
SOLC_PACKAGE = ROOT / "node_modules" / "solc"
EXPECTED_SOLC_VERSION = "0.8.28"

#: Fixed compiler settings: changing any of them changes the bytecode.
SETTINGS: dict[str, object] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "viaIR": False,
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

# Runs solcjs on the standard-JSON input read from stdin; prints {"version", "output"}.
_NODE_DRIVER = """
const solc = require(process.argv[1]);
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const output = solc.compile(input);
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(output)}));
});
"""


class BuildError(Exception):
    """The sources do not compile, or the toolchain is missing."""


def source_files() -> list[Path]:
    """All Solidity sources, sorted, as paths relative to the repository root."""
    return sorted(p.relative_to(ROOT) for p in CONTRACTS_DIR.rglob("*.sol"))


def sources_sha256(files: list[Path]) -> str:
    """sha256 over (path, NUL, length, NUL, content) of every source, in sorted path order."""
    digest = hashlib.sha256()
    for rel in files:
        content = (ROOT / rel).read_bytes()
        digest.update(rel.as_posix().encode() + b"\0" + str(len(content)).encode() + b"\0")
        digest.update(content)
    return digest.hexdigest()


def compile_sources() -> tuple[str, dict[str, object]]:
    """Compile every source; returns (solc long version, standard-JSON output)."""
    if not (SOLC_PACKAGE / "package.json").is_file():
        raise BuildError(f"{SOLC_PACKAGE} is missing: run `npm ci` in {ROOT}")
    node = shutil.which("node")
    if node is None:
        raise BuildError("node is not on PATH")
    files = source_files()
    std_input = {
        "language": "Solidity",
        "sources": {rel.as_posix(): {"content": (ROOT / rel).read_text()} for rel in files},
        "settings": SETTINGS,
    }
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [node, "-e", _NODE_DRIVER, str(SOLC_PACKAGE)],
        input=json.dumps(std_input),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise BuildError(f"solcjs failed: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    version = str(result["version"])
    if not version.startswith(EXPECTED_SOLC_VERSION + "+"):
        raise BuildError(f"solc {version} is installed; package.json pins {EXPECTED_SOLC_VERSION}")
    output: dict[str, object] = result["output"]
    errors = [e for e in _list(output.get("errors")) if _dict(e).get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(str(_dict(e).get("formattedMessage")) for e in errors))
    return version, output


def _dict(x: object) -> dict[str, object]:
    assert isinstance(x, dict)
    return x


def _list(x: object) -> list[object]:
    if x is None:
        return []
    assert isinstance(x, list)
    return x


def artifacts(version: str, output: dict[str, object]) -> dict[Path, dict[str, object]]:
    """The artifacts to write, keyed by their path relative to the repository root."""
    files = source_files()
    digest = sources_sha256(files)
    out: dict[Path, dict[str, object]] = {}
    contracts = _dict(output.get("contracts", {}))
    for source_name in sorted(contracts):
        source_path = Path(source_name)
        if source_path.parent == Path("contracts"):
            target = ARTIFACTS_DIR
        elif source_path.parent == Path("contracts/test"):
            target = TEST_ARTIFACTS_DIR
        else:
            continue
        for name, data in sorted(_dict(contracts[source_name]).items()):
            evm = _dict(_dict(data)["evm"])
            bytecode = str(_dict(evm["bytecode"])["object"])
            if not bytecode or not _list(_dict(data)["abi"]):
                continue  # interfaces, abstract contracts, libraries of internal functions
            rel = (target / f"{name}.json").relative_to(ROOT)
            if rel in out:
                raise BuildError(f"two contracts are named {name}")
            out[rel] = {
                "contractName": name,
                "sourceName": source_name,
                "abi": _dict(data)["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + str(_dict(evm["deployedBytecode"])["object"]),
                "compiler": {"name": "solc", "version": version, "settings": SETTINGS},
                "sourcesSha256": digest,
            }
    return out


def render(artifact: dict[str, object]) -> str:
    """The exact text written for an artifact."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def build(out_dir: Path | None = None, test_out_dir: Path | None = None) -> dict[Path, str]:
    """Compile and return {destination path: text}, honouring the optional output overrides."""
    version, output = compile_sources()
    result: dict[Path, str] = {}
    for rel, artifact in artifacts(version, output).items():
        dest = ROOT / rel
        if out_dir is not None and dest.parent == ARTIFACTS_DIR:
            dest = out_dir / rel.name
        if test_out_dir is not None and dest.parent == TEST_ARTIFACTS_DIR:
            dest = test_out_dir / rel.name
        result[dest] = render(artifact)
    return result


def existing_artifacts(directory: Path) -> dict[str, str]:
    """{file name: text} of the JSON artifacts in `directory`."""
    if not directory.is_dir():
        return {}
    return {p.name: p.read_text() for p in sorted(directory.glob("*.json"))}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, help="write package artifacts here instead")
    parser.add_argument(
        "--test-out-dir", type=Path, help="write test-harness artifacts here instead"
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare with committed artifacts"
    )
    args = parser.parse_args(argv)
    try:
        files = build(args.out_dir, args.test_out_dir)
    except BuildError as exc:
        print(f"build_contracts: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = [
            str(p.relative_to(ROOT))
            for p, text in files.items()
            if not p.is_file() or p.read_text() != text
        ]
        for directory in (ARTIFACTS_DIR, TEST_ARTIFACTS_DIR):
            expected = {p.name for p in files if p.parent == directory}
            stale += [
                f"{directory.relative_to(ROOT)}/{n} (no source)"
                for n in existing_artifacts(directory)
                if n not in expected
            ]
        for s in stale:
            print(f"stale: {s}", file=sys.stderr)
        return 1 if stale else 0
    for directory in (args.out_dir or ARTIFACTS_DIR, args.test_out_dir or TEST_ARTIFACTS_DIR):
        directory.mkdir(parents=True, exist_ok=True)
        expected = {p.name for p in files if p.parent == directory}
        for old in directory.glob("*.json"):
            if old.name not in expected:
                old.unlink()
    for path, text in sorted(files.items()):
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
