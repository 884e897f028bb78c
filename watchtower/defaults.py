"""Every default of the service, in one place: the configuration schema
(:data:`watchtower.config.SCHEMA`), the CLI's help texts and the functions' own keyword defaults
all read them from here, so that they cannot drift apart."""

from __future__ import annotations

import os
from typing import Final

# [l1]
L1_TIMEOUT: Final = 10.0  # seconds before an L1 request is abandoned
CONFIRMATIONS: Final = 2  # blocks on top of a batch before acting on it
POLL_INTERVAL: Final = 4.0  # seconds between ticks
MAX_BACKOFF: Final = 60.0  # longest wait between ticks after failures
STARTUP_TIMEOUT: Final = 240.0  # seconds of retrying L1 nodes down at start-up, then exit 75
SCAN_CHUNK: Final = 2000  # blocks per eth_getLogs
START_BLOCK: Final[int | None] = None  # first L1 block scanned (None: the contract's deployment)
MAX_CHUNKS_PER_TICK: Final = 50  # eth_getLogs ranges scanned in one tick

# [service]
SERVICE_MODE: Final = "challenge"
DATA_DIR: Final = "watchtower-data"
STALL_AFTER: Final = 300.0  # seconds without a new L1 block before a 'stalled' alert

# [challenge]
BUMP_AFTER: Final = 24.0  # seconds without a receipt before a fee bump

# [state]
PRUNE_EVERY: Final = 100  # verified batches between state prunes (0: never)
KEEP_RECENT: Final = 64  # recent batches whose states are kept (a reorg may replace them)

# [replay]
#: Decode and recover the senders of the next batch in a worker process (with a second CPU).
REPLAY_WORKER: Final = (os.cpu_count() or 1) > 1
#: Compute the per-step state roots in a worker process while the steps execute (a third
#: process next to the service and its precheck worker: with a second CPU).
REPLAY_ROOT_WORKER: Final = (os.cpu_count() or 1) > 1

# [alerts.*]
SINK_TIMEOUT: Final = 5.0  # seconds per delivery attempt to a sink
