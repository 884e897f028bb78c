// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RLP} from "./RLP.sol";

/// @title L2Tx
/// @notice Decoding and the state-independent validity rules of an L2 transaction (protocol.md §3,
///         §3.1 rules 1–9). Rules 10–13 need account state and live in `Step`.
library L2Tx {
    /// @notice Why a transaction is invalid. The numeric value of each reason is its row number in
    ///         the table of protocol.md §3.1; `Valid` (0) means every rule passed.
    enum Reason {
        Valid,
        Undecodable,
        WrongChainId,
        BadSignature,
        ContractCreation,
        NonemptyData,
        NonemptyAccessList,
        BadGasLimit,
        TipAboveFeeCap,
        FeeCapBelowBaseFee,
        SenderHasCode,
        BadNonce,
        InsufficientBalance,
        RecipientHasCode
    }

    /// @notice MAX_TX_BYTES of protocol.md §1.
    uint256 internal constant MAX_TX_BYTES = 4096;
    /// @notice L2_GAS_LIMIT of protocol.md §1.
    uint256 internal constant L2_GAS_LIMIT = 30_000_000;
    /// @notice Intrinsic (and total) gas of a value transfer.
    uint256 internal constant TX_GAS = 21_000;
    /// @notice Order of the secp256k1 group.
    uint256 internal constant SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141;

    /// @notice The fields of a decoded transaction. For a legacy transaction `maxPriorityFee` and
    ///         `maxFee` both hold `gas_price`, and `chainId` is 0 (the chain id is in `v`).
    struct Tx {
        bool typed; // EIP-1559 (type 2) rather than legacy
        uint256 chainId; // type 2 only
        uint256 nonce;
        uint256 maxPriorityFee;
        uint256 maxFee;
        uint256 gas;
        bool hasTo; // false: `to` is the empty string (contract creation)
        address to;
        uint256 value;
        uint256 dataLength;
        uint256 accessListLength; // type 2 only: number of entries
        uint256 v; // legacy: v; type 2: y_parity
        uint256 r;
        uint256 s;
        address sender; // set by `check` once rule 3 passes
    }

    /// @notice Strictly decodes `raw` as a legacy EIP-155 or a type-2 transaction.
    /// @return ok false means `undecodable` (rule 1)
    /// @return t the fields
    /// @return signingHash the hash the signature is over; legacy signing hashes use `chainId`
    function decode(bytes memory raw, uint256 chainId)
        internal
        pure
        returns (bool ok, Tx memory t, bytes32 signingHash)
    {
        if (raw.length == 0 || raw.length > MAX_TX_BYTES) return (false, t, bytes32(0));
        uint256 base;
        assembly {
            base := add(raw, 32)
        }
        RLP.Item memory top;
        if (uint8(raw[0]) == 0x02) {
            t.typed = true;
            (ok, top) = RLP.readItem(base + 1, raw.length - 1);
            if (!ok || top.len != raw.length - 1) return (false, t, bytes32(0));
        } else {
            (ok, top) = RLP.fromBytes(raw);
            if (!ok) return (false, t, bytes32(0));
        }
        RLP.Item[] memory it;
        (ok, it) = RLP.toList(top);
        if (!ok) return (false, t, bytes32(0));
        if (t.typed) {
            ok = _decodeTyped(it, t);
        } else {
            ok = _decodeLegacy(it, t);
        }
        if (!ok) return (false, t, bytes32(0));
        signingHash = _signingHash(it, t.typed, chainId);
    }

    function _decodeLegacy(RLP.Item[] memory it, Tx memory t) private pure returns (bool ok) {
        if (it.length != 9) return false;
        bool[9] memory oks;
        (oks[0], t.nonce) = RLP.toUint(it[0]);
        (oks[1], t.maxFee) = RLP.toUint(it[1]);
        t.maxPriorityFee = t.maxFee;
        (oks[2], t.gas) = RLP.toUint(it[2]);
        (oks[3], t.hasTo, t.to) = _decodeTo(it[3]);
        (oks[4], t.value) = RLP.toUint(it[4]);
        (oks[5], t.dataLength) = RLP.stringLength(it[5]);
        (oks[6], t.v) = RLP.toUint(it[6]);
        (oks[7], t.r) = RLP.toUint(it[7]);
        (oks[8], t.s) = RLP.toUint(it[8]);
        for (uint256 i = 0; i < 9; i++) if (!oks[i]) return false;
        return true;
    }

    function _decodeTyped(RLP.Item[] memory it, Tx memory t) private pure returns (bool ok) {
        if (it.length != 12) return false;
        bool[12] memory oks;
        (oks[0], t.chainId) = RLP.toUint(it[0]);
        (oks[1], t.nonce) = RLP.toUint(it[1]);
        (oks[2], t.maxPriorityFee) = RLP.toUint(it[2]);
        (oks[3], t.maxFee) = RLP.toUint(it[3]);
        (oks[4], t.gas) = RLP.toUint(it[4]);
        (oks[5], t.hasTo, t.to) = _decodeTo(it[5]);
        (oks[6], t.value) = RLP.toUint(it[6]);
        (oks[7], t.dataLength) = RLP.stringLength(it[7]);
        (oks[8], t.accessListLength) = _decodeAccessList(it[8]);
        (oks[9], t.v) = RLP.toUint(it[9]);
        (oks[10], t.r) = RLP.toUint(it[10]);
        (oks[11], t.s) = RLP.toUint(it[11]);
        for (uint256 i = 0; i < 12; i++) if (!oks[i]) return false;
        return t.v <= 1;
    }

    /// @dev `to` is the empty string or exactly 20 bytes.
    function _decodeTo(RLP.Item memory item) private pure returns (bool ok, bool hasTo, address to) {
        (bool sok, uint256 len) = RLP.stringLength(item);
        if (!sok) return (false, false, address(0));
        if (len == 0) return (true, false, address(0));
        (ok, to) = RLP.toAddress(item);
        return (ok, true, to);
    }

    /// @dev An access list is a list of [address (20 bytes), [storage key (32 bytes), ...]].
    function _decodeAccessList(RLP.Item memory item) private pure returns (bool ok, uint256 count) {
        RLP.Item[] memory entries;
        (ok, entries) = RLP.toList(item);
        if (!ok) return (false, 0);
        for (uint256 i = 0; i < entries.length; i++) {
            RLP.Item[] memory pair;
            (ok, pair) = RLP.toList(entries[i]);
            if (!ok || pair.length != 2) return (false, 0);
            (ok, ) = RLP.toAddress(pair[0]);
            if (!ok) return (false, 0);
            RLP.Item[] memory keys;
            (ok, keys) = RLP.toList(pair[1]);
            if (!ok) return (false, 0);
            for (uint256 k = 0; k < keys.length; k++) {
                (ok, ) = RLP.toBytes32(keys[k]);
                if (!ok) return (false, 0);
            }
        }
        return (true, entries.length);
    }

    /// @dev The signing hash, re-using the (canonical) encodings of the unsigned fields in place.
    function _signingHash(RLP.Item[] memory it, bool typed, uint256 chainId) private pure returns (bytes32) {
        uint256 last = typed ? 8 : 5;
        uint256 start = it[0].ptr;
        uint256 len = it[last].ptr + it[last].len - start;
        bytes memory fields = RLP.copy(start, len);
        if (typed) {
            return keccak256(bytes.concat(hex"02", RLP.encodeList(fields)));
        }
        return keccak256(RLP.encodeList(bytes.concat(fields, RLP.encodeUint(chainId), hex"8080")));
    }

    /// @notice Applies rules 1–9 of protocol.md §3.1 and recovers the sender.
    /// @return reason `Valid` if rules 1–9 pass (rules 10–13 are still to be checked)
    /// @return t the decoded fields; `t.sender` is set once rule 3 passes
    function check(bytes memory raw, uint256 chainId, uint256 baseFee) internal pure returns (Reason reason, Tx memory t) {
        bool ok;
        bytes32 signingHash;
        (ok, t, signingHash) = decode(raw, chainId);
        if (!ok) return (Reason.Undecodable, t);
        // Rule 2
        uint256 yParity;
        if (t.typed) {
            if (t.chainId != chainId) return (Reason.WrongChainId, t);
            yParity = t.v;
        } else {
            // chainId is at most 2^256 - 1, so 2 * chainId + 36 may not fit: compare via v.
            if (t.v < 35 || (t.v - 35) / 2 != chainId) return (Reason.WrongChainId, t);
            yParity = (t.v - 35) % 2;
        }
        // Rule 3
        if (t.r == 0 || t.r >= SECP256K1_N || t.s == 0 || t.s > SECP256K1_N / 2) return (Reason.BadSignature, t);
        t.sender = ecrecover(signingHash, uint8(27 + yParity), bytes32(t.r), bytes32(t.s));
        if (t.sender == address(0)) return (Reason.BadSignature, t);
        // Rules 4-9
        if (!t.hasTo) return (Reason.ContractCreation, t);
        if (t.dataLength != 0) return (Reason.NonemptyData, t);
        if (t.accessListLength != 0) return (Reason.NonemptyAccessList, t);
        if (t.gas < TX_GAS || t.gas > L2_GAS_LIMIT) return (Reason.BadGasLimit, t);
        if (t.maxPriorityFee > t.maxFee) return (Reason.TipAboveFeeCap, t);
        if (t.maxFee < baseFee) return (Reason.FeeCapBelowBaseFee, t);
        return (Reason.Valid, t);
    }
}
