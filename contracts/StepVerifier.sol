// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Step} from "./Step.sol";

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
}
