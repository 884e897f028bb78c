"""The start-up check of the stake against minStake() and the signer's balance (pure)."""

from __future__ import annotations

from watchtower.submit.funds import check_stake
from watchtower.submit.gas import CHALLENGE_GAS_RESERVE

ETHER = 10**18
GWEI = 10**9


def test_default_stake_is_the_minimum_and_a_rich_signer_passes() -> None:
    check = check_stake(None, ETHER, 10 * ETHER, 6_000_000, 30 * GWEI)
    assert check.stake == ETHER and check.error is None and check.warning is None
    assert check.needed == ETHER + 6_000_000 * 30 * GWEI * 2 and check.can_pay


def test_stake_below_min_stake_is_an_error_naming_both_values() -> None:
    check = check_stake(ETHER - 1, ETHER, 100 * ETHER, 6_000_000, GWEI)
    assert check.error is not None and "\n" not in check.error
    assert f"{ETHER - 1} wei" in check.error and f"minStake() of {ETHER} wei" in check.error
    assert check.warning is None


def test_stake_equal_to_or_above_min_stake_is_fine() -> None:
    assert check_stake(ETHER, ETHER, 100 * ETHER, 6_000_000, GWEI).error is None
    assert check_stake(3 * ETHER, ETHER, 100 * ETHER, 6_000_000, GWEI).error is None


def test_stake_far_above_the_balance_is_a_warning_not_an_error() -> None:
    """Short of money: keep watching and page (low_balance), do not refuse to start."""
    check = check_stake(1_000 * ETHER, ETHER, 5 * ETHER, 6_000_000, GWEI)
    assert check.error is None and not check.can_pay
    assert check.warning is not None and "\n" not in check.warning
    assert f"holds {5 * ETHER} wei" in check.warning and f"{1_000 * ETHER} wei" in check.warning


def test_the_gas_reserve_counts_at_twice_the_base_fee() -> None:
    reserve = 6_000_000 * 50 * GWEI * 2
    exact = check_stake(ETHER, ETHER, ETHER + reserve, 6_000_000, 50 * GWEI)
    assert exact.warning is None and exact.can_pay
    short = check_stake(ETHER, ETHER, ETHER + reserve - 1, 6_000_000, 50 * GWEI)
    assert short.warning is not None and not short.can_pay


def test_both_problems_at_once_and_a_zero_base_fee() -> None:
    check = check_stake(1, ETHER, 0, 6_000_000, 0)
    assert check.error is not None and check.warning is not None
    assert check_stake(None, ETHER, ETHER, 6_000_000, 0).warning is None  # no L1 base fee


def test_the_reserve_is_the_one_named_constant() -> None:
    import watchtower.service

    assert watchtower.service.CHALLENGE_GAS_RESERVE is CHALLENGE_GAS_RESERVE
    assert CHALLENGE_GAS_RESERVE >= 4_320_000  # a deep-trie challenge measured 4.32 M gas
