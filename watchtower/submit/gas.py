"""Gas figures the service budgets with, in one place.

``CHALLENGE_GAS_RESERVE`` is the gas set aside for one ``challenge`` transaction when checking
that the signer can pay (the stake plus this much gas at twice the L1 base fee). The worst
challenge measured in the contract tests was 2.4 M gas (docs/protocol.md §7.9), but a deep-trie
challenge (9 proof nodes per account path) measured 4.32 M gas, and the cost grows with the trie
depth. 6 M leaves headroom over that measurement; the final figure is to be set from measurement
(issue 10), here and nowhere else.
"""

from __future__ import annotations

#: Gas reserved per challenge when checking the signer's balance (see the module docstring).
CHALLENGE_GAS_RESERVE = 6_000_000
