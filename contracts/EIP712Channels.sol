// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice A reward offer (docs/channels.md §1), signed by the user the guardian acts for.
/// @param channelId the channel (a chequebook: uint256(uint160(beneficiary)))
/// @param nonce the state nonce (state channel), the payment or cheque amount (the others)
/// @param amount the reward in wei (0 = no reward)
/// @param monitor the only address that can earn it
struct Reward {
    uint256 channelId;
    uint256 nonce;
    uint256 amount;
    address monitor;
}

/// @title EIP712Channels
/// @notice EIP-712 domain separators and digests, and strict ECDSA recovery, shared by the channel
///         contracts (docs/channels.md §1).
/// @dev A signature is exactly 65 bytes `r || s || v` with `v` 27 or 28 and `s` at most n/2
///      (EIP-2); anything else recovers to address(0), which callers treat as a bad signature.
library EIP712Channels {
    /// @notice keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @notice keccak256("1"): the domain version of every channel contract.
    bytes32 internal constant VERSION_HASH = keccak256("1");
    /// @notice keccak256("Reward(uint256 channelId,uint256 nonce,uint256 amount,address monitor)")
    bytes32 internal constant REWARD_TYPEHASH =
        keccak256("Reward(uint256 channelId,uint256 nonce,uint256 amount,address monitor)");
    /// @notice secp256k1n / 2: the largest `s` accepted (EIP-2).
    uint256 internal constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice The domain separator of the calling contract on the current chain.
    /// @param nameHash keccak256 of the domain name
    function domainSeparator(bytes32 nameHash) internal view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, nameHash, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice The EIP-712 digest of a struct hash under the calling contract's domain.
    function digest(bytes32 nameHash, bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(nameHash), structHash));
    }

    /// @notice hashStruct(Reward).
    function hashRewardStruct(Reward memory r) internal pure returns (bytes32) {
        return keccak256(abi.encode(REWARD_TYPEHASH, r.channelId, r.nonce, r.amount, r.monitor));
    }

    /// @notice The signer of `hash`, or address(0) if `sig` is malformed (length, v, high s) or
    ///         does not recover.
    function recover(bytes32 hash, bytes memory sig) internal pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > HALF_N) return address(0);
        return ecrecover(hash, v, r, s);
    }

    /// @notice Whether `sig` is `signer`'s valid signature of `hash` (never true for address(0)).
    function isSignedBy(bytes32 hash, bytes memory sig, address signer) internal pure returns (bool) {
        address recovered = recover(hash, sig);
        return recovered != address(0) && recovered == signer;
    }
}
