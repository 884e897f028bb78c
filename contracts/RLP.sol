// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title RLP
/// @notice Strict RLP decoding (protocol.md §3) and the small amount of RLP encoding the verifier
///         needs. Decoding never reverts: every decoder returns an `ok` flag, so that callers can
///         treat undecodable input as data (an invalid transaction) rather than as an error.
/// @dev Strict means: a single byte below 0x80 is its own encoding, strings and lists of at most 55
///      bytes use the short prefix, long lengths have no leading zero byte and exceed 55, every
///      length matches the data exactly, and integers have no leading zero byte and at most 32 bytes.
///      Items are views into memory; nothing is copied until a caller asks for bytes.
library RLP {
    /// @notice A view of one complete RLP item (prefix and payload) in memory.
    /// @param ptr memory address of the item's first (prefix) byte
    /// @param len length of the whole encoding, prefix included
    /// @param offset length of the prefix
    /// @param isList whether the item is a list
    struct Item {
        uint256 ptr;
        uint256 len;
        uint256 offset;
        bool isList;
    }

    /// @notice Parses the prefix of the item starting at `ptr`, given that `avail` bytes are there.
    /// @return ok whether the prefix is strict and the item fits in `avail` bytes
    /// @return item the item (only meaningful when `ok`)
    function readItem(uint256 ptr, uint256 avail) internal pure returns (bool ok, Item memory item) {
        item.ptr = ptr;
        if (avail == 0) return (false, item);
        uint256 b0;
        assembly {
            b0 := byte(0, mload(ptr))
        }
        uint256 payloadLen;
        if (b0 < 0x80) {
            item.len = 1;
            return (true, item);
        } else if (b0 < 0xb8) {
            payloadLen = b0 - 0x80;
            item.offset = 1;
            if (payloadLen == 1) {
                if (avail < 2) return (false, item);
                uint256 b1;
                assembly {
                    b1 := byte(0, mload(add(ptr, 1)))
                }
                // A single byte below 0x80 must be encoded as itself.
                if (b1 < 0x80) return (false, item);
            }
        } else if (b0 < 0xc0) {
            bool lok;
            (lok, payloadLen) = _longLength(ptr, avail, b0 - 0xb7);
            if (!lok) return (false, item);
            item.offset = 1 + b0 - 0xb7;
        } else if (b0 < 0xf8) {
            payloadLen = b0 - 0xc0;
            item.offset = 1;
            item.isList = true;
        } else {
            bool lok;
            (lok, payloadLen) = _longLength(ptr, avail, b0 - 0xf7);
            if (!lok) return (false, item);
            item.offset = 1 + b0 - 0xf7;
            item.isList = true;
        }
        item.len = item.offset + payloadLen;
        if (item.len > avail) return (false, item);
        return (true, item);
    }

    /// @dev Reads a long-form length of `lenOfLen` bytes following the prefix byte at `ptr`.
    function _longLength(uint256 ptr, uint256 avail, uint256 lenOfLen)
        private
        pure
        returns (bool ok, uint256 payloadLen)
    {
        // lenOfLen is 1..8 by construction of the prefix ranges.
        if (1 + lenOfLen > avail) return (false, 0);
        uint256 word;
        assembly {
            word := mload(add(ptr, 1))
        }
        // The first length byte must not be zero (shortest form).
        if (word >> 248 == 0) return (false, 0);
        payloadLen = word >> (256 - 8 * lenOfLen);
        // A long form is only allowed for more than 55 bytes.
        if (payloadLen <= 55) return (false, 0);
        return (true, payloadLen);
    }

    /// @notice Views `data` as exactly one RLP item with no trailing bytes.
    function fromBytes(bytes memory data) internal pure returns (bool ok, Item memory item) {
        uint256 ptr;
        assembly {
            ptr := add(data, 32)
        }
        (ok, item) = readItem(ptr, data.length);
        if (ok && item.len != data.length) ok = false;
    }

    /// @notice The memory address and length of an item's payload.
    function payload(Item memory item) internal pure returns (uint256 ptr, uint256 len) {
        return (item.ptr + item.offset, item.len - item.offset);
    }

    /// @notice Splits a list item into its elements. Fails if `item` is not a list or an element
    ///         is not strict or does not fit exactly.
    function toList(Item memory item) internal pure returns (bool ok, Item[] memory items) {
        if (!item.isList) return (false, items);
        (uint256 ptr, uint256 len) = payload(item);
        uint256 end = ptr + len;
        uint256 count;
        uint256 p = ptr;
        while (p < end) {
            (bool iok, Item memory it) = readItem(p, end - p);
            if (!iok) return (false, items);
            p += it.len;
            count++;
        }
        items = new Item[](count);
        p = ptr;
        for (uint256 i = 0; i < count; i++) {
            (, items[i]) = readItem(p, end - p);
            p += items[i].len;
        }
        return (true, items);
    }

    /// @notice Number of elements of a list item, or ok = false if it is not a valid list.
    function listLength(Item memory item) internal pure returns (bool ok, uint256 count) {
        if (!item.isList) return (false, 0);
        (uint256 ptr, uint256 len) = payload(item);
        uint256 end = ptr + len;
        uint256 p = ptr;
        while (p < end) {
            (bool iok, Item memory it) = readItem(p, end - p);
            if (!iok) return (false, 0);
            p += it.len;
            count++;
        }
        return (true, count);
    }

    /// @notice Decodes an unsigned integer: a string of at most 32 bytes without leading zeros.
    function toUint(Item memory item) internal pure returns (bool ok, uint256 value) {
        if (item.isList) return (false, 0);
        (uint256 ptr, uint256 len) = payload(item);
        if (len == 0) return (true, 0);
        if (len > 32) return (false, 0);
        uint256 word;
        assembly {
            word := mload(ptr)
        }
        if (word >> 248 == 0) return (false, 0);
        return (true, word >> (256 - 8 * len));
    }

    /// @notice The payload length of a string item (ok = false for a list).
    function stringLength(Item memory item) internal pure returns (bool ok, uint256 len) {
        if (item.isList) return (false, 0);
        (, len) = payload(item);
        return (true, len);
    }

    /// @notice Decodes a string of exactly 20 bytes as an address.
    function toAddress(Item memory item) internal pure returns (bool ok, address value) {
        if (item.isList) return (false, address(0));
        (uint256 ptr, uint256 len) = payload(item);
        if (len != 20) return (false, address(0));
        uint256 word;
        assembly {
            word := mload(ptr)
        }
        return (true, address(uint160(word >> 96)));
    }

    /// @notice Decodes a string of exactly 32 bytes.
    function toBytes32(Item memory item) internal pure returns (bool ok, bytes32 value) {
        if (item.isList) return (false, bytes32(0));
        (uint256 ptr, uint256 len) = payload(item);
        if (len != 32) return (false, bytes32(0));
        assembly {
            value := mload(ptr)
        }
        return (true, value);
    }

    /// @notice Copies a string item's payload.
    function toBytes(Item memory item) internal pure returns (bool ok, bytes memory value) {
        if (item.isList) return (false, value);
        (uint256 ptr, uint256 len) = payload(item);
        return (true, copy(ptr, len));
    }

    /// @notice Copies `len` bytes of memory starting at `ptr` into a new `bytes`.
    function copy(uint256 ptr, uint256 len) internal pure returns (bytes memory out) {
        out = new bytes(len);
        assembly {
            mcopy(add(out, 32), ptr, len)
        }
    }

    /// @notice Keccak-256 of `len` bytes of memory at `ptr`.
    function hashRange(uint256 ptr, uint256 len) internal pure returns (bytes32 h) {
        assembly {
            h := keccak256(ptr, len)
        }
    }

    // ---------------------------------------------------------------------------------------
    // Encoding
    // ---------------------------------------------------------------------------------------

    /// @notice The RLP prefix of a string (`isList` false) or list payload of `len` bytes.
    /// @dev For a string of length 1 whose byte is below 0x80 the caller must not use a prefix;
    ///      `encodeBytes` handles that case.
    function prefix(uint256 len, bool isList) internal pure returns (bytes memory) {
        uint256 base = isList ? 0xc0 : 0x80;
        if (len <= 55) return abi.encodePacked(uint8(base + len));
        uint256 lenOfLen = 0;
        for (uint256 l = len; l != 0; l >>= 8) lenOfLen++;
        bytes memory out = new bytes(1 + lenOfLen);
        out[0] = bytes1(uint8(base + 55 + lenOfLen));
        for (uint256 i = 0; i < lenOfLen; i++) {
            out[lenOfLen - i] = bytes1(uint8(len >> (8 * i)));
        }
        return out;
    }

    /// @notice RLP encoding of a byte string.
    function encodeBytes(bytes memory data) internal pure returns (bytes memory) {
        if (data.length == 1 && uint8(data[0]) < 0x80) return data;
        return bytes.concat(prefix(data.length, false), data);
    }

    /// @notice RLP encoding of a 32-byte string.
    function encodeBytes32(bytes32 data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0xa0), data);
    }

    /// @notice RLP encoding of an unsigned integer (big-endian, no leading zeros; 0 is 0x80).
    function encodeUint(uint256 value) internal pure returns (bytes memory) {
        if (value == 0) return hex"80";
        if (value < 0x80) return abi.encodePacked(uint8(value));
        uint256 n = 0;
        for (uint256 v = value; v != 0; v >>= 8) n++;
        bytes memory out = new bytes(1 + n);
        out[0] = bytes1(uint8(0x80 + n));
        for (uint256 i = 0; i < n; i++) {
            out[n - i] = bytes1(uint8(value >> (8 * i)));
        }
        return out;
    }

    /// @notice Wraps already-encoded items (concatenated in `payloadBytes`) into a list.
    function encodeList(bytes memory payloadBytes) internal pure returns (bytes memory) {
        return bytes.concat(prefix(payloadBytes.length, true), payloadBytes);
    }
}
