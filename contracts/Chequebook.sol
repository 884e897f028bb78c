// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712Channels, Reward} from "./EIP712Channels.sol";

/// @title Chequebook
/// @notice One issuer's chequebook, Swarm SWAP style (docs/channels.md §4). The issuer signs
///         cumulative `Cheque(beneficiary, cumulativePayout)`s; anyone may cash one, paying the
///         beneficiary what is not yet paid out, as far as the liquid balance goes (less = the cheque
///         bounced). The issuer may withdraw at any time: the risk the guardian watches for.
/// @dev Money moves by the pull pattern: amounts owed are credited to `owed` and paid by
///      `withdraw()`; `liquidBalance` excludes them.
contract Chequebook {
    /// @notice keccak256("Cheque(address beneficiary,uint256 cumulativePayout)")
    bytes32 public constant CHEQUE_TYPEHASH = keccak256("Cheque(address beneficiary,uint256 cumulativePayout)");
    bytes32 private constant NAME_HASH = keccak256("WatchtowerChequebook");

    /// @notice The only signer of cheques, and the only one who may `withdraw(amount)`.
    address public immutable issuer;
    /// @notice Total paid out (credited to `owed`) per beneficiary, monitors' rewards included.
    mapping(address => uint256) public paidOut;
    /// @notice Wei credited to an account and not yet withdrawn.
    mapping(address => uint256) public owed;
    /// @notice Sum of `owed`.
    uint256 public totalOwed;

    event ChequeCashed(
        address indexed beneficiary, uint256 cumulativePayout, uint256 paid, address indexed monitor, uint256 reward
    );
    event ChequeBounced(address indexed beneficiary, uint256 cumulativePayout, uint256 paid);
    event IssuerWithdrew(uint256 amount, uint256 balance);
    event Withdrawn(address indexed account, uint256 amount);

    /// @param issuer_ the issuer; `msg.value` is the opening balance
    constructor(address issuer_) payable {
        require(issuer_ != address(0), "Chequebook: issuer is zero");
        issuer = issuer_;
    }

    /// @notice Anyone tops the chequebook up.
    function deposit() external payable {}

    /// @notice Plain transfers top it up too.
    receive() external payable {}

    /// @notice Anyone: pay min(cumulativePayout - paidOut[beneficiary], liquidBalance()) to the
    ///         beneficiary; less than due = bounced (`ChequeBounced`). A non-empty reward
    ///         (`r.amount > 0`) signed by the beneficiary with `r.channelId = uint160(beneficiary)`,
    ///         `r.nonce = cumulativePayout`, `r.monitor = msg.sender` moves from the payout (capped
    ///         by it) to the monitor.
    function cashCheque(
        address beneficiary,
        uint256 cumulativePayout,
        bytes calldata issuerSig,
        Reward calldata r,
        bytes calldata rewardSig
    ) external {
        require(
            EIP712Channels.isSignedBy(hashCheque(beneficiary, cumulativePayout), issuerSig, issuer),
            "Chequebook: bad signature"
        );
        uint256 already = paidOut[beneficiary];
        require(cumulativePayout > already, "Chequebook: nothing to cash");
        address monitor;
        if (r.amount > 0) {
            require(
                r.channelId == uint256(uint160(beneficiary)) && r.nonce == cumulativePayout && r.monitor == msg.sender
                    && EIP712Channels.isSignedBy(_digest(EIP712Channels.hashRewardStruct(r)), rewardSig, beneficiary),
                "Chequebook: bad reward"
            );
            monitor = msg.sender;
        }
        uint256 due = cumulativePayout - already;
        uint256 liquid = liquidBalance();
        uint256 paid = due < liquid ? due : liquid;
        uint256 reward = r.amount < paid ? r.amount : paid;
        paidOut[beneficiary] = already + paid;
        totalOwed += paid;
        owed[beneficiary] += paid - reward;
        if (reward > 0) owed[monitor] += reward;
        emit ChequeCashed(beneficiary, cumulativePayout, paid, monitor, reward);
        if (paid < due) emit ChequeBounced(beneficiary, cumulativePayout, paid);
    }

    /// @notice The issuer takes `amount` of the liquid balance out (credited to its `owed`).
    function withdraw(uint256 amount) external {
        require(msg.sender == issuer, "Chequebook: not the issuer");
        require(amount <= liquidBalance(), "Chequebook: amount above the liquid balance");
        owed[msg.sender] += amount;
        totalOwed += amount;
        emit IssuerWithdrew(amount, liquidBalance());
    }

    /// @notice Pay the caller what it is owed.
    function withdraw() external {
        uint256 amount = owed[msg.sender];
        require(amount > 0, "Chequebook: nothing owed");
        owed[msg.sender] = 0;
        totalOwed -= amount;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "Chequebook: transfer failed");
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice The balance cheques can still be paid from: the contract's balance minus `owed`.
    function liquidBalance() public view returns (uint256) {
        return address(this).balance - totalOwed;
    }

    /// @notice This contract's EIP-712 domain separator on the current chain.
    function domainSeparator() external view returns (bytes32) {
        return EIP712Channels.domainSeparator(NAME_HASH);
    }

    /// @notice The EIP-712 digest the issuer signs for a cheque.
    function hashCheque(address beneficiary, uint256 cumulativePayout) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(CHEQUE_TYPEHASH, beneficiary, cumulativePayout)));
    }

    /// @notice The EIP-712 digest the beneficiary signs for the reward `r`.
    function hashReward(Reward calldata r) external view returns (bytes32) {
        return _digest(EIP712Channels.hashRewardStruct(r));
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return EIP712Channels.digest(NAME_HASH, structHash);
    }
}
