"""``config check``: the effective configuration as real TOML, and the ``--strict`` checks that
what the configuration names exists and is usable (files, environment variables, the key, the
genesis against the contract).

Each check returns one line per problem; an empty list means the configuration is usable. The L1
check takes a reader function, so the rules are tested without a node.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchtower.config import Settings
from watchtower.errors import InputError
from watchtower.submit.signer import load_signer

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    """A TOML value. JSON's string escapes, integers, floats and booleans are valid TOML; lists
    are written inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def to_toml(document: Mapping[str, Mapping[str, Any]], sources: Mapping[str, str]) -> str:
    """The configuration as a TOML document that ``tomllib`` reads back to ``document`` (unset
    values, which TOML cannot write, become comments), each value followed by its source."""
    lines: list[str] = []
    for section, table in document.items():
        if lines:
            lines.append("")
        lines.append(f"[{_key(section)}]")
        tables: list[tuple[str, list[dict[str, Any]]]] = []
        for key, value in table.items():
            source = sources.get(f"{section}.{key}", "file")
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                tables.append((key, value))
            elif value is None:
                lines.append(f"# {_key(key)} is not set   ({source})")
            else:
                lines.append(f"{_key(key)} = {_value(value)}   # {source}")
        for key, entries in tables:
            for entry in entries:
                lines.append("")
                lines.append(f"[[{_key(section)}.{_key(key)}]]")
                for k, v in entry.items():
                    if v is None:
                        lines.append(f"# {_key(k)} is not set")
                    else:
                        lines.append(f"{_key(k)} = {_value(v)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ContractFacts:
    """What the strict check reads from the rollup contract."""

    genesis_root: bytes
    genesis_supply: int | None = None  # None: a contract without the bridge (protocol v1)


def _readable(path_text: str, what: str) -> str | None:
    path = Path(path_text)
    if not path.exists():
        return f"{what} {path} does not exist"
    if not path.is_file():
        return f"{what} {path} is not a file"
    if not os.access(path, os.R_OK):
        return f"{what} {path} is not readable by this user"
    return None


def _data_dir(path_text: str) -> str | None:
    path = Path(path_text)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"service.data_dir {path}: {probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"service.data_dir {path}: {probe} is not writable by this user"
    return None


def _signer(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    keystore = settings["signer.keystore"]
    key_env = settings["signer.key_env"]
    password_env = settings["signer.password_env"]
    password_file = settings["signer.password_file"]
    problems: list[str] = []
    remote_url = settings["signer.remote_url"]
    if remote_url is not None or settings["signer.remote_address"] is not None:
        return _remote(remote_url, settings["signer.remote_address"], key_env, keystore)
    if keystore is not None:
        for path_text, what in ((keystore, "signer.keystore"), (password_file, "password file")):
            if path_text is not None and (problem := _readable(path_text, what)):
                problems.append(problem)
        if password_env is not None and password_env not in environ:
            problems.append(f"signer.password_env names ${password_env}, which is not set")
        if password_env is None and password_file is None:
            problems.append("signer.keystore needs password_env or password_file")
    elif key_env is not None and not environ.get(key_env):
        problems.append(f"signer.key_env names ${key_env}, which is not set or empty")
    if problems or (keystore is None and key_env is None):
        return problems
    try:  # reads the variables from the process environment, as `run` will
        load_signer(
            key_env=key_env,
            keystore=Path(keystore) if keystore else None,
            password_env=password_env,
            password_file=Path(password_file) if password_file else None,
        )
    except InputError as exc:
        problems.append(f"signer: {exc}")
    return problems


def _remote(
    url: str | None, address: str | None, key_env: str | None, keystore: str | None
) -> list[str]:
    try:
        signer = load_signer(
            key_env=key_env,
            keystore=Path(keystore) if keystore else None,
            remote_url=url,
            remote_address=address,
        )
    except InputError as exc:
        return [f"signer: {exc}"]
    from watchtower.submit.remote_signer import RemoteSigner, RemoteSignerError

    assert isinstance(signer, RemoteSigner)
    try:
        accounts = signer.accounts()
    except RemoteSignerError as exc:
        return [f"signer.remote_url: {exc}"]
    if accounts is not None and signer.address.lower() not in {a.lower() for a in accounts}:
        return [f"signer.remote_address {signer.address} is not an account of the remote signer"]
    return []


def _sinks(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    problems = []
    for kind, entries in settings.sinks.items():
        for n, entry in enumerate(entries):
            for key, value in entry.items():
                if key.endswith("_env") and value and not environ.get(str(value)):
                    problems.append(
                        f"alerts.{kind}[{n}].{key} names ${value}, which is not set or empty"
                    )
    return problems


def strict_problems(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    genesis: Callable[[Path], tuple[bytes, int]] | None = None,
    contract: ContractFacts | None = None,
) -> list[str]:
    """Everything the configuration names that is missing or unusable, one line each.

    ``genesis(path)`` returns the genesis root and the sum of its balances (it raises
    :class:`InputError` for a bad file); ``contract`` is what the rollup contract says, when an
    L1 node was given."""
    problems: list[str] = []
    genesis_path = settings["service.genesis"]
    if genesis_path is None:
        problems.append("service.genesis is not set (run needs the L2 genesis file)")
    elif problem := _readable(genesis_path, "service.genesis"):
        problems.append(problem)
    elif genesis is not None:
        try:
            root, supply = genesis(Path(genesis_path))
        except InputError as exc:
            problems.append(f"service.genesis: {exc}")
        else:
            if contract is not None and contract.genesis_root != root:
                problems.append(
                    f"service.genesis {genesis_path} has root 0x{root.hex()}, the contract's "
                    f"genesisRoot() is 0x{contract.genesis_root.hex()}: another rollup's genesis"
                )
            elif (
                contract is not None
                and contract.genesis_supply is not None
                and contract.genesis_supply != supply
            ):
                problems.append(
                    f"service.genesis holds {supply} wei but the contract's genesisSupply() is "
                    f"{contract.genesis_supply} wei: the L2 genesis is not backed on L1"
                )
    if problem := _data_dir(settings["service.data_dir"]):
        problems.append(problem)
    problems += _signer(settings, environ)
    if settings["service.mode"] == "challenge" and not (
        settings["signer.keystore"] or settings["signer.key_env"] or settings["signer.remote_url"]
    ):
        problems.append("service.mode = challenge needs a signer (key_env, keystore or remote_url)")
    problems += _sinks(settings, environ)
    if settings["l1.rollup"] is None:
        problems.append("l1.rollup is not set")
    if not settings["l1.rpc"]:
        problems.append("l1.rpc is not set")
    return problems
