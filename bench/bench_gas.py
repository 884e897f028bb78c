"""Gas benchmark of the rollup contract on anvil: the figures quoted in protocol.md §7.9 and the
README.

Usage: python bench/bench_gas.py [--fillers 0,50,1000]

Measures, on a fresh anvil node (from node_modules, `npm ci`) per scenario:
  * ``commitChallenge``: the first half of a challenge;
  * ``challenge`` (the reveal) that succeeds, for every fraud variant of the contract tests
    (an invalid tx claimed to apply, a valid one claimed to be a no-op, a wrong coinbase reward, a
    transfer to a new account, a sender that is the coinbase) over states of 4 + N accounts;
  * the reveal of a fraud in the last step of a 4,096-step batch, and that ``submitBatch``;
  * ``submitBatch`` of a 100-transfer batch; ``finalize``;
  * the bridge (protocol.md §8): ``deposit``, ``submitBatch`` of 100 deposit steps,
    ``claimWithdrawal``, and the reveal that proves a deposit step credited wrongly.
Deep tries (addresses ground to share key prefixes) are measured by
``tests/integration/test_deep_trie_gas.py`` and printed by ``bench/bench_deep_trie.py`` where
present. Gas is deterministic for a given contract and input: one run gives the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from eth_utils import keccak
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.contracts.test_rollup import (
    CHAIN_ID,
    FRAUD_VARIANTS,
    KEYS,
    MIN_STAKE,
    PERIOD,
    USERS,
    advance,
    challenge_args,
    make_env,
    prove_variant,
    send,
    sign_transfer,
    state_trie,
    submit,
    transfers,
)
from watchtower_dev.chain import AnvilNode, start_anvil


def fresh() -> tuple[Web3, AnvilNode]:
    node = start_anvil()
    return node.web3(), node


def bridge() -> None:
    """The bridge rows: raw transactions from funded keys (the adversarial tests' kit)."""
    import coincurve

    from tests.adversarial.bridge_kit import (
        BRIDGE,
        SUPPLY,
        Users,
        bridge_world,
        challenge,
        claim,
        deposit,
        deposit_step,
        root_with,
        run,
    )
    from tests.adversarial.kit import ETHER, PERIOD, Actor, ok
    from tests.contracts.contract_reference import Account, sign_transfer
    from tests.contracts.test_rollup import CHAIN_ID

    w3, node = fresh()
    try:
        world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
        depositor = Actor(w3, "depositor", balance=10_000 * ETHER)
        recipients = [keccak(b"recipient %d" % i)[:20] for i in range(100)]
        deposits = [
            int(ok(w3, deposit(world, depositor, r, ETHER + i))["gasUsed"])
            for i, r in enumerate(recipients)
        ]
        batch = run(world, [deposit_step(i, r, ETHER + i) for i, r in enumerate(recipients)])
        submit100 = int(ok(w3, world.submit(batch))["gasUsed"])
        users = Users()
        wd = run(world, [users.withdraw(1, ETHER)])
        ok(w3, world.submit(wd))
        w3.provider.make_request("evm_increaseTime", [PERIOD + 1])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        for i in range(2):
            ok(w3, depositor.send(world.address, world.data("finalize", i)))
        claim_gas = int(ok(w3, claim(world, depositor, wd, 0))["gasUsed"])
        ok(w3, deposit(world, depositor, recipients[0], ETHER))
        pre = world.l2.state
        lie = {recipients[0]: Account(0, pre[recipients[0]].balance + 100 * ETHER)}
        bad = run(
            world, [deposit_step(100, recipients[0], ETHER)], claimed={0: root_with(pre, lie)}
        )
        ok(w3, world.submit(bad))
        reveal = int(ok(w3, challenge(world, Actor(w3, "challenger"), bad, 0))["gasUsed"])
        world.l2.state = pre  # the rejected batch never happened

        # A forged withdrawal: a key with nothing on L2 "withdraws" most of the bridge, and
        # the claimed root applies it (the fault of the demo).
        thief = coincurve.PrivateKey(keccak(b"bench thief"))
        thief_address = keccak(thief.public_key.format(compressed=False)[1:])[-12:]
        amount = SUPPLY * 9 // 10
        forged_tx = sign_transfer(thief, CHAIN_ID, 0, BRIDGE, amount)
        pre = world.l2.state
        forged_root = root_with(pre, {thief_address: Account(1, 0), BRIDGE: Account(0, amount)})
        forged = run(world, [forged_tx], claimed={0: forged_root})
        ok(w3, world.submit(forged))
        forge_reveal = int(ok(w3, challenge(world, Actor(w3, "challenger2"), forged, 0))["gasUsed"])
        world.l2.state = pre

        # An invented deposit: an empty (undecodable, no-op) step claimed to credit the thief.
        invented = run(
            world, [b""], claimed={0: root_with(pre, {thief_address: Account(0, 1000 * ETHER)})}
        )
        ok(w3, world.submit(invented))
        invent_reveal = int(
            ok(w3, challenge(world, Actor(w3, "challenger3"), invented, 0))["gasUsed"]
        )
    finally:
        node.stop()
    print(
        f"deposit: first {deposits[0]}, median {statistics.median(deposits):.0f} "
        f"(genesis supply {SUPPLY} wei)"
    )
    print(f"submitBatch, 100 deposit steps: {submit100}")
    print(f"claimWithdrawal: {claim_gas}")
    print(f"challenge (reveal) of a deposit step credited wrongly (104 accounts): {reveal}")
    print(f"challenge (reveal) of a forged withdrawal (sender without funds): {forge_reveal}")
    print(
        f"challenge (reveal) of an invented deposit (a no-op step claimed to credit): "
        f"{invent_reveal}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fillers", default="0,50,1000", help="extra accounts per state")
    parser.add_argument("--bridge-only", action="store_true", help="only the bridge rows")
    args = parser.parse_args()
    if args.bridge_only:
        bridge()
        return
    fillers = [int(x) for x in args.fillers.split(",")]

    reveals: list[tuple[str, int, int]] = []
    commits: list[int] = []
    for n in fillers:
        for variant in FRAUD_VARIANTS:
            w3, node = fresh()
            try:
                env = make_env(w3, n)
                receipt, _ = prove_variant(env, variant)
                reveals.append((variant, n, int(receipt["gasUsed"])))
                fn = env.rollup.functions
                c = fn.challengeCommitment(env.challenger, 1, 0, b"\1" * 32, b"\0" * 32).call()
                commits.append(int(send(w3, fn.commitChallenge(c), env.challenger)["gasUsed"]))
            finally:
                node.stop()

    w3, node = fresh()
    try:
        env = make_env(w3, 200)
        root0 = state_trie(env.l2.state).root_hash
        steps, _ = env.l2.run(transfers(0, 100))
        small = int(submit(env, 0, root0, steps)["gasUsed"])
        advance(w3, PERIOD + 1)
        fin = int(send(w3, env.rollup.functions.finalize(0), env.challenger)["gasUsed"])
        send(w3, env.rollup.functions.depositBond(), env.proposer, 2 * 10**18)
        root1 = steps[-1][1]
        steps2, _ = env.l2.run(transfers(100, 40))
        filler = [(b"", steps2[-1][1])] * (4096 - 41)
        last_tx = sign_transfer(KEYS[1], CHAIN_ID, 0, USERS[0], 1)
        all_steps = steps2 + filler + [(last_tx, keccak(b"bad"))]
        big = int(submit(env, 1, root1, all_steps)["gasUsed"])
        k = len(all_steps) - 1
        receipt = send(
            w3,
            env.rollup.functions.challenge(*challenge_args(env, 1, all_steps, k, env.l2.state)),
            env.challenger,
            MIN_STAKE,
        )
        deep_step = int(receipt["gasUsed"])
    finally:
        node.stop()

    gases = [g for _, _, g in reveals]
    worst = max(reveals, key=lambda r: r[2])
    print(f"commitChallenge: {statistics.median(commits):.0f} (all {min(commits)}–{max(commits)})")
    print(
        f"challenge (reveal) that succeeds, {len(gases)} fraud proofs: median "
        f"{statistics.median(gases):.0f}, max {worst[2]} ({worst[0]}, {worst[1] + 4} accounts)"
    )
    for variant, n, gas in reveals:
        print(f"  {variant:<8} {n + 4:>5} accounts  {gas}")
    print(f"challenge of step 4095 of a 4,096-step batch (204 accounts): {deep_step}")
    print(f"submitBatch, 100 transfers: {small}; 4,096 steps: {big}")
    print(f"finalize: {fin}")
    bridge()


if __name__ == "__main__":
    main()
