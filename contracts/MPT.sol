// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RLP} from "./RLP.sol";

/// @title MPT
/// @notice Reads and updates of the secure account trie (protocol.md §2) over a set of proven nodes.
/// @dev The caller supplies trie nodes (RLP-encoded, e.g. the union of several
///      `HexaryTrie.get_proof` results). They are kept in an in-memory map from keccak hash to node
///      bytes; every node reached from a root must be in the map, so a node that is not the preimage
///      of the hash its parent names can never be used. Updates add the nodes they create to the
///      same map, so a later read or update of the same map sees the earlier ones: this is what
///      makes a sequence of updates to possibly equal keys (aliasing) compose.
///
///      Keys are always 32 bytes (64 nibbles, `keccak(address)`) and values are account RLP
///      (at least 69 bytes). Hence every node of this trie is at least 32 bytes long and is
///      referenced by its hash, never embedded; a branch never holds a value. Nodes that break
///      these facts are rejected ("MPT: ..." reverts). Deletion is not supported: protocol.md §2
///      guarantees that the transition never removes an account.
library MPT {
    /// @notice keccak(RLP("")), the root of the empty trie.
    bytes32 internal constant EMPTY_ROOT = 0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421;

    /// @notice hash -> node map; `hashes[i]` is keccak(`nodes[i]`) for i < `size`.
    struct NodeMap {
        bytes32[] hashes;
        bytes[] nodes;
        uint256 size;
    }

    /// @notice A decoded node. kind: 0 branch, 1 extension, 2 leaf.
    struct Node {
        uint8 kind;
        bytes32[16] children; // branch: child hashes, bytes32(0) for none
        bytes path; // extension / leaf: nibbles, one per byte
        bytes32 child; // extension: child hash
        bytes value; // leaf: the value bytes (account RLP)
    }

    uint8 internal constant BRANCH = 0;
    uint8 internal constant EXTENSION = 1;
    uint8 internal constant LEAF = 2;

    // -----------------------------------------------------------------------------------------
    // Node map
    // -----------------------------------------------------------------------------------------

    /// @notice A map holding `nodes`, with room for `extra` more before it has to grow.
    function newMap(bytes[] memory nodes, uint256 extra) internal pure returns (NodeMap memory m) {
        uint256 cap = nodes.length + extra;
        m.hashes = new bytes32[](cap);
        m.nodes = new bytes[](cap);
        for (uint256 i = 0; i < nodes.length; i++) {
            m.hashes[i] = keccak256(nodes[i]);
            m.nodes[i] = nodes[i];
        }
        m.size = nodes.length;
    }

    /// @notice Adds `node` to the map and returns its hash.
    function add(NodeMap memory m, bytes memory node) internal pure returns (bytes32 h) {
        require(node.length >= 32, "MPT: node shorter than 32 bytes");
        h = keccak256(node);
        if (m.size == m.hashes.length) {
            uint256 cap = m.size * 2 + 8;
            bytes32[] memory hs = new bytes32[](cap);
            bytes[] memory ns = new bytes[](cap);
            for (uint256 i = 0; i < m.size; i++) {
                hs[i] = m.hashes[i];
                ns[i] = m.nodes[i];
            }
            m.hashes = hs;
            m.nodes = ns;
        }
        m.hashes[m.size] = h;
        m.nodes[m.size] = node;
        m.size++;
    }

    /// @notice The node whose hash is `h`; reverts if the proof did not supply it.
    function lookup(NodeMap memory m, bytes32 h) internal pure returns (bytes memory) {
        // Newest first: nodes created by updates are the most likely to be looked up again.
        for (uint256 i = m.size; i > 0; i--) {
            if (m.hashes[i - 1] == h) return m.nodes[i - 1];
        }
        revert("MPT: missing proof node");
    }

    // -----------------------------------------------------------------------------------------
    // Nodes
    // -----------------------------------------------------------------------------------------

    /// @notice The nibble at position `i` (0..63) of `key`.
    function nibble(bytes32 key, uint256 i) internal pure returns (uint8) {
        return uint8(uint256(key) >> (4 * (63 - i))) & 0x0f;
    }

    /// @notice Decodes a node; reverts on anything that is not a node of this trie.
    function decode(bytes memory raw) internal pure returns (Node memory n) {
        (bool ok, RLP.Item memory item) = RLP.fromBytes(raw);
        require(ok, "MPT: bad node RLP");
        RLP.Item[] memory items;
        (ok, items) = RLP.toList(item);
        require(ok, "MPT: node is not a list");
        if (items.length == 17) {
            n.kind = BRANCH;
            for (uint256 i = 0; i < 16; i++) {
                (bool sok, uint256 len) = RLP.stringLength(items[i]);
                require(sok, "MPT: embedded node");
                if (len == 0) continue;
                (bool hok, bytes32 h) = RLP.toBytes32(items[i]);
                require(hok, "MPT: embedded node");
                n.children[i] = h;
            }
            (bool vok, uint256 vlen) = RLP.stringLength(items[16]);
            require(vok && vlen == 0, "MPT: branch with value");
            return n;
        }
        require(items.length == 2, "MPT: bad node arity");
        (bool pok, bytes memory hp) = RLP.toBytes(items[0]);
        require(pok && hp.length > 0, "MPT: bad path");
        uint8 flag = uint8(hp[0]) >> 4;
        require(flag < 4, "MPT: bad path flag");
        bool odd = (flag & 1) == 1;
        if (!odd) require(uint8(hp[0]) & 0x0f == 0, "MPT: bad path padding");
        uint256 plen = 2 * (hp.length - 1) + (odd ? 1 : 0);
        n.path = new bytes(plen);
        uint256 j = 0;
        if (odd) n.path[j++] = bytes1(uint8(hp[0]) & 0x0f);
        for (uint256 i = 1; i < hp.length; i++) {
            n.path[j++] = bytes1(uint8(hp[i]) >> 4);
            n.path[j++] = bytes1(uint8(hp[i]) & 0x0f);
        }
        if (flag >= 2) {
            n.kind = LEAF;
            bool vok2;
            (vok2, n.value) = RLP.toBytes(items[1]);
            require(vok2, "MPT: bad leaf value");
        } else {
            n.kind = EXTENSION;
            require(plen > 0, "MPT: empty extension");
            bool cok;
            (cok, n.child) = RLP.toBytes32(items[1]);
            require(cok, "MPT: embedded node");
        }
    }

    /// @notice Hex-prefix encoding of nibbles `key[from..from+len)` as a leaf or extension path.
    function hexPrefix(bytes32 key, uint256 from, uint256 len, bool leaf) internal pure returns (bytes memory out) {
        out = new bytes(len / 2 + 1);
        uint8 flag = leaf ? 2 : 0;
        uint256 j = from;
        if (len % 2 == 1) {
            out[0] = bytes1(((flag + 1) << 4) | nibble(key, j));
            j++;
        } else {
            out[0] = bytes1(flag << 4);
        }
        for (uint256 i = 1; i < out.length; i++) {
            out[i] = bytes1((nibble(key, j) << 4) | nibble(key, j + 1));
            j += 2;
        }
    }

    /// @notice Same as `hexPrefix`, for a path given as one nibble per byte.
    function hexPrefixPath(bytes memory path, uint256 from, bool leaf) internal pure returns (bytes memory out) {
        uint256 len = path.length - from;
        out = new bytes(len / 2 + 1);
        uint8 flag = leaf ? 2 : 0;
        uint256 j = from;
        if (len % 2 == 1) {
            out[0] = bytes1(((flag + 1) << 4) | uint8(path[j]));
            j++;
        } else {
            out[0] = bytes1(flag << 4);
        }
        for (uint256 i = 1; i < out.length; i++) {
            out[i] = bytes1((uint8(path[j]) << 4) | uint8(path[j + 1]));
            j += 2;
        }
    }

    /// @notice RLP of a leaf holding key nibbles `key[from..64)` and `value`.
    function encodeLeaf(bytes32 key, uint256 from, bytes memory value) internal pure returns (bytes memory) {
        return RLP.encodeList(bytes.concat(RLP.encodeBytes(hexPrefix(key, from, 64 - from, true)), RLP.encodeBytes(value)));
    }

    /// @notice RLP of an extension with path `hp` (already hex-prefix encoded) and child hash.
    function encodeExtension(bytes memory hp, bytes32 child) internal pure returns (bytes memory) {
        return RLP.encodeList(bytes.concat(RLP.encodeBytes(hp), RLP.encodeBytes32(child)));
    }

    /// @notice RLP of a branch with the given child hashes (bytes32(0) for none) and no value.
    function encodeBranch(bytes32[16] memory children) internal pure returns (bytes memory) {
        uint256 size = 1; // the empty value
        for (uint256 i = 0; i < 16; i++) size += children[i] == bytes32(0) ? 1 : 33;
        bytes memory body = new bytes(size);
        uint256 p;
        assembly {
            p := add(body, 32)
        }
        for (uint256 i = 0; i < 16; i++) {
            bytes32 c = children[i];
            if (c == bytes32(0)) {
                assembly {
                    mstore8(p, 0x80)
                }
                p += 1;
            } else {
                assembly {
                    mstore8(p, 0xa0)
                    mstore(add(p, 1), c)
                }
                p += 33;
            }
        }
        assembly {
            mstore8(p, 0x80)
        }
        return RLP.encodeList(body);
    }

    // -----------------------------------------------------------------------------------------
    // Read
    // -----------------------------------------------------------------------------------------

    /// @notice Looks `key` up in the trie with root `root`.
    /// @return found whether the key is in the trie (false proves exclusion)
    /// @return value the value (empty when not found)
    function get(NodeMap memory m, bytes32 root, bytes32 key) internal pure returns (bool found, bytes memory value) {
        if (root == EMPTY_ROOT) return (false, value);
        bytes32 ref = root;
        uint256 pos = 0;
        while (true) {
            Node memory n = decode(lookup(m, ref));
            if (n.kind == BRANCH) {
                require(pos < 64, "MPT: path too long");
                ref = n.children[nibble(key, pos)];
                if (ref == bytes32(0)) return (false, value);
                pos++;
            } else {
                uint256 plen = n.path.length;
                if (n.kind == LEAF) require(pos + plen == 64, "MPT: leaf path length");
                else require(pos + plen < 64, "MPT: path too long");
                for (uint256 i = 0; i < plen; i++) {
                    if (uint8(n.path[i]) != nibble(key, pos + i)) return (false, value);
                }
                if (n.kind == LEAF) return (true, n.value);
                ref = n.child;
                pos += plen;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Update / insert
    // -----------------------------------------------------------------------------------------

    /// @notice Sets `key` to `value` (inserting it if absent) in the trie with root `root`.
    /// @return newRoot the root of the updated trie; its nodes are added to `m`
    function put(NodeMap memory m, bytes32 root, bytes32 key, bytes memory value) internal pure returns (bytes32 newRoot) {
        require(value.length > 0, "MPT: empty value");
        bytes32 ref = root == EMPTY_ROOT ? bytes32(0) : root;
        return add(m, _put(m, ref, key, 0, value));
    }

    /// @dev Returns the RLP of the node replacing subtree `ref` (bytes32(0): empty) at depth `pos`.
    function _put(NodeMap memory m, bytes32 ref, bytes32 key, uint256 pos, bytes memory value)
        private
        pure
        returns (bytes memory)
    {
        if (ref == bytes32(0)) return encodeLeaf(key, pos, value);
        Node memory n = decode(lookup(m, ref));
        if (n.kind == BRANCH) {
            require(pos < 64, "MPT: path too long");
            uint8 nib = nibble(key, pos);
            n.children[nib] = add(m, _put(m, n.children[nib], key, pos + 1, value));
            return encodeBranch(n.children);
        }
        uint256 plen = n.path.length;
        if (n.kind == LEAF) require(pos + plen == 64, "MPT: leaf path length");
        else require(pos + plen < 64, "MPT: path too long");
        // Length of the common prefix of the node's path and the rest of the key.
        uint256 c = 0;
        while (c < plen && uint8(n.path[c]) == nibble(key, pos + c)) c++;
        if (c == plen) {
            if (n.kind == LEAF) return encodeLeaf(key, pos, value); // same key: replace the value
            bytes32 child = add(m, _put(m, n.child, key, pos + plen, value));
            return encodeExtension(hexPrefixPath(n.path, 0, false), child);
        }
        // The paths diverge at nibble c: a branch there, with the old node's remainder and a new leaf.
        bytes32[16] memory children;
        uint8 oldNib = uint8(n.path[c]);
        if (n.kind == LEAF) {
            children[oldNib] = add(m, RLP.encodeList(bytes.concat(RLP.encodeBytes(hexPrefixPath(n.path, c + 1, true)), RLP.encodeBytes(n.value))));
        } else if (c + 1 == plen) {
            children[oldNib] = n.child;
        } else {
            children[oldNib] = add(m, encodeExtension(hexPrefixPath(n.path, c + 1, false), n.child));
        }
        children[nibble(key, pos + c)] = add(m, encodeLeaf(key, pos + c + 1, value));
        bytes memory branch = encodeBranch(children);
        if (c == 0) return branch;
        return encodeExtension(hexPrefix(key, pos, c, false), add(m, branch));
    }
}
