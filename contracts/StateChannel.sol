// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712Channels, Reward} from "./EIP712Channels.sol";

/// @title StateChannel
/// @notice Bidirectional two-party ETH state channels (docs/channels.md §2). Both parties deposit;
///         off-chain they co-sign `State(channelId, nonce, balanceA, balanceB)`. A party may close
///         unilaterally with the latest state it holds; during the settlement window anyone may
///         replace it with a co-signed state of a higher nonce (the guardian's `update`), optionally
///         earning a reward signed by the party the update protects. A stale close is not penalised.
/// @dev Money moves by the pull pattern: amounts owed are credited to `owed` and paid by `withdraw`.
contract StateChannel {
    /// @notice Life cycle of a channel.
    enum Status {
        None,
        Open,
        Closing,
        Settled
    }

    /// @notice An off-chain state, co-signed by both parties; nonce 0 is the deposits (unsigned).
    struct State {
        uint256 channelId;
        uint256 nonce;
        uint256 balanceA;
        uint256 balanceB;
    }

    /// @notice A channel. The state fields hold the stored state while `Closing` and the settled
    ///         one once `Settled`; the reward fields the reward of the latest update.
    struct Channel {
        address a;
        address b;
        uint256 depositA;
        uint256 depositB;
        uint64 settlementWindow;
        uint64 deadline;
        Status status;
        address closer;
        uint256 nonce;
        uint256 balanceA;
        uint256 balanceB;
        address rewardMonitor;
        address rewardPayer;
        uint256 rewardAmount;
    }

    /// @notice The shortest settlement window accepted by `open`.
    uint64 public constant MIN_WINDOW = 60;
    /// @notice The longest settlement window accepted by `open`.
    uint64 public constant MAX_WINDOW = 30 days;
    /// @notice keccak256("State(uint256 channelId,uint256 nonce,uint256 balanceA,uint256 balanceB)")
    bytes32 public constant STATE_TYPEHASH =
        keccak256("State(uint256 channelId,uint256 nonce,uint256 balanceA,uint256 balanceB)");
    bytes32 private constant NAME_HASH = keccak256("WatchtowerStateChannel");

    /// @notice Number of channels opened; the next channel's id.
    uint256 public channelCount;
    /// @notice Wei credited to an account and not yet withdrawn.
    mapping(address => uint256) public owed;
    mapping(uint256 => Channel) private _channels;

    event ChannelOpened(
        uint256 indexed channelId, address indexed a, address indexed b, uint256 depositA, uint64 settlementWindow
    );
    event ChannelDeposit(uint256 indexed channelId, address indexed party, uint256 amount, uint256 total);
    event ChannelClosing(
        uint256 indexed channelId,
        address indexed closer,
        uint256 nonce,
        uint256 balanceA,
        uint256 balanceB,
        uint64 deadline
    );
    event ChannelUpdated(
        uint256 indexed channelId,
        address indexed updater,
        uint256 nonce,
        uint256 balanceA,
        uint256 balanceB,
        uint256 reward
    );
    event ChannelSettled(
        uint256 indexed channelId, uint256 balanceA, uint256 balanceB, address indexed monitor, uint256 reward
    );
    event Withdrawn(address indexed account, uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Opening and deposits
    // ------------------------------------------------------------------------------------------

    /// @notice Open a channel with `b`; `msg.value` is A's (the caller's) deposit.
    /// @param b the counterparty
    /// @param settlementWindow seconds between a close and the earliest settle
    /// @return channelId the new channel's id (`channelCount` before the call)
    function open(address b, uint64 settlementWindow) external payable returns (uint256 channelId) {
        require(b != address(0), "StateChannel: counterparty is zero");
        require(b != msg.sender, "StateChannel: counterparty is the opener");
        require(
            settlementWindow >= MIN_WINDOW && settlementWindow <= MAX_WINDOW,
            "StateChannel: settlement window out of range"
        );
        channelId = channelCount++;
        Channel storage c = _channels[channelId];
        c.a = msg.sender;
        c.b = b;
        c.depositA = msg.value;
        c.settlementWindow = settlementWindow;
        c.status = Status.Open;
        emit ChannelOpened(channelId, msg.sender, b, msg.value, settlementWindow);
    }

    /// @notice Add `msg.value` to the caller's deposit (A or B) while the channel is open.
    function deposit(uint256 channelId) external payable {
        Channel storage c = _channels[channelId];
        require(c.status == Status.Open, "StateChannel: not open");
        require(msg.value > 0, "StateChannel: deposit of zero");
        uint256 total;
        if (msg.sender == c.a) {
            total = c.depositA + msg.value;
            c.depositA = total;
        } else if (msg.sender == c.b) {
            total = c.depositB + msg.value;
            c.depositB = total;
        } else {
            revert("StateChannel: not a party");
        }
        emit ChannelDeposit(channelId, msg.sender, msg.value, total);
    }

    // ------------------------------------------------------------------------------------------
    // Closing
    // ------------------------------------------------------------------------------------------

    /// @notice Settle at once with a state both parties signed (any nonce).
    function cooperativeClose(uint256 channelId, State calldata s, bytes calldata sigA, bytes calldata sigB)
        external
    {
        Channel storage c = _channels[channelId];
        require(c.status == Status.Open, "StateChannel: not open");
        _checkState(c, channelId, s);
        _checkSignatures(c, s, sigA, sigB);
        c.status = Status.Settled;
        c.nonce = s.nonce;
        c.balanceA = s.balanceA;
        c.balanceB = s.balanceB;
        owed[c.a] += s.balanceA;
        owed[c.b] += s.balanceB;
        emit ChannelSettled(channelId, s.balanceA, s.balanceB, address(0), 0);
    }

    /// @notice Close unilaterally (A or B) with the latest state the caller holds; nonce 0 with
    ///         empty signatures is the deposits. Opens the settlement window.
    function close(uint256 channelId, State calldata s, bytes calldata sigA, bytes calldata sigB) external {
        Channel storage c = _channels[channelId];
        require(c.status == Status.Open, "StateChannel: not open");
        require(msg.sender == c.a || msg.sender == c.b, "StateChannel: not a party");
        _checkState(c, channelId, s);
        if (s.nonce == 0) {
            require(
                s.balanceA == c.depositA && s.balanceB == c.depositB,
                "StateChannel: balances do not match the deposits"
            );
        } else {
            _checkSignatures(c, s, sigA, sigB);
        }
        uint64 deadline = uint64(block.timestamp) + c.settlementWindow;
        c.status = Status.Closing;
        c.closer = msg.sender;
        c.deadline = deadline;
        c.nonce = s.nonce;
        c.balanceA = s.balanceA;
        c.balanceB = s.balanceB;
        emit ChannelClosing(channelId, msg.sender, s.nonce, s.balanceA, s.balanceB, deadline);
    }

    /// @notice Anyone, during the window: replace the stored state with one of a strictly higher
    ///         nonce, signed by both. A non-empty reward (`r.amount > 0`) must be signed by the party
    ///         that did not close, name this channel and `s.nonce`, and name the caller as monitor;
    ///         the stored reward becomes it (an update without one clears it).
    function update(
        uint256 channelId,
        State calldata s,
        bytes calldata sigA,
        bytes calldata sigB,
        Reward calldata r,
        bytes calldata rewardSig
    ) external {
        Channel storage c = _channels[channelId];
        require(c.status == Status.Closing, "StateChannel: not closing");
        require(block.timestamp <= c.deadline, "StateChannel: window over");
        require(s.nonce > c.nonce, "StateChannel: nonce not higher");
        _checkState(c, channelId, s);
        _checkSignatures(c, s, sigA, sigB);
        address monitor;
        address payer;
        if (r.amount > 0) {
            payer = c.closer == c.a ? c.b : c.a;
            require(
                r.channelId == channelId && r.nonce == s.nonce && r.monitor == msg.sender
                    && EIP712Channels.isSignedBy(_digest(EIP712Channels.hashRewardStruct(r)), rewardSig, payer),
                "StateChannel: bad reward"
            );
            monitor = r.monitor;
        }
        c.nonce = s.nonce;
        c.balanceA = s.balanceA;
        c.balanceB = s.balanceB;
        c.rewardMonitor = monitor;
        c.rewardPayer = payer;
        c.rewardAmount = r.amount;
        emit ChannelUpdated(channelId, msg.sender, s.nonce, s.balanceA, s.balanceB, r.amount);
    }

    /// @notice Anyone, after the deadline: settle the stored state and pay the reward (capped by
    ///         the payer's balance in that state, taken from it).
    function settle(uint256 channelId) external {
        Channel storage c = _channels[channelId];
        require(c.status == Status.Closing, "StateChannel: not closing");
        require(block.timestamp > c.deadline, "StateChannel: window not over");
        uint256 balanceA = c.balanceA;
        uint256 balanceB = c.balanceB;
        uint256 reward = c.rewardAmount;
        address monitor = c.rewardMonitor;
        if (reward > 0) {
            if (c.rewardPayer == c.a) {
                if (reward > balanceA) reward = balanceA;
                balanceA -= reward;
            } else {
                if (reward > balanceB) reward = balanceB;
                balanceB -= reward;
            }
            owed[monitor] += reward;
        }
        c.status = Status.Settled;
        c.balanceA = balanceA;
        c.balanceB = balanceB;
        c.rewardAmount = reward;
        owed[c.a] += balanceA;
        owed[c.b] += balanceB;
        emit ChannelSettled(channelId, balanceA, balanceB, monitor, reward);
    }

    /// @notice Pay the caller what it is owed.
    function withdraw() external {
        uint256 amount = owed[msg.sender];
        require(amount > 0, "StateChannel: nothing owed");
        owed[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "StateChannel: transfer failed");
        emit Withdrawn(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The channel `channelId` (all zero if it does not exist).
    function channels(uint256 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice This contract's EIP-712 domain separator on the current chain.
    function domainSeparator() external view returns (bytes32) {
        return EIP712Channels.domainSeparator(NAME_HASH);
    }

    /// @notice The EIP-712 digest the parties sign for `s`.
    function hashState(State calldata s) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(STATE_TYPEHASH, s.channelId, s.nonce, s.balanceA, s.balanceB)));
    }

    /// @notice The EIP-712 digest a party signs for the reward `r`.
    function hashReward(Reward calldata r) external view returns (bytes32) {
        return _digest(EIP712Channels.hashRewardStruct(r));
    }

    // ------------------------------------------------------------------------------------------
    // Internal
    // ------------------------------------------------------------------------------------------

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return EIP712Channels.digest(NAME_HASH, structHash);
    }

    function _checkState(Channel storage c, uint256 channelId, State calldata s) private view {
        require(s.channelId == channelId, "StateChannel: wrong channel");
        uint256 total = c.depositA + c.depositB;
        require(
            s.balanceA <= total && s.balanceB == total - s.balanceA, "StateChannel: balances do not match the deposits"
        );
    }

    function _checkSignatures(Channel storage c, State calldata s, bytes calldata sigA, bytes calldata sigB)
        private
        view
    {
        bytes32 h = hashState(s);
        require(
            EIP712Channels.isSignedBy(h, sigA, c.a) && EIP712Channels.isSignedBy(h, sigB, c.b),
            "StateChannel: bad signature"
        );
    }
}
