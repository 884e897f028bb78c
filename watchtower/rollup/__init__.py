"""The rollup protocol (docs/protocol.md): parameters, types, transaction rules, batch codec."""
