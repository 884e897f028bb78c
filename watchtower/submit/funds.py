"""The start-up check of the challenge stake against the rollup contract and the signer's money.

:func:`check_stake` is pure (numbers in, a verdict out) so that every case is a millisecond test;
:class:`watchtower.service.Watchtower` calls it after connecting, in challenge mode, with the
contract's ``minStake()``, the signer's balance, ``CHALLENGE_GAS_RESERVE``
(:mod:`watchtower.submit.gas`) and the latest L1 base fee.

* A stake below ``minStake()`` is an unusable configuration: every challenge would revert with
  ``stake below minStake``, so the service refuses to start (one line, exit status 2).
* A balance below the stake plus the gas reserve at twice the base fee is *not* a reason to stop
  watching (a watchtower that is short of money should watch and page, not go dark): the service
  starts, logs one line and raises ``low_balance`` at once, and every tick checks again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StakeCheck:
    """The outcome of :func:`check_stake`."""

    stake: int  # the stake each challenge will send: configured, or the contract's minimum
    min_stake: int
    balance: int
    needed: int  # stake + gas reserve at twice the base fee
    error: str | None  # set: the configuration cannot work (refuse to start)
    warning: str | None  # set: the signer cannot pay a challenge now (alert, keep running)

    @property
    def can_pay(self) -> bool:
        return self.balance >= self.needed


def challenge_cost(stake: int, gas_reserve: int, base_fee: int) -> int:
    """What a challenge needs in the signer's account: the stake plus ``gas_reserve`` gas at twice
    ``base_fee`` (the fee cap the challenger starts with)."""
    return stake + gas_reserve * base_fee * 2


def check_stake(
    configured: int | None, min_stake: int, balance: int, gas_reserve: int, base_fee: int
) -> StakeCheck:
    """Check the configured stake (``None``: the contract's minimum) against ``min_stake`` and
    the signer's ``balance``, reserving ``gas_reserve`` gas at twice ``base_fee`` (the fee cap
    the challenger starts with)."""
    stake = min_stake if configured is None else configured
    needed = challenge_cost(stake, gas_reserve, base_fee)
    error = None
    if stake < min_stake:
        error = (
            f"the configured stake (--stake / challenge.stake_wei) is {stake} wei, below the "
            f"rollup contract's minStake() of {min_stake} wei: every challenge would revert"
        )
    warning = None
    if balance < needed:
        warning = (
            f"the signer holds {balance} wei, less than the stake of {stake} wei plus "
            f"{gas_reserve:,} gas at twice the L1 base fee of {base_fee} wei ({needed} wei): "
            "a challenge cannot be paid until the account is topped up"
        )
    return StakeCheck(
        stake=stake,
        min_stake=min_stake,
        balance=balance,
        needed=needed,
        error=error,
        warning=warning,
    )
