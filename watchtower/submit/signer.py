"""Loading the challenger's key: an encrypted keystore (password from env or file), or a raw key
from an environment variable. Key and password files readable by others are refused. No error
message ever contains key material."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Protocol

from eth_account import Account
from eth_account.signers.local import LocalAccount

from watchtower.errors import InputError
from watchtower.rollup import jsontext


def _private_file(path: Path, what: str) -> bytes:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"{what} {path} is readable by other users (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}`"
        )
    return path.read_bytes()


class TxSigner(Protocol):
    """What signs the service's transactions: a local key (:class:`LocalAccount`) or a remote
    signer process (:class:`~watchtower.submit.remote_signer.RemoteSigner`)."""

    @property
    def address(self) -> Any: ...

    def sign_transaction(self, transaction_dict: Any) -> Any: ...


def load_signer(
    *,
    key_env: str | None = None,
    keystore: Path | None = None,
    password_env: str | None = None,
    password_file: Path | None = None,
    remote_url: str | None = None,
    remote_address: str | None = None,
) -> TxSigner | None:
    """The signer described by the options, or ``None`` when none is given."""
    if remote_url is not None or remote_address is not None:
        if keystore is not None or key_env is not None:
            raise InputError("a remote signer excludes key_env and keystore: choose one signer")
        if remote_url is None or remote_address is None:
            raise InputError("a remote signer needs both remote_url and remote_address")
        from watchtower.submit.remote_signer import RemoteSigner

        return RemoteSigner(remote_url, remote_address)
    if keystore is not None:
        document = _private_file(keystore, "keystore")
        if password_file is not None:
            password = _private_file(password_file, "password file").decode().rstrip("\n")
        elif password_env is not None and password_env in os.environ:
            password = os.environ[password_env]
        else:
            raise InputError("a keystore needs --password-env or --password-file")
        try:
            key = Account.decrypt(jsontext.loads(document.decode("utf-8")), password)
        except (ValueError, KeyError, json.JSONDecodeError):
            raise InputError(
                f"keystore {keystore}: cannot decrypt (wrong password or not a keystore)"
            ) from None
        account: LocalAccount = Account.from_key(key)
        return account
    if key_env is not None and os.environ.get(key_env):
        try:
            account = Account.from_key(os.environ[key_env].strip())
        except (ValueError, TypeError):
            raise InputError(f"${key_env} does not hold a valid hex private key") from None
        return account
    return None


def load_cli_signer(
    *,
    key_env: str | None = None,
    keystore: Path | None = None,
    password_env: str | None = None,
    password_file: Path | None = None,
) -> TxSigner | None:
    """:func:`load_signer` for a command's ``--key-env``/``--keystore`` options: a
    ``--key-env`` naming a variable that is not set is an error, not "no signer"."""
    if key_env is not None and not os.environ.get(key_env):
        raise InputError(f"--key-env {key_env}: the environment variable ${key_env} is not set")
    return load_signer(
        key_env=key_env, keystore=keystore, password_env=password_env, password_file=password_file
    )
