"""Development tools of watchtower, never imported by the runtime ``watchtower`` package.

A development rollup (:mod:`.devnet`) on an L1 (:mod:`.chain`: anvil or the embedded
eth-tester chain), the reference proposer (:mod:`.proposer`, :mod:`.builder`) and its faults
(:mod:`.faults`), fixture generation (:mod:`.fixturegen`, :mod:`.txgen`), the demo
(:mod:`.demo`), deep-trie grinding (:mod:`.deeptrie`) and the fault-injecting JSON-RPC proxy
(:mod:`.rpcproxy`). Its commands (:mod:`.cli`) join the ``watchtower`` command line through
the ``watchtower.commands`` entry-point group.
"""
