"""Adversarial tests of contracts/Rollup.sol (issue 10): raw transactions from the attacker's own
keys against a real anvil node, not through the project's proposer or challenger."""
