// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {L2Tx} from "./L2Tx.sol";
import {Step} from "./Step.sol";
import {StepVerifier} from "./StepVerifier.sol";
import {StepTree} from "./StepTree.sol";

/// @title Rollup
/// @notice The L1 contract of the watchtower reference rollup (protocol.md). Bonded proposers submit
///         batches (encoding v1, §4.1); the contract commits to every step (§4.2); anyone may prove a
///         step wrong within the challenge period by re-executing it here (§3, §5), which rejects the
///         batch and every later one and slashes the proposer.
/// @dev Money moves by the pull pattern: amounts owed are credited to `owed` and paid by `withdraw`.
///      Rejection of the batches after a fraudulent one is lazy: `nextIndex` rolls back, and a stored
///      batch at an index >= `nextIndex` is reported as `Rejected` until a new batch replaces it, so a
///      challenge costs the same however many batches follow the fraudulent one.
contract Rollup {
    // ------------------------------------------------------------------------------------------
    // Types, constants, parameters
    // ------------------------------------------------------------------------------------------

    /// @notice Life cycle of a batch.
    enum Status {
        None,
        Pending,
        Finalized,
        Rejected
    }

    /// @notice A submitted batch.
    struct Batch {
        bytes32 prevRoot;
        bytes32 finalRoot;
        bytes32 stepsRoot;
        address proposer;
        uint32 count;
        address coinbase;
        uint64 timestamp;
        uint64 deadline;
        Status status;
        uint256 bond; // locked from the proposer's free bond at submission; paid out or released
        uint64 depositStart; // depositsConsumed before the batch (protocol.md §8.4)
        uint64 depositEnd; // depositsConsumed after it: the batch consumes [depositStart, depositEnd)
    }

    /// @notice An entry of the deposit queue (protocol.md §8.4); the L1 sender is in the event only.
    struct QueuedDeposit {
        address recipient;
        uint64 timestamp;
        uint256 amount;
    }

    /// @notice A proposer's free bond (not locked by any batch) and fee recipient.
    struct Proposer {
        uint256 bond;
        address coinbase;
        bool registered;
    }

    /// @notice What a challenger proves about step `step` of a batch.
    /// @param tx the transaction bytes of the step
    /// @param postRoot the root the proposer claimed after the step
    /// @param postProof inclusion proof of leaf(step, keccak(tx), postRoot)
    /// @param prevTxHash keccak of the previous step's transaction (ignored for step 0)
    /// @param prevRoot the root claimed after the previous step (ignored for step 0)
    /// @param prevProof inclusion proof of leaf(step - 1, prevTxHash, prevRoot) (empty for step 0)
    struct StepWitness {
        bytes tx;
        bytes32 postRoot;
        bytes32[] postProof;
        bytes32 prevTxHash;
        bytes32 prevRoot;
        bytes32[] prevProof;
    }

    /// @notice MAX_STEPS of protocol.md §1.
    uint256 public constant MAX_STEPS = 4096;
    /// @notice MAX_TX_BYTES of protocol.md §1.
    uint256 public constant MAX_TX_BYTES = 4096;
    /// @notice L2_GAS_LIMIT of protocol.md §1.
    uint256 public constant L2_GAS_LIMIT = 30_000_000;
    /// @notice The batch encoding version accepted by `submitBatch`.
    uint8 public constant BATCH_VERSION = 1;
    /// @notice Bounds of the constructor parameters (protocol.md §7.1).
    uint256 public constant MIN_CHALLENGE_PERIOD = 10;
    uint256 public constant MAX_CHALLENGE_PERIOD = 365 days;
    uint256 public constant MAX_AMOUNT = 1e24; // 1,000,000 ether: stakes and bonds
    /// @notice The protocol version (protocol.md §8.7): 2 has the bridge.
    uint256 public constant PROTOCOL_VERSION = 2;
    /// @notice A valid L2 transfer of a non-zero value to this address is a withdrawal (§8.3).
    address public constant BRIDGE_ADDRESS = address(0xb41d);
    /// @notice Seconds a deposit may stay pending before no batch that leaves it out is accepted.
    uint256 public constant DEPOSIT_INCLUSION_DELAY = 1 hours;
    /// @notice The largest single deposit (= MAX_AMOUNT).
    uint256 public constant MAX_DEPOSIT = 1e24;
    /// @notice The first byte of a deposit step, and its length (protocol.md §8.2).
    uint8 internal constant DEPOSIT_TX_TYPE = 0x7e;
    uint256 internal constant DEPOSIT_STEP_BYTES = 61;

    /// @notice Seconds after submission during which a batch can be challenged.
    uint256 public immutable challengePeriod;
    /// @notice Minimum stake sent with `challenge`.
    uint256 public immutable minStake;
    /// @notice Bond a proposer must hold to submit a batch.
    uint256 public immutable proposerBond;
    /// @notice L2_CHAIN_ID.
    uint256 public immutable l2ChainId;
    /// @notice L2_BASE_FEE.
    uint256 public immutable l2BaseFee;
    /// @notice The state root before batch 0.
    bytes32 public immutable genesisRoot;
    /// @notice The step re-execution (created by the constructor; a contract of its own for size).
    StepVerifier public immutable verifier;
    /// @notice The value sent to the constructor: what backs the L2 genesis balances (§8.6).
    uint256 public immutable genesisSupply;

    // ------------------------------------------------------------------------------------------
    // State
    // ------------------------------------------------------------------------------------------

    mapping(uint256 => Batch) private _batches;
    /// @notice Index the next batch must have; batches below it are pending or finalized.
    uint256 public nextIndex;
    /// @notice Number of finalized batches (they are finalized in order).
    uint256 public finalizedCount;
    /// @notice Proposers by address.
    mapping(address => Proposer) public proposers;
    /// @notice Amounts withdrawable by `withdraw`.
    mapping(address => uint256) public owed;
    /// @notice Total of slashed bonds not paid to challengers (locked in this contract forever).
    uint256 public burned;
    /// @notice Block number in which `challenger` committed to `commitment` (0 = never), see
    ///         `commitChallenge`.
    mapping(address => mapping(bytes32 => uint256)) public commitments;
    /// @notice The ETH that backs L2: genesisSupply + deposits - claimed withdrawals (§8.6).
    uint256 public bridgeBalance;
    /// @notice Number of deposits ever queued (the index the next deposit gets).
    uint256 public depositCount;
    /// @notice Queue entries consumed by the pending and finalized batches; the entries from here
    ///         to depositCount - 1 are pending.
    uint256 public depositsConsumed;
    mapping(uint256 => QueuedDeposit) private _deposits;
    /// @notice Whether withdrawal `step` of batch `index` was claimed.
    mapping(uint256 => mapping(uint256 => bool)) public withdrawalClaimed;

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    /// @notice A proposer registered, or changed its fee recipient.
    event ProposerRegistered(address indexed proposer, address coinbase);
    /// @notice A proposer's bond increased by `amount` to `bond`.
    event BondDeposited(address indexed proposer, uint256 amount, uint256 bond);
    /// @notice A proposer's bond was released to `owed`.
    event BondReleased(address indexed proposer, uint256 amount);
    /// @notice A batch was accepted as pending; the batch bytes are the calldata of the transaction.
    event BatchSubmitted(
        uint256 indexed index,
        address indexed proposer,
        bytes32 prevRoot,
        bytes32 finalRoot,
        bytes32 stepsRoot,
        uint32 count,
        address coinbase,
        uint64 timestamp,
        uint64 deadline
    );
    /// @notice A batch is final.
    event BatchFinalized(uint256 indexed index, bytes32 finalRoot);
    /// @notice Step `step` of batch `index` was proven wrong by `challenger`.
    /// @param reason the validity reason code (protocol.md §3.1 row, 0 = valid) of the step's tx
    event FraudProven(
        uint256 indexed index,
        uint256 indexed step,
        address indexed challenger,
        bytes32 claimedRoot,
        bytes32 computedRoot,
        uint8 reason
    );
    /// @notice Batches `fromIndex` .. `toIndex` (inclusive) are rejected; the tip is `fromIndex - 1`.
    event BatchesRejected(uint256 indexed fromIndex, uint256 toIndex, bytes32 tipRoot);
    /// @notice `proposer` lost its bond `amount`: `reward` went to the challenger, the rest is burned.
    event BondSlashed(address indexed proposer, uint256 amount, uint256 reward, address indexed challenger);
    /// @notice `challenger` committed to a challenge it will reveal in a later block.
    event ChallengeCommitted(address indexed challenger, bytes32 indexed commitment);
    /// @notice The bond of a batch rejected because an earlier batch was fraudulent went back to
    ///         its proposer's free bond.
    event BatchBondReleased(uint256 indexed index, address indexed proposer, uint256 amount);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Deposit `index` of `amount` wei from L1 `sender` to L2 `recipient` is queued.
    event DepositQueued(
        uint256 indexed index, address indexed sender, address indexed recipient, uint256 amount, uint64 timestamp
    );
    /// @notice Withdrawal `step` of finalized batch `index` was claimed: `amount` owed to `account`.
    event WithdrawalClaimed(uint256 indexed index, uint256 indexed step, address indexed account, uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Construction
    // ------------------------------------------------------------------------------------------

    /// @param challengePeriod_ seconds a batch stays challengeable; 0 selects the default, 7 days;
    ///        otherwise MIN_CHALLENGE_PERIOD .. MAX_CHALLENGE_PERIOD
    /// @param minStake_ minimum challenge stake; 0 selects the default, 1 ether; at most MAX_AMOUNT
    /// @param proposerBond_ bond each batch locks, 2 .. MAX_AMOUNT wei (half is the reward)
    /// @param l2ChainId_ L2_CHAIN_ID, 1 .. 2^64 - 1
    /// @param l2BaseFee_ L2_BASE_FEE, 1 .. 2^64 - 1 wei (protocol.md §1)
    /// @param genesisRoot_ the state root of the genesis allocation
    /// @dev The value sent is the genesis supply, the first bridge balance (protocol.md §8.6).
    constructor(
        uint256 challengePeriod_,
        uint256 minStake_,
        uint256 proposerBond_,
        uint256 l2ChainId_,
        uint256 l2BaseFee_,
        bytes32 genesisRoot_
    ) payable {
        uint256 period = challengePeriod_ == 0 ? 7 days : challengePeriod_;
        require(
            period >= MIN_CHALLENGE_PERIOD && period <= MAX_CHALLENGE_PERIOD,
            "Rollup: challengePeriod out of range (10 s .. 365 days)"
        );
        require(minStake_ <= MAX_AMOUNT, "Rollup: minStake above MAX_AMOUNT");
        require(proposerBond_ >= 2 && proposerBond_ <= MAX_AMOUNT, "Rollup: proposerBond out of range (2 .. MAX_AMOUNT)");
        require(l2ChainId_ > 0 && l2ChainId_ < 2 ** 64, "Rollup: l2ChainId out of range (1 .. 2^64-1)");
        require(l2BaseFee_ > 0 && l2BaseFee_ < 2 ** 64, "Rollup: l2BaseFee out of range (1 .. 2^64-1)");
        challengePeriod = period;
        minStake = minStake_ == 0 ? 1 ether : minStake_;
        proposerBond = proposerBond_;
        l2ChainId = l2ChainId_;
        l2BaseFee = l2BaseFee_;
        genesisRoot = genesisRoot_;
        verifier = new StepVerifier();
        genesisSupply = msg.value;
        bridgeBalance = msg.value;
    }

    // ------------------------------------------------------------------------------------------
    // Proposers
    // ------------------------------------------------------------------------------------------

    /// @notice Registers the caller as a proposer with fee recipient `coinbase` (or changes the fee
    ///         recipient of an already registered proposer, for later batches), adding any value
    ///         sent to the bond.
    function register(address coinbase) external payable {
        Proposer storage p = proposers[msg.sender];
        p.registered = true;
        p.coinbase = coinbase;
        emit ProposerRegistered(msg.sender, coinbase);
        if (msg.value > 0) _deposit(p);
    }

    /// @notice Adds the value sent to the caller's bond.
    function depositBond() external payable {
        Proposer storage p = proposers[msg.sender];
        require(p.registered, "Rollup: not a registered proposer");
        require(msg.value > 0, "Rollup: no value sent");
        _deposit(p);
    }

    function _deposit(Proposer storage p) private {
        p.bond += msg.value;
        emit BondDeposited(msg.sender, msg.value, p.bond);
    }

    /// @notice Releases the caller's free bond (the part no pending batch has locked) to `owed`.
    ///         The proposer stays registered but cannot submit until it deposits again. The bond a
    ///         batch locked comes back to the free bond when the batch is finalized.
    function releaseBond() external {
        Proposer storage p = proposers[msg.sender];
        require(p.bond > 0, "Rollup: no free bond");
        uint256 amount = p.bond;
        p.bond = 0;
        owed[msg.sender] += amount;
        emit BondReleased(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Batches
    // ------------------------------------------------------------------------------------------

    /// @notice Submits a batch in encoding v1 (protocol.md §4.1). Reverts with
    ///         "Rollup: malformed batch: ..." if the bytes break the encoding.
    /// @dev Only a direct call from an account without code is accepted, so that the batch bytes
    ///      are always the top-level calldata of the submitting transaction: watchers read them
    ///      from there. A call through a contract (or an EIP-7702 delegated account) could hide
    ///      them, and a batch nobody can read would never be challenged.
    ///      The calldata must be the canonical ABI encoding (offset 0x20, length, payload, zero
    ///      padding to a multiple of 32 bytes, nothing after it), so the bytes every watcher reads
    ///      from the transaction are exactly the bytes committed here (protocol.md §7.2).
    ///      Each batch locks `proposerBond` from the proposer's free bond (§7.3).
    function submitBatch(bytes calldata batchData) external {
        require(msg.sender == tx.origin && msg.sender.code.length == 0, "Rollup: submitBatch must be a direct call from an account without code");
        _requireCanonical(batchData.length);
        Proposer storage p = proposers[msg.sender];
        require(p.registered, "Rollup: not a registered proposer");
        require(p.bond >= proposerBond, "Rollup: free bond below proposerBond");

        require(batchData.length >= 45, "Rollup: malformed batch: shorter than the header");
        require(uint8(batchData[0]) == BATCH_VERSION, "Rollup: malformed batch: unknown version");
        uint256 index = uint64(bytes8(batchData[1:9]));
        bytes32 prevRoot = bytes32(batchData[9:41]);
        uint256 count = uint32(bytes4(batchData[41:45]));
        require(count >= 1 && count <= MAX_STEPS, "Rollup: malformed batch: count out of range");
        require(index == nextIndex, "Rollup: wrong batch index");
        require(prevRoot == tipRoot(), "Rollup: prev_root is not the tip's final root");

        bytes32[] memory leaves = new bytes32[](count);
        bytes32 root;
        uint256 off = 45;
        uint256 consumed = depositsConsumed;
        uint256 next = consumed;
        for (uint256 k = 0; k < count; k++) {
            require(off + 4 <= batchData.length, "Rollup: malformed batch: truncated tx length");
            uint256 txLen = uint32(bytes4(batchData[off:off + 4]));
            require(txLen <= MAX_TX_BYTES, "Rollup: malformed batch: tx longer than MAX_TX_BYTES");
            off += 4;
            require(off + txLen + 32 <= batchData.length, "Rollup: malformed batch: truncated step");
            if (txLen > 0 && uint8(batchData[off]) == DEPOSIT_TX_TYPE) {
                _checkDepositStep(batchData[off:off + txLen], next);
                next++;
            }
            bytes32 txHash = keccak256(batchData[off:off + txLen]);
            off += txLen;
            root = bytes32(batchData[off:off + 32]);
            off += 32;
            leaves[k] = StepTree.leaf(k, txHash, root);
        }
        require(off == batchData.length, "Rollup: malformed batch: trailing bytes");
        // While the oldest pending deposit is overdue only batches of deposit steps alone are
        // accepted: the backlog must be cleared first, and may take several batches (one batch
        // cannot hold more deposit steps than MAX_STEPS or the L1 gas limit allow).
        if (next < depositCount && block.timestamp > _deposits[next].timestamp + DEPOSIT_INCLUSION_DELAY) {
            require(next - consumed == count, "Rollup: oldest pending deposit is overdue");
        }

        uint256 deadline = block.timestamp + challengePeriod;
        require(deadline <= type(uint64).max, "Rollup: deadline out of range");
        Batch storage b = _batches[index];
        if (b.bond > 0) _releaseBatchBond(index, b); // a batch rejected after an earlier fraud
        p.bond -= proposerBond;
        b.bond = proposerBond;
        b.prevRoot = prevRoot;
        b.finalRoot = root;
        b.stepsRoot = StepTree.root(leaves);
        b.proposer = msg.sender;
        b.count = uint32(count);
        b.coinbase = p.coinbase;
        b.timestamp = uint64(block.timestamp);
        b.deadline = uint64(deadline);
        b.status = Status.Pending;
        b.depositStart = uint64(consumed);
        b.depositEnd = uint64(next);
        depositsConsumed = next;
        nextIndex = index + 1;
        emit BatchSubmitted(
            index, msg.sender, prevRoot, root, b.stepsRoot, uint32(count), b.coinbase, uint64(block.timestamp), uint64(deadline)
        );
    }

    /// @dev Checks the deposit step `step` (its bytes start with 0x7e) against queue entry `next`
    ///      (protocol.md §8.4).
    function _checkDepositStep(bytes calldata step, uint256 next) private view {
        require(step.length == DEPOSIT_STEP_BYTES, "Rollup: malformed deposit step");
        require(uint64(bytes8(step[1:9])) == next, "Rollup: deposit step out of order");
        require(next < depositCount, "Rollup: deposit step not in the queue");
        QueuedDeposit storage d = _deposits[next];
        require(
            address(bytes20(step[9:29])) == d.recipient && uint256(bytes32(step[29:61])) == d.amount,
            "Rollup: deposit step does not match the queue"
        );
    }

    /// @dev Reverts unless the calldata of this call is exactly selector || 0x20 || length ||
    ///      payload || zero padding, for a single `bytes` argument of `length` bytes.
    function _requireCanonical(uint256 length) private pure {
        uint256 padded = (length + 31) / 32 * 32;
        require(msg.data.length == 4 + 32 + 32 + padded, "Rollup: non-canonical calldata: length");
        uint256 offset;
        assembly {
            offset := calldataload(4)
        }
        require(offset == 0x20, "Rollup: non-canonical calldata: offset");
        uint256 rem = length % 32;
        if (rem != 0) {
            uint256 last;
            assembly {
                last := calldataload(sub(calldatasize(), 32))
            }
            require(last & ((uint256(1) << (8 * (32 - rem))) - 1) == 0, "Rollup: non-canonical calldata: padding");
        }
    }

    /// @notice Returns the bond of batch `index`, rejected because an earlier batch was proven
    ///         fraudulent (and not yet replaced), to its proposer's free bond. Anyone may call it;
    ///         `submitBatch` does it when it replaces the batch.
    function releaseRejectedBond(uint256 index) external {
        Batch storage b = _batches[index];
        require(index >= nextIndex && b.status != Status.None, "Rollup: batch is not rejected");
        require(b.bond > 0, "Rollup: no bond locked");
        _releaseBatchBond(index, b);
    }

    function _releaseBatchBond(uint256 index, Batch storage b) private {
        uint256 amount = b.bond;
        b.bond = 0;
        proposers[b.proposer].bond += amount;
        emit BatchBondReleased(index, b.proposer, amount);
    }

    /// @notice Finalizes batch `index` once its challenge period is over. Batches finalize in order.
    function finalize(uint256 index) external {
        require(index < nextIndex, "Rollup: no such batch");
        require(index == finalizedCount, "Rollup: finalize batches in order");
        Batch storage b = _batches[index];
        require(b.status == Status.Pending, "Rollup: batch is not pending");
        require(block.timestamp > b.deadline, "Rollup: challenge period not over");
        b.status = Status.Finalized;
        finalizedCount = index + 1;
        uint256 bond = b.bond;
        b.bond = 0;
        proposers[b.proposer].bond += bond;
        emit BatchFinalized(index, b.finalRoot);
    }

    // ------------------------------------------------------------------------------------------
    // Fraud proofs
    // ------------------------------------------------------------------------------------------

    /// @notice Commits to a challenge that the caller will reveal with `challenge` in a later
    ///         block: `commitment` = `challengeCommitment(msg.sender, index, step, postRoot, salt)`
    ///         where `postRoot` is the root the step really produces. The commitment is bound to
    ///         the caller, so copying this transaction gives the copier a commitment it can never
    ///         reveal; and it is bound to the correct post-step root, which only a verifier that
    ///         re-executed the batch knows before a reveal makes it public, so nobody can commit
    ///         blindly to every step and copy the reveal later (protocol.md §7.5). Commitments
    ///         change no deadline.
    function commitChallenge(bytes32 commitment) external {
        if (commitments[msg.sender][commitment] == 0) commitments[msg.sender][commitment] = block.number;
        emit ChallengeCommitted(msg.sender, commitment);
    }

    /// @notice The commitment `challenger` must have made before revealing a challenge of step
    ///         `step` of batch `index` with `salt`; `postRoot` is the state root the step really
    ///         produces (the computed root of the reveal, not the claimed one).
    function challengeCommitment(address challenger, uint256 index, uint256 step, bytes32 postRoot, bytes32 salt)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(challenger, index, step, postRoot, salt));
    }

    /// @notice Proves that step `step` of pending batch `index` claims a wrong root.
    /// @dev Verifies the step and the previous step against the batch's step commitment, re-executes
    ///      the step on the proven pre-step state (`stateNodes`: trie nodes proving the sender, `to`
    ///      and coinbase accounts at the pre-step root; extra nodes are ignored) and compares roots.
    ///      On success the batch and all later ones are rejected, the bond the batch locked is
    ///      slashed (half to the caller, the rest burned) and the stake is credited back to the
    ///      caller. Reverts, changing nothing, if the step is correct or a proof is wrong; the
    ///      caller's commitment (`commitChallenge`, in an earlier block) is checked last, so an
    ///      `eth_call` before committing that reverts with "no commitment for this challenge"
    ///      means the proof is good.
    /// @param index the batch
    /// @param step the 0-based step
    /// @param w the step data and inclusion proofs
    /// @param stateNodes RLP-encoded state trie nodes
    /// @param salt the salt of the caller's commitment
    function challenge(
        uint256 index,
        uint256 step,
        StepWitness calldata w,
        bytes[] calldata stateNodes,
        bytes32 salt
    )
        external
        payable
    {
        require(msg.value >= minStake, "Rollup: stake below minStake");
        require(index < nextIndex, "Rollup: no such pending batch");
        Batch storage b = _batches[index];
        require(b.status == Status.Pending, "Rollup: batch is not pending");
        require(block.timestamp <= b.deadline, "Rollup: challenge period over");
        bytes32 preRoot = _provenPreRoot(b, step, w);
        Step.Result memory r = verifier.execute(preRoot, w.tx, Step.Context(l2ChainId, l2BaseFee, b.coinbase), stateNodes);
        require(r.postRoot != w.postRoot, "Rollup: no fraud: the claimed root is correct");
        bytes32 c = challengeCommitment(msg.sender, index, step, r.postRoot, salt);
        uint256 committedAt = commitments[msg.sender][c];
        require(committedAt != 0, "Rollup: no commitment for this challenge");
        require(committedAt < block.number, "Rollup: commitment must be in an earlier block");
        delete commitments[msg.sender][c];

        emit FraudProven(index, step, msg.sender, w.postRoot, r.postRoot, uint8(r.reason));
        uint256 last = nextIndex - 1;
        b.status = Status.Rejected;
        nextIndex = index;
        emit BatchesRejected(index, last, tipRoot());
        depositsConsumed = b.depositStart; // the deposits of the rejected batches are pending again

        uint256 slashed = b.bond;
        uint256 reward = slashed / 2;
        b.bond = 0;
        burned += slashed - reward;
        owed[msg.sender] += msg.value + reward;
        emit BondSlashed(b.proposer, slashed, reward, msg.sender);
    }

    /// @dev Checks `step < count` and the inclusion proofs of the step and the previous step
    ///      (protocol.md §7.5 items 1-3); returns the pre-step root.
    function _provenPreRoot(Batch storage b, uint256 step, StepWitness calldata w) private view returns (bytes32) {
        require(step < b.count, "Rollup: step out of range");
        require(
            StepTree.verify(b.stepsRoot, b.count, step, StepTree.leaf(step, keccak256(w.tx), w.postRoot), w.postProof),
            "Rollup: bad step inclusion proof"
        );
        if (step == 0) return b.prevRoot;
        require(
            StepTree.verify(b.stepsRoot, b.count, step - 1, StepTree.leaf(step - 1, w.prevTxHash, w.prevRoot), w.prevProof),
            "Rollup: bad previous step inclusion proof"
        );
        return w.prevRoot;
    }

    // ------------------------------------------------------------------------------------------
    // The bridge (protocol.md §8)
    // ------------------------------------------------------------------------------------------

    /// @notice Queues a deposit of the value sent to `l2Recipient` on L2. A batch must credit it
    ///         with a deposit step, in queue order, within DEPOSIT_INCLUSION_DELAY (§8.4).
    function deposit(address l2Recipient) external payable {
        require(msg.value > 0, "Rollup: deposit of zero");
        require(msg.value <= MAX_DEPOSIT, "Rollup: deposit above MAX_DEPOSIT");
        require(l2Recipient != BRIDGE_ADDRESS, "Rollup: deposit to the bridge address");
        uint256 index = depositCount;
        _deposits[index] = QueuedDeposit(l2Recipient, uint64(block.timestamp), msg.value);
        depositCount = index + 1;
        bridgeBalance += msg.value;
        emit DepositQueued(index, msg.sender, l2Recipient, msg.value, uint64(block.timestamp));
    }

    /// @notice Queue entry `index` (all zero if there is none).
    function queuedDeposit(uint256 index) external view returns (address recipient, uint256 amount, uint64 timestamp) {
        QueuedDeposit storage d = _deposits[index];
        return (d.recipient, d.amount, d.timestamp);
    }

    /// @notice Credits withdrawal `step` of finalized batch `index` to its sender's `owed` (paid by
    ///         `withdraw`). Anyone may call it; each withdrawal is claimable once (§8.5).
    /// @dev In a finalized batch a step is a valid transaction exactly when its root differs from
    ///      the root before it: a valid transfer always bumps its sender's nonce, an invalid step is
    ///      a no-op. So the stateless rules (1-9) and the two roots prove a withdrawal.
    function claimWithdrawal(uint256 index, uint256 step, StepWitness calldata w) external {
        require(index < finalizedCount, "Rollup: batch is not finalized");
        bytes32 preRoot = _provenPreRoot(_batches[index], step, w);
        require(w.postRoot != preRoot, "Rollup: step is not a valid transaction");
        (uint8 reason, address sender, address to, uint256 value) = verifier.checkTransfer(w.tx, l2ChainId, l2BaseFee);
        require(reason == 0 && to == BRIDGE_ADDRESS && value > 0, "Rollup: step is not a withdrawal");
        require(!withdrawalClaimed[index][step], "Rollup: withdrawal already claimed");
        withdrawalClaimed[index][step] = true;
        require(bridgeBalance >= value, "Rollup: bridge balance too low");
        bridgeBalance -= value;
        owed[sender] += value;
        emit WithdrawalClaimed(index, step, sender, value);
    }

    // ------------------------------------------------------------------------------------------
    // Withdrawals
    // ------------------------------------------------------------------------------------------

    /// @notice Pays the caller everything it is owed.
    function withdraw() external {
        uint256 amount = owed[msg.sender];
        require(amount > 0, "Rollup: nothing owed");
        owed[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "Rollup: transfer failed");
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The final root of the latest pending or finalized batch (the genesis root if none).
    function tipRoot() public view returns (bytes32) {
        return nextIndex == 0 ? genesisRoot : _batches[nextIndex - 1].finalRoot;
    }

    /// @notice The batch stored at `index`, with its effective status: a batch above the tip that
    ///         has not been replaced is `Rejected`.
    function getBatch(uint256 index) external view returns (Batch memory b) {
        b = _batches[index];
        if (index >= nextIndex && b.status != Status.None) b.status = Status.Rejected;
    }

    /// @notice The step leaf of protocol.md §4.2 (for off-chain tools).
    function stepLeaf(uint256 k, bytes32 txHash, bytes32 root) external pure returns (bytes32) {
        return StepTree.leaf(k, txHash, root);
    }

    /// @notice Re-executes a step without any effect (for off-chain tools and gas estimates).
    /// @return reason the validity reason code of the transaction (0 = valid)
    /// @return sender the recovered sender, if rule 3 was reached and passed
    /// @return postRoot the state root after the step
    function executeStep(bytes32 preRoot, bytes calldata txBytes, address coinbase, bytes[] calldata stateNodes)
        external
        view
        returns (L2Tx.Reason reason, address sender, bytes32 postRoot)
    {
        Step.Result memory r = verifier.execute(preRoot, txBytes, Step.Context(l2ChainId, l2BaseFee, coinbase), stateNodes);
        return (r.reason, r.sender, r.postRoot);
    }
}
