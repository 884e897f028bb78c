"""Assembling the channel guardian in ``watchtower run`` (``[service] guard`` includes
``channels``): the store, the L1 port, the guardian, the intake API, the sender lock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from web3 import Web3

from watchtower.backoff import RetrySchedule
from watchtower.channels.api import ApiServer, Intake, local_hash_signer
from watchtower.channels.chain import Web3ChannelChain
from watchtower.channels.guardian import Guardian, GuardianPolicy
from watchtower.channels.intake import IntakePolicy
from watchtower.channels.store import ChannelStore
from watchtower.channels.types import Kind
from watchtower.config import Settings
from watchtower.errors import InputError, one_line
from watchtower.store.db import Store
from watchtower.store.journal import SenderLock
from watchtower.submit.decide import FeePolicy

log = structlog.get_logger("watchtower.channels")


def guarded_contracts(settings: Settings) -> dict[bytes, Kind]:
    return {
        bytes.fromhex(c["address"].removeprefix("0x")): Kind(c["kind"])
        for c in settings["channels.contracts"]
    }


class ChannelRuntime:
    def __init__(
        self,
        guardian: Guardian,
        stores: list[Store],
        api: ApiServer | None,
        sender_lock: SenderLock | None,
        signer: Any,
    ) -> None:
        self.guardian = guardian
        self.stores = stores  # the guardian's connection and the API thread's
        self.api = api
        self.sender_lock = sender_lock
        self.signer = signer

    def tick_job(self, lock: threading.Lock, backoff: RetrySchedule) -> Callable[[], None]:
        def tick() -> None:
            with lock:
                if not backoff.due(time.monotonic()):
                    return
                try:
                    report = self.guardian.tick()
                except Exception as exc:  # the service keeps running: say what broke, once
                    retry_in = backoff.failed(time.monotonic())
                    log.error(
                        "channel_tick_failed",
                        error=one_line(exc),
                        failures=backoff.failures,
                        retry_in=retry_in,
                    )
                    return
                ended = backoff.succeeded()
                if ended:
                    log.info("channels_recovered", failures=ended)
                if report["acted"]:
                    log.info("channel_tick", **report)

        return tick

    def close(self) -> None:
        if self.api is not None:
            self.api.stop()
        for store in self.stores:
            store.close()
        if self.sender_lock is not None:
            self.sender_lock.release()


def build_channels(
    settings: Settings,
    signer: Any,
    metrics: Any,
    alert: Callable[..., None],
    *,
    sender_locked: bool,
) -> ChannelRuntime:
    """The guardian from the settings. ``sender_locked``: this process already holds the data
    directory's sender lock (the rollup side in challenge mode)."""
    contracts = guarded_contracts(settings)
    if not contracts:
        raise InputError("channels: no contracts to guard: set [channels] contracts")
    if not settings["l1.rpc"]:
        raise InputError("channels: no L1 endpoint: give --l1-rpc or [l1] rpc")
    data_dir = Path(settings["service.data_dir"])
    w3 = Web3(
        Web3.HTTPProvider(settings["l1.rpc"][0], request_kwargs={"timeout": settings["l1.timeout"]})
    )
    chain = Web3ChannelChain(w3, contracts)
    token = None
    if settings["channels.api_listen"]:
        variable = settings["channels.api_token_env"]
        if variable is None:
            raise InputError("channels.api_listen needs channels.api_token_env (the bearer token)")
        if signer is None:
            raise InputError(
                "channels.api_listen needs a signer (signer.key_env or signer.keystore): "
                "receipts are signed and rewards name the guardian's address"
            )
        token = os.environ.get(variable)
        if not token:
            raise InputError(f"channels.api_token_env: environment variable ${variable} is not set")
    lock = None
    if signer is not None and not sender_locked:
        lock = SenderLock(data_dir)
    store = Store(data_dir / "watchtower.sqlite")
    channel_store = ChannelStore(store)
    guardian = Guardian(
        chain=chain,
        store=channel_store,
        signer=signer,
        contracts=contracts,
        alert=alert,
        fees=FeePolicy.of_settings(settings.values),
        policy=GuardianPolicy(
            claim_margin=settings["channels.claim_margin"],
            confirmations=settings["channels.confirmations"],
            chunk=settings["l1.chunk"],
        ),
        metrics=metrics,
        start_block=settings["channels.start_block"],
    )
    api = None
    stores = [store]
    try:
        if token is not None:
            api_store = Store(data_dir / "watchtower.sqlite")  # its own connection: its thread
            stores.append(api_store)
            monitor = guardian.me
            intake = Intake(
                store=ChannelStore(api_store),
                chain=chain,
                policy=IntakePolicy(
                    chain_id=chain.chain_id(),
                    guardian=monitor,
                    contracts=contracts,
                    min_reward_wei=settings["channels.min_reward_wei"],
                ),
                sign_hash=local_hash_signer(signer),
            )
            listen = settings["channels.api_listen"]
            try:
                api = ApiServer(listen, intake, token).start()
            except OSError as exc:
                raise InputError(f"channels.api_listen {listen}: {exc.strerror or exc}") from None
    except BaseException:
        for opened in stores:
            opened.close()
        if lock is not None:
            lock.release()
        raise
    return ChannelRuntime(guardian, stores, api, lock, signer)
