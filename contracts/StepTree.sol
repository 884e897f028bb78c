// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title StepTree
/// @notice The step commitment of protocol.md §4.2: leaves keccak(BE_4(k) || keccak(tx_k) || root_k),
///         a binary keccak Merkle tree padded with bytes32(0) leaves to the next power of two.
library StepTree {
    /// @notice The leaf of step `k`.
    function leaf(uint256 k, bytes32 txHash, bytes32 root) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint32(k), txHash, root));
    }

    /// @notice Number of levels above the leaves for `count` leaves: ceil(log2(count)).
    function depth(uint256 count) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < count) d++;
    }

    /// @notice The Merkle root of `leaves` (at least one). Overwrites `leaves`.
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        require(n > 0, "StepTree: no leaves");
        // Levels are computed in place; a missing right sibling is a padding subtree, whose root is
        // `zero` (bytes32(0) at the leaves, keccak(zero || zero) one level up, and so on).
        bytes32 zero = bytes32(0);
        while (n > 1) {
            uint256 half = (n + 1) / 2;
            for (uint256 i = 0; i < half; i++) {
                bytes32 l = leaves[2 * i];
                bytes32 r = 2 * i + 1 < n ? leaves[2 * i + 1] : zero;
                leaves[i] = _hash(l, r);
            }
            zero = _hash(zero, zero);
            n = half;
        }
        return leaves[0];
    }

    /// @notice Whether `proof` (sibling hashes from the leaf up) proves `leafHash` at position `k`
    ///         of a tree of `count` leaves with root `stepsRoot`.
    function verify(bytes32 stepsRoot, uint256 count, uint256 k, bytes32 leafHash, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        if (k >= count || proof.length != depth(count)) return false;
        bytes32 h = leafHash;
        for (uint256 i = 0; i < proof.length; i++) {
            h = (k >> i) & 1 == 0 ? _hash(h, proof[i]) : _hash(proof[i], h);
        }
        return h == stepsRoot;
    }

    function _hash(bytes32 a, bytes32 b) private pure returns (bytes32 h) {
        assembly {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }
}
