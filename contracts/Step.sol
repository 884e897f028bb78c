// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RLP} from "./RLP.sol";
import {MPT} from "./MPT.sol";
import {L2Tx} from "./L2Tx.sol";

/// @title Step
/// @notice Re-executes one rollup step (protocol.md §3.1 and §3.2) against proven state.
/// @dev The accounts the step touches are read from, and written to, a `MPT.NodeMap` built from the
///      state nodes the caller supplies. Each account is read from the current root just before it
///      is changed, so that the updates in the order of §3.2 compose when sender, `to` and coinbase
///      are the same address.
library Step {
    /// @notice keccak("") — the code hash of an account without code.
    bytes32 internal constant EMPTY_CODE_HASH = 0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470;

    /// @notice An account of the state trie.
    struct Account {
        uint256 nonce;
        uint256 balance;
        bytes32 storageRoot;
        bytes32 codeHash;
    }

    /// @notice The block context of a batch that can affect the state (protocol.md §4).
    struct Context {
        uint256 chainId;
        uint256 baseFee;
        address coinbase;
    }

    /// @notice The outcome of a step.
    /// @param reason `Valid` or the first rule the transaction breaks
    /// @param sender the recovered sender (address(0) if rule 3 was not reached or failed)
    /// @param postRoot the state root after the step (the pre-state root if the tx is invalid)
    struct Result {
        L2Tx.Reason reason;
        address sender;
        bytes32 postRoot;
    }

    /// @notice The first byte of a deposit step and its length (protocol.md §8.2).
    uint8 internal constant DEPOSIT_TX_TYPE = 0x7e;
    uint256 internal constant DEPOSIT_STEP_BYTES = 61;

    /// @notice The last precompiled contract address of Cancun (0x…0a, the KZG point evaluation).
    uint160 internal constant PRECOMPILE_LAST = 0x0a;

    /// @notice Whether `a` is a precompile address of Cancun, 0x…01 to 0x…0a (protocol.md §3.1
    ///         rule 13): they hold no code, but the EVM executes them.
    function isPrecompile(address a) internal pure returns (bool) {
        return uint160(a) >= 1 && uint160(a) <= PRECOMPILE_LAST;
    }

    /// @notice Decodes an account leaf value: RLP([nonce, balance, storageRoot, codeHash]).
    function decodeAccount(bytes memory raw) internal pure returns (Account memory a) {
        (bool ok, RLP.Item memory item) = RLP.fromBytes(raw);
        require(ok, "Step: bad account RLP");
        RLP.Item[] memory f;
        (ok, f) = RLP.toList(item);
        require(ok && f.length == 4, "Step: bad account");
        bool[4] memory oks;
        (oks[0], a.nonce) = RLP.toUint(f[0]);
        (oks[1], a.balance) = RLP.toUint(f[1]);
        (oks[2], a.storageRoot) = RLP.toBytes32(f[2]);
        (oks[3], a.codeHash) = RLP.toBytes32(f[3]);
        require(oks[0] && oks[1] && oks[2] && oks[3], "Step: bad account field");
    }

    /// @notice RLP of an account.
    function encodeAccount(Account memory a) internal pure returns (bytes memory) {
        return RLP.encodeList(
            bytes.concat(
                RLP.encodeUint(a.nonce),
                RLP.encodeUint(a.balance),
                RLP.encodeBytes32(a.storageRoot),
                RLP.encodeBytes32(a.codeHash)
            )
        );
    }

    /// @notice Reads `addr` from the state with root `root`.
    /// @return exists false if the proof shows the account is absent
    /// @return a the account (all zero / empty hashes when absent)
    function readAccount(MPT.NodeMap memory m, bytes32 root, address addr)
        internal
        pure
        returns (bool exists, Account memory a)
    {
        bytes memory raw;
        (exists, raw) = MPT.get(m, root, keccak256(abi.encodePacked(addr)));
        if (exists) return (true, decodeAccount(raw));
        a.storageRoot = MPT.EMPTY_ROOT;
        a.codeHash = EMPTY_CODE_HASH;
    }

    /// @notice Writes `a` as the account of `addr`, returning the new state root.
    function writeAccount(MPT.NodeMap memory m, bytes32 root, address addr, Account memory a)
        internal
        pure
        returns (bytes32)
    {
        return MPT.put(m, root, keccak256(abi.encodePacked(addr)), encodeAccount(a));
    }

    /// @notice The effect of the deposit step `raw` = 0x7e || BE_8(index) || recipient (20 bytes)
    ///         || BE_32(amount) (protocol.md §8.2): if amount > 0, recipient.balance += amount (the
    ///         account is created if absent); nothing else changes. Any other 0x7e step is not a
    ///         deposit step: it does not decode as a transaction (rule 1) and is a no-op.
    function executeDeposit(bytes32 preRoot, bytes memory raw, bytes[] memory nodes) internal pure returns (bytes32) {
        address recipient;
        uint256 amount;
        assembly {
            recipient := shr(96, mload(add(raw, 41))) // bytes 9..28
            amount := mload(add(raw, 61)) // bytes 29..60
        }
        if (amount == 0) return preRoot;
        MPT.NodeMap memory m = MPT.newMap(nodes, 3 * nodes.length + 16);
        (, Account memory a) = readAccount(m, preRoot, recipient);
        a.balance += amount;
        return writeAccount(m, preRoot, recipient, a);
    }

    /// @notice Applies the step `raw` to the state with root `preRoot`: a deposit step (§8.2) or
    ///         a transaction (§3).
    /// @param nodes state trie nodes proving every account the step reads (extra nodes are harmless)
    /// @dev Reverts (with an "MPT: ..." reason) only if `nodes` lacks a node the step needs or the
    ///      proven state is not a state of this rollup; an invalid transaction is a result, not a
    ///      revert.
    function execute(bytes32 preRoot, bytes memory raw, Context memory ctx, bytes[] memory nodes)
        internal
        pure
        returns (Result memory res)
    {
        res.postRoot = preRoot;
        if (raw.length == DEPOSIT_STEP_BYTES && uint8(raw[0]) == DEPOSIT_TX_TYPE) {
            res.postRoot = executeDeposit(preRoot, raw, nodes);
            return res; // always valid (reason 0); no sender
        }
        L2Tx.Tx memory t;
        (res.reason, t) = L2Tx.check(raw, ctx.chainId, ctx.baseFee);
        res.sender = t.sender;
        if (res.reason != L2Tx.Reason.Valid) return res;

        MPT.NodeMap memory m = MPT.newMap(nodes, 3 * nodes.length + 16);
        (, Account memory sender) = readAccount(m, preRoot, t.sender);
        // Rule 10
        if (sender.codeHash != EMPTY_CODE_HASH) {
            res.reason = L2Tx.Reason.SenderHasCode;
            return res;
        }
        // Rule 11
        if (t.nonce != sender.nonce || t.nonce >= type(uint64).max) {
            res.reason = L2Tx.Reason.BadNonce;
            return res;
        }
        // Rule 12: balance >= gas * max_fee + value, without overflow. gas >= 21000 > 0 here.
        if (t.maxFee > type(uint256).max / t.gas) {
            res.reason = L2Tx.Reason.InsufficientBalance;
            return res;
        }
        uint256 upfront = t.gas * t.maxFee;
        if (t.value > type(uint256).max - upfront || sender.balance < upfront + t.value) {
            res.reason = L2Tx.Reason.InsufficientBalance;
            return res;
        }
        // Rule 13: `to` has no code and is not a precompile (the EVM runs code for those)
        if (isPrecompile(t.to)) {
            res.reason = L2Tx.Reason.RecipientHasCode;
            return res;
        }
        (, Account memory to) = readAccount(m, preRoot, t.to);
        if (to.codeHash != EMPTY_CODE_HASH) {
            res.reason = L2Tx.Reason.RecipientHasCode;
            return res;
        }

        // Effect, §3.2. max_fee >= base_fee and tip <= max_priority_fee <= max_fee hold here.
        uint256 tip = t.maxPriorityFee;
        if (t.maxFee - ctx.baseFee < tip) tip = t.maxFee - ctx.baseFee;
        uint256 price = ctx.baseFee + tip;
        bytes32 root = preRoot;

        // 1. sender
        sender.nonce += 1;
        sender.balance -= L2Tx.TX_GAS * price + t.value;
        root = writeAccount(m, root, t.sender, sender);

        // 2. to (created only if it receives a non-zero value)
        if (t.value != 0) {
            (, to) = readAccount(m, root, t.to);
            to.balance += t.value;
            root = writeAccount(m, root, t.to, to);
        }

        // 3. coinbase (the base fee part is burned; created only if the tip is non-zero)
        uint256 reward = L2Tx.TX_GAS * tip;
        if (reward != 0) {
            (, Account memory cb) = readAccount(m, root, ctx.coinbase);
            cb.balance += reward;
            root = writeAccount(m, root, ctx.coinbase, cb);
        }
        res.postRoot = root;
    }
}
