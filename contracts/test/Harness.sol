// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MPT} from "../MPT.sol";
import {L2Tx} from "../L2Tx.sol";
import {Step} from "../Step.sol";

/// @title MPTHarness
/// @notice Test-only: exposes the account-trie reads and updates of `MPT` / `Step`.
contract MPTHarness {
    /// @notice Reads `addr` from the state with root `root` proven by `nodes`.
    function getAccount(bytes32 root, bytes[] calldata nodes, address addr)
        external
        pure
        returns (bool exists, Step.Account memory account)
    {
        MPT.NodeMap memory m = MPT.newMap(nodes, 0);
        return Step.readAccount(m, root, addr);
    }

    /// @notice Writes `accounts[i]` to `addrs[i]`, in order, starting from `root`; returns the roots
    ///         after every write and, finally, each address read back from the last root.
    function putAccounts(bytes32 root, bytes[] calldata nodes, address[] calldata addrs, Step.Account[] calldata accounts)
        external
        pure
        returns (bytes32[] memory roots, Step.Account[] memory readBack)
    {
        require(addrs.length == accounts.length, "length mismatch");
        MPT.NodeMap memory m = MPT.newMap(nodes, 8);
        roots = new bytes32[](addrs.length);
        for (uint256 i = 0; i < addrs.length; i++) {
            root = Step.writeAccount(m, root, addrs[i], accounts[i]);
            roots[i] = root;
        }
        readBack = new Step.Account[](addrs.length);
        for (uint256 i = 0; i < addrs.length; i++) {
            bool exists;
            (exists, readBack[i]) = Step.readAccount(m, root, addrs[i]);
            require(exists, "written account not found");
        }
    }

    /// @notice Raw trie access with caller-chosen 32-byte keys (to force long shared prefixes).
    function putRaw(bytes32 root, bytes[] calldata nodes, bytes32[] calldata keys, bytes[] calldata values)
        external
        pure
        returns (bytes32[] memory roots, bool[] memory found, bytes[] memory readBack)
    {
        require(keys.length == values.length, "length mismatch");
        MPT.NodeMap memory m = MPT.newMap(nodes, 0);
        roots = new bytes32[](keys.length);
        for (uint256 i = 0; i < keys.length; i++) {
            root = MPT.put(m, root, keys[i], values[i]);
            roots[i] = root;
        }
        found = new bool[](keys.length);
        readBack = new bytes[](keys.length);
        for (uint256 i = 0; i < keys.length; i++) (found[i], readBack[i]) = MPT.get(m, root, keys[i]);
    }

    /// @notice Raw lookup of `key`.
    function getRaw(bytes32 root, bytes[] calldata nodes, bytes32 key) external pure returns (bool found, bytes memory value) {
        MPT.NodeMap memory m = MPT.newMap(nodes, 0);
        return MPT.get(m, root, key);
    }

    /// @notice Gas used by `putAccounts`-style sequential writes (for the notes).
    function putGas(bytes32 root, bytes[] calldata nodes, address[] calldata addrs, Step.Account[] calldata accounts)
        external
        view
        returns (bytes32 newRoot, uint256 gasUsed)
    {
        uint256 g = gasleft();
        MPT.NodeMap memory m = MPT.newMap(nodes, 8);
        for (uint256 i = 0; i < addrs.length; i++) root = Step.writeAccount(m, root, addrs[i], accounts[i]);
        return (root, g - gasleft());
    }
}

/// @title StepHarness
/// @notice Test-only: exposes transaction decoding / validity and whole-step execution.
contract StepHarness {
    /// @notice Rules 1–9 and the decoded fields.
    function check(bytes calldata raw, uint256 chainId, uint256 baseFee)
        external
        pure
        returns (L2Tx.Reason reason, L2Tx.Tx memory t)
    {
        return L2Tx.check(raw, chainId, baseFee);
    }

    /// @notice One step: rules 1–13 and the effect.
    function execute(bytes32 preRoot, bytes calldata raw, Step.Context calldata ctx, bytes[] calldata nodes)
        external
        view
        returns (Step.Result memory result, uint256 gasUsed)
    {
        uint256 g = gasleft();
        result = Step.execute(preRoot, raw, ctx, nodes);
        gasUsed = g - gasleft();
    }
}

/// @notice Forwards a batch to the rollup from a contract: `submitBatch` must refuse it.
contract BatchForwarder {
    function forward(address rollup, bytes calldata batchData) external {
        (bool ok, bytes memory ret) = rollup.call(abi.encodeWithSignature("submitBatch(bytes)", batchData));
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @notice The compiled ABI decoder of `submitBatch(bytes calldata)` (same selector as the rollup's),
/// for the differential test of `watchtower.rollup.calldata`: what `abi.decode` gives the function,
/// as its keccak and length, or a revert where the decoder refuses the calldata.
contract SubmitBatchHarness {
    function submitBatch(bytes calldata batchData) external pure returns (bytes32 hash, uint256 length) {
        return (keccak256(batchData), batchData.length);
    }
}
