"""The store's schema, as the migrations that build it (:class:`watchtower.store.db.Store`
applies them in order on open and records how many in ``PRAGMA user_version``). Append only:
a released migration is never edited.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE scan (id INTEGER PRIMARY KEY CHECK (id = 1), next_block INTEGER NOT NULL);
    CREATE TABLE blocks (number INTEGER PRIMARY KEY, hash BLOB NOT NULL);
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        idx INTEGER NOT NULL,
        tx_hash BLOB NOT NULL UNIQUE,
        l1_block INTEGER NOT NULL,
        l1_block_hash BLOB NOT NULL,
        log_index INTEGER NOT NULL,
        prev_root BLOB NOT NULL,
        final_root BLOB NOT NULL,
        steps_root BLOB NOT NULL,
        count INTEGER NOT NULL,
        coinbase BLOB NOT NULL,
        timestamp INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        verdict TEXT,
        fraud_step INTEGER,
        claimed_root BLOB,
        computed_root BLOB,
        reason TEXT NOT NULL DEFAULT '',
        verified_at REAL,
        data BLOB NOT NULL
    );
    CREATE INDEX batches_by_idx ON batches (idx, status);
    CREATE TABLE challenges (
        batch_id INTEGER PRIMARY KEY REFERENCES batches (id),
        step INTEGER NOT NULL,
        nonce INTEGER,
        stake TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE submissions (
        tx_hash BLOB PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES challenges (batch_id),
        nonce INTEGER NOT NULL,
        max_fee TEXT NOT NULL,
        max_priority_fee TEXT NOT NULL,
        raw BLOB NOT NULL,
        sent_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'sent',
        l1_block INTEGER,
        gas_used INTEGER
    );
    CREATE TABLE withdrawals (
        tx_hash BLOB PRIMARY KEY,
        amount TEXT NOT NULL,
        l1_block INTEGER NOT NULL,
        at REAL NOT NULL
    );
    """,
    # 2: the L1 block of the BatchesRejected log that rejected a batch, so a reorg that removes
    # the rejection (and not the batch) can undo it
    """
    ALTER TABLE batches ADD COLUMN rejected_at_block INTEGER;
    """,
    # 3: commit-reveal challenges (watchtower/store/journal.py): the salt, one nonce per action
    # (allocated and recorded before signing), the backoff of transient failures, which action
    # each transaction is. Failures that were not a definite answer (an RPC error, a 429 on the
    # eth_call) become retryable again while their batch is pending and inside its window.
    """
    ALTER TABLE challenges ADD COLUMN salt BLOB;
    ALTER TABLE challenges ADD COLUMN sender TEXT;
    ALTER TABLE challenges ADD COLUMN commit_nonce INTEGER;
    ALTER TABLE challenges ADD COLUMN reveal_nonce INTEGER;
    ALTER TABLE challenges ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE challenges ADD COLUMN retry_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE submissions ADD COLUMN action TEXT NOT NULL DEFAULT 'reveal';
    ALTER TABLE submissions ADD COLUMN gas INTEGER;
    UPDATE challenges SET reveal_nonce = nonce WHERE nonce IS NOT NULL;
    UPDATE challenges SET
        state = CASE WHEN batch_id IN (SELECT batch_id FROM submissions)
                     THEN 'sent' ELSE 'prepared' END,
        detail = 'retryable after upgrade: ' || detail
    WHERE state = 'failed'
        AND detail NOT LIKE '%no fraud%'
        AND detail NOT LIKE '%deadline%'
        AND detail NOT LIKE '%challenge period over%'
        AND batch_id IN (
            SELECT id FROM batches
            WHERE status = 'pending' AND deadline > CAST(strftime('%s', 'now') AS INTEGER)
        );
    """,
    # 4: the bridge (docs/protocol.md §8; watchtower/store/bridge.py): the L1 deposit queue and
    # the withdrawal claims as followed (with their L1 block, so a reorg deletes them), what
    # each verified batch moved across the bridge (its withdrawals one per row), and the
    # deposits whose overdue alert is open
    """
    CREATE TABLE deposits (
        idx INTEGER PRIMARY KEY,
        sender BLOB NOT NULL,
        recipient BLOB NOT NULL,
        amount TEXT NOT NULL,
        l1_timestamp INTEGER NOT NULL,
        l1_block INTEGER NOT NULL,
        l1_block_hash BLOB NOT NULL,
        log_index INTEGER NOT NULL,
        tx_hash BLOB NOT NULL,
        overdue_alerted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE claims (
        tx_hash BLOB NOT NULL,
        log_index INTEGER NOT NULL,
        batch INTEGER NOT NULL,
        step INTEGER NOT NULL,
        account BLOB NOT NULL,
        amount TEXT NOT NULL,
        l1_block INTEGER NOT NULL,
        l1_block_hash BLOB NOT NULL,
        verdict TEXT,
        reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (tx_hash, log_index)
    );
    CREATE INDEX claims_by_withdrawal ON claims (batch, step);
    CREATE TABLE bridge_batches (
        batch_id INTEGER PRIMARY KEY REFERENCES batches (id),
        deposited TEXT NOT NULL,
        withdrawn TEXT NOT NULL,
        burned TEXT NOT NULL,
        l2_supply TEXT NOT NULL,
        value_at_risk TEXT NOT NULL DEFAULT '0'
    );
    CREATE TABLE bridge_withdrawals (
        batch_id INTEGER NOT NULL REFERENCES batches (id),
        step INTEGER NOT NULL,
        account BLOB NOT NULL,
        amount TEXT NOT NULL,
        PRIMARY KEY (batch_id, step)
    );
    """,
    # 5: the channel guardian (docs/channels.md §5-6; watchtower/channels/store.py): the latest
    # accepted monitoring request per (contract, channel key), the guardian's actions and their
    # transactions (nonces from the same per-signer space as the challenges'), the channel
    # contracts' scan progress and recent block hashes (reorgs), and the alerts already raised
    """
    CREATE TABLE channel_requests (
        contract TEXT NOT NULL,
        channel_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        sequence TEXT NOT NULL,
        request TEXT NOT NULL,
        digest BLOB NOT NULL,
        accepted_at INTEGER NOT NULL,
        receipt BLOB NOT NULL,
        PRIMARY KEY (contract, channel_key)
    );
    CREATE TABLE channel_actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        contract TEXT NOT NULL,
        channel_key TEXT NOT NULL,
        action TEXT NOT NULL,
        sequence TEXT NOT NULL,
        state TEXT NOT NULL,
        sender TEXT NOT NULL,
        nonce INTEGER,
        deadline INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        retry_at REAL NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (contract, channel_key, action, sequence)
    );
    CREATE TABLE channel_txs (
        tx_hash BLOB PRIMARY KEY,
        action_id INTEGER NOT NULL REFERENCES channel_actions (id),
        sender TEXT NOT NULL,
        nonce INTEGER NOT NULL,
        max_fee TEXT NOT NULL,
        max_priority_fee TEXT NOT NULL,
        raw BLOB NOT NULL,
        sent_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'sent',
        l1_block INTEGER,
        gas_used INTEGER
    );
    CREATE TABLE channel_scan (id INTEGER PRIMARY KEY CHECK (id = 1), next_block INTEGER NOT NULL);
    CREATE TABLE channel_blocks (number INTEGER PRIMARY KEY, hash BLOB NOT NULL);
    CREATE TABLE channel_alerts (key TEXT PRIMARY KEY, l1_block INTEGER NOT NULL)
    """,
    # 6: deposit_overdue episodes apart from the deposits (watchtower/store/bridge.py): a reorg
    # that deletes an alerted deposit's row no longer loses the open alert (it is resolved), and
    # a deposit overdue again (re-mined, or its consuming batch reorged out) opens a new episode
    # (a new deduplication key) instead of a duplicate the outbox would drop
    """
    CREATE TABLE overdue_alerts (
        idx INTEGER NOT NULL,
        tx_hash BLOB NOT NULL,
        episode INTEGER NOT NULL,
        open INTEGER NOT NULL,
        PRIMARY KEY (idx, tx_hash)
    );
    INSERT INTO overdue_alerts (idx, tx_hash, episode, open)
        SELECT idx, tx_hash, 0, 1 FROM deposits WHERE overdue_alerted = 1;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]
