// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Step} from "./Step.sol";
import {L2Tx} from "./L2Tx.sol";

/// @title StepVerifier
/// @notice The single-step re-execution of protocol.md §3 as a contract of its own, so that the
///         Rollup's runtime code stays well under the EIP-170 limit. The Rollup creates one in its
///         constructor and calls it (a static call: `execute` is pure).
contract StepVerifier {
    /// @notice `Step.execute` over calldata arguments.
    function execute(bytes32 preRoot, bytes calldata raw, Step.Context calldata ctx, bytes[] calldata nodes)
        external
        pure
        returns (Step.Result memory)
    {
        return Step.execute(preRoot, raw, ctx, nodes);
    }

    /// @notice The state-independent rules 1–9 of protocol.md §3.1 (`L2Tx.check`), for
    ///         `Rollup.claimWithdrawal` (§8.5).
    /// @return reason the row number of the first rule that fails (0: rules 1–9 pass)
    /// @return sender the recovered sender (zero unless rule 3 passed)
    /// @return to the recipient (zero if the transaction did not decode)
    /// @return value the value transferred (zero if the transaction did not decode)
    function checkTransfer(bytes calldata raw, uint256 chainId, uint256 baseFee)
        external
        pure
        returns (uint8 reason, address sender, address to, uint256 value)
    {
        (L2Tx.Reason r, L2Tx.Tx memory t) = L2Tx.check(raw, chainId, baseFee);
        return (uint8(r), t.sender, t.to, t.value);
    }
}
