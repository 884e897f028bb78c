// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712Channels, Reward} from "./EIP712Channels.sol";

/// @title PaymentChannel
/// @notice Unidirectional ETH payment channels (docs/channels.md §3). The sender deposits and signs
///         cumulative `Payment(channelId, amount)`s to the recipient; before `expiration` anyone may
///         claim with one (paying the recipient, never the caller, except a reward the recipient
///         signed); from `expiration` on the sender may reclaim the whole deposit.
/// @dev Money moves by the pull pattern: amounts owed are credited to `owed` and paid by `withdraw`.
contract PaymentChannel {
    /// @notice Life cycle of a channel.
    enum Status {
        None,
        Open,
        Claimed,
        Reclaimed
    }

    /// @notice A channel.
    struct Channel {
        address sender;
        address recipient;
        uint256 deposit;
        uint64 expiration;
        Status status;
    }

    /// @notice keccak256("Payment(uint256 channelId,uint256 amount)")
    bytes32 public constant PAYMENT_TYPEHASH = keccak256("Payment(uint256 channelId,uint256 amount)");
    bytes32 private constant NAME_HASH = keccak256("WatchtowerPaymentChannel");

    /// @notice Number of channels opened; the next channel's id.
    uint256 public channelCount;
    /// @notice Wei credited to an account and not yet withdrawn.
    mapping(address => uint256) public owed;
    mapping(uint256 => Channel) private _channels;

    event PaymentChannelOpened(
        uint256 indexed channelId, address indexed sender, address indexed recipient, uint256 deposit, uint64 expiration
    );
    event PaymentChannelClaimed(uint256 indexed channelId, uint256 amount, address indexed monitor, uint256 reward);
    event PaymentChannelReclaimed(uint256 indexed channelId);
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice Open a channel to `recipient` with `msg.value` as the deposit.
    /// @param expiration absolute timestamp (strictly in the future) from which the sender may reclaim
    /// @return channelId the new channel's id (`channelCount` before the call)
    function open(address recipient, uint64 expiration) external payable returns (uint256 channelId) {
        require(recipient != address(0), "PaymentChannel: recipient is zero");
        require(recipient != msg.sender, "PaymentChannel: recipient is the sender");
        require(expiration > block.timestamp, "PaymentChannel: expiration not in the future");
        channelId = channelCount++;
        _channels[channelId] =
            Channel({sender: msg.sender, recipient: recipient, deposit: msg.value, expiration: expiration, status: Status.Open});
        emit PaymentChannelOpened(channelId, msg.sender, recipient, msg.value, expiration);
    }

    /// @notice Anyone, before expiration: pay min(amount, deposit) to the recipient and the rest back
    ///         to the sender, and close the channel. A non-empty reward (`r.amount > 0`) signed by the
    ///         recipient with `r.channelId = channelId`, `r.nonce = amount`, `r.monitor = msg.sender`
    ///         moves from the recipient's payout (capped by it) to the monitor.
    /// @param amount the cumulative amount of the sender's payment
    function claim(uint256 channelId, uint256 amount, bytes calldata senderSig, Reward calldata r, bytes calldata rewardSig)
        external
    {
        Channel storage c = _channels[channelId];
        require(c.status == Status.Open, "PaymentChannel: not open");
        require(block.timestamp < c.expiration, "PaymentChannel: expired");
        require(
            EIP712Channels.isSignedBy(hashPayment(channelId, amount), senderSig, c.sender),
            "PaymentChannel: bad signature"
        );
        uint256 dep = c.deposit;
        uint256 paid = amount < dep ? amount : dep;
        uint256 reward;
        address monitor;
        if (r.amount > 0) {
            require(
                r.channelId == channelId && r.nonce == amount && r.monitor == msg.sender
                    && EIP712Channels.isSignedBy(_digest(EIP712Channels.hashRewardStruct(r)), rewardSig, c.recipient),
                "PaymentChannel: bad reward"
            );
            monitor = msg.sender;
            reward = r.amount < paid ? r.amount : paid;
            owed[monitor] += reward;
        }
        c.status = Status.Claimed;
        owed[c.recipient] += paid - reward;
        owed[c.sender] += dep - paid;
        emit PaymentChannelClaimed(channelId, amount, monitor, reward);
    }

    /// @notice The sender, from `expiration` on: the whole deposit back.
    function reclaim(uint256 channelId) external {
        Channel storage c = _channels[channelId];
        require(c.status == Status.Open, "PaymentChannel: not open");
        require(msg.sender == c.sender, "PaymentChannel: not the sender");
        require(block.timestamp >= c.expiration, "PaymentChannel: not expired");
        c.status = Status.Reclaimed;
        owed[c.sender] += c.deposit;
        emit PaymentChannelReclaimed(channelId);
    }

    /// @notice Pay the caller what it is owed.
    function withdraw() external {
        uint256 amount = owed[msg.sender];
        require(amount > 0, "PaymentChannel: nothing owed");
        owed[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "PaymentChannel: transfer failed");
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice The channel `channelId` (all zero if it does not exist).
    function channels(uint256 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice This contract's EIP-712 domain separator on the current chain.
    function domainSeparator() external view returns (bytes32) {
        return EIP712Channels.domainSeparator(NAME_HASH);
    }

    /// @notice The EIP-712 digest the sender signs for a cumulative `amount`.
    function hashPayment(uint256 channelId, uint256 amount) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(PAYMENT_TYPEHASH, channelId, amount)));
    }

    /// @notice The EIP-712 digest the recipient signs for the reward `r`.
    function hashReward(Reward calldata r) external view returns (bytes32) {
        return _digest(EIP712Channels.hashRewardStruct(r));
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return EIP712Channels.digest(NAME_HASH, structHash);
    }
}
