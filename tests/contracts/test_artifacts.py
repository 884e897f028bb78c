"""The committed artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from watchtower.rollup.artifacts import artifact_names, load_artifact

ROOT = Path(__file__).resolve().parents[2]


def build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_contracts", ROOT / "scripts" / "build_contracts.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_contracts"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("solc_installed")
def test_committed_artifacts_match_sources(tmp_path: Path) -> None:
    build = build_module()
    out, test_out = tmp_path / "pkg", tmp_path / "test"
    assert build.main(["--out-dir", str(out), "--test-out-dir", str(test_out)]) == 0
    for fresh_dir, committed_dir in (
        (out, build.ARTIFACTS_DIR),
        (test_out, build.TEST_ARTIFACTS_DIR),
    ):
        fresh = build.existing_artifacts(fresh_dir)
        committed = build.existing_artifacts(committed_dir)
        assert sorted(fresh) == sorted(committed), (
            "artifact set differs: run scripts/build_contracts.py"
        )
        for name, text in fresh.items():
            assert committed[name] == text, (
                f"{committed_dir.name}/{name} is stale: run scripts/build_contracts.py"
            )


@pytest.mark.usefixtures("solc_installed")
def test_build_is_deterministic(tmp_path: Path) -> None:
    build = build_module()
    first = {p.name: t for p, t in build.build(tmp_path / "a", tmp_path / "b").items()}
    second = {p.name: t for p, t in build.build(tmp_path / "a", tmp_path / "b").items()}
    assert first == second


def test_sources_hash_matches_committed_artifacts() -> None:
    """Cheap staleness check that needs no compiler."""
    build = build_module()
    digest = build.sources_sha256(build.source_files())
    for name in artifact_names():
        assert load_artifact(name)["sourcesSha256"] == digest, (
            f"{name}: sources changed since the build"
        )


def test_load_artifact_shape() -> None:
    rollup = load_artifact("Rollup")
    assert rollup["contractName"] == "Rollup"
    assert isinstance(rollup["abi"], list)
    assert str(rollup["bytecode"]).startswith("0x")
    for name in artifact_names():  # EIP-170 (runtime) and EIP-3860 (init code) limits
        artifact = load_artifact(name)
        runtime = len(str(artifact["deployedBytecode"])) // 2 - 1
        init = len(str(artifact["bytecode"])) // 2 - 1
        assert 0 < runtime <= 24576, f"{name}: runtime code {runtime} bytes exceeds EIP-170"
        assert init <= 49152, f"{name}: init code {init} bytes exceeds EIP-3860"
    compiler = rollup["compiler"]
    assert isinstance(compiler, dict)
    assert str(compiler["version"]).startswith("0.8.28+")
    pkg = json.loads((ROOT / "package.json").read_text())
    assert pkg["devDependencies"]["solc"] == "0.8.28"
    with pytest.raises(KeyError):
        load_artifact("NoSuchContract")
    with pytest.raises(KeyError):
        load_artifact("../Rollup")
