"""The guardian's intake API (docs/channels.md §5): a small authenticated HTTP server in the
service's process (stdlib ``http.server`` in a thread, like the metrics server).

* ``POST /v1/requests``: a monitoring request (JSON) → parsed (:mod:`watchtower.channels.codec`),
  validated against the chain (:func:`validate`: the checks of §5, in order, the first failure is
  the answer) → stored as the latest for its channel → ``200`` with the signed receipt. Errors:
  ``400`` malformed, ``401`` no or wrong token, ``409`` not newer than the request held (stale
  nonce, replay), ``422`` any other refusal (bad signature, wrong chain or contract, unknown or
  settled channel, unpayable reward); the body is ``{"error": "<one line>"}``;
* ``GET /v1/channels``: the guarded channels (no signatures, no secrets).

Every request needs ``Authorization: Bearer <token>``, the token read from the environment
variable ``channels.api_token_env`` names (compared in constant time).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from watchtower.channels import codec, eip712
from watchtower.channels.guardian import ChannelChain, Facts, Status
from watchtower.channels.store import ChannelStore
from watchtower.channels.types import ChannelState, Cheque, Kind, MonitoringRequest, Payment
from watchtower.errors import InputError, RequestError, one_line

log = structlog.get_logger("watchtower.channels.api")

MAX_BODY = 64 * 1024


class RefusedError(InputError):
    """A request the guardian does not accept: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class IntakePolicy:
    chain_id: int
    contracts: dict[bytes, Kind]
    monitor: bytes  # the guardian's address
    min_reward_wei: int = 0
    claim_margin: int = 3600


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def validate(  # noqa: PLR0912, PLR0915 - one branch per rule of docs/channels.md §5
    request: MonitoringRequest,
    held_sequence: int | None,
    facts: Callable[[], Facts],
    policy: IntakePolicy,
    l1_time: Callable[[], int],
) -> None:
    """The checks of docs/channels.md §5 in order; :class:`RefusedError` names the first failure."""
    where = f"{request.kind} channel {request.channel_key} on {_hex(request.contract)}"
    # 1. chain and contract
    if request.chain_id != policy.chain_id:
        raise RefusedError(
            422, f"chain id {request.chain_id} is not this guardian's ({policy.chain_id})"
        )
    kind = policy.contracts.get(request.contract)
    if kind is None:
        raise RefusedError(422, f"contract {_hex(request.contract)} is not guarded here")
    if kind is not request.kind:
        raise RefusedError(
            422, f"contract {_hex(request.contract)} is a {kind} contract, not {request.kind}"
        )
    on_chain = facts()
    # 3 (needed for 2: who must have signed). Existence first: an unknown channel has no signers.
    if on_chain.status is Status.MISSING or not on_chain.parties:
        raise RefusedError(422, f"{where}: no such channel on chain")
    m = request.message
    domain = request.domain
    signers: list[bytes] = []
    for signature in request.signatures:
        signer = eip712.recover(eip712.digest(domain, m), signature)
        if signer is None:
            raise RefusedError(422, f"{where}: bad signature")
        signers.append(signer)
    if isinstance(m, ChannelState):
        expected = list(on_chain.parties[:2])
        user_balance = {on_chain.parties[0]: m.balance_a, on_chain.parties[1]: m.balance_b}
    elif isinstance(m, Payment):
        expected = [on_chain.parties[0]]
        user_balance = {on_chain.parties[1]: min(m.amount, on_chain.deposit)}
    else:
        assert isinstance(m, Cheque)
        expected = [on_chain.parties[0]]
        user_balance = {m.beneficiary: max(m.cumulative_payout - on_chain.paid_out, 0)}
    if signers != expected:
        names = ", ".join(_hex(s) for s in signers)
        raise RefusedError(
            422, f"{where}: signed by {names}, not by {', '.join(map(_hex, expected))}"
        )
    reward_user: bytes | None = None
    if request.reward is not None:
        reward_user = eip712.recover(
            eip712.digest(domain, request.reward), request.reward_signature
        )
        if reward_user is None or reward_user not in user_balance:
            raise RefusedError(422, f"{where}: bad reward signature (not by the user it protects)")
    # 3. the channel is live
    if on_chain.status is Status.SETTLED:
        raise RefusedError(422, f"{where}: already settled or claimed")
    if isinstance(m, Payment) and l1_time() >= on_chain.deadline:
        raise RefusedError(422, f"{where}: expired at {on_chain.deadline}")
    if (
        isinstance(m, ChannelState)
        and on_chain.status is Status.CLOSING
        and (l1_time() > on_chain.deadline)
    ):
        raise RefusedError(422, f"{where}: settlement window over at {on_chain.deadline}")
    # 4. strictly newer than what is held
    if held_sequence is not None and request.sequence <= held_sequence:
        what = "nonce" if isinstance(m, ChannelState) else "cumulative amount"
        raise RefusedError(
            409, f"{where}: {what} {request.sequence} is not above {held_sequence}, held"
        )
    # 5. the reward can be paid
    r = request.reward
    if r is not None and r.amount > 0:
        assert reward_user is not None
        if r.monitor != policy.monitor:
            raise RefusedError(
                422, f"{where}: reward names monitor {_hex(r.monitor)}, not {_hex(policy.monitor)}"
            )
        if r.channel_id != request.channel_key or r.nonce != request.sequence:
            raise RefusedError(
                422,
                f"{where}: reward is for channel {r.channel_id} nonce {r.nonce}, "
                f"not {request.channel_key} nonce {request.sequence}",
            )
        if r.amount > user_balance[reward_user]:
            raise RefusedError(
                422,
                f"{where}: reward {r.amount} wei exceeds the user's "
                f"{user_balance[reward_user]} wei",
            )
    amount = 0 if r is None else r.amount
    if amount < policy.min_reward_wei:
        raise RefusedError(
            422,
            f"{where}: reward {amount} wei is below this guardian's minimum "
            f"{policy.min_reward_wei} wei",
        )


@dataclass
class Intake:
    """Validation, storage and receipts, independent of HTTP (the CLI and tests use it too)."""

    store: ChannelStore
    chain: ChannelChain
    policy: IntakePolicy
    sign_hash: Callable[[bytes], bytes]
    clock: Callable[[], float] = time.time
    lock: threading.Lock | None = None

    def submit(self, body: bytes) -> dict[str, Any]:
        try:
            request = codec.loads(body)
        except RequestError as exc:
            raise RefusedError(400, str(exc)) from None
        held = self.store.held(request.contract, request.channel_key)
        validate(
            request,
            None if held is None else held.sequence,
            lambda: self.chain.facts(request.kind, request.contract, request.channel_key),
            self.policy,
            lambda: self.chain.head().timestamp,
        )
        accepted_at = int(self.clock())
        digest = eip712.request_digest(request)
        receipt = self.sign_hash(eip712.receipt_digest(request, accepted_at))
        if not self.store.accept(request, digest, accepted_at, receipt):
            raise RefusedError(
                409,
                f"{request.kind} channel {request.channel_key}: a request at least "
                f"as new ({request.sequence}) is already held",
            )
        log.info(
            "channel_request_accepted",
            kind=request.kind.value,
            contract=_hex(request.contract),
            channel=request.channel_key,
            sequence=request.sequence,
            reward=0 if request.reward is None else request.reward.amount,
        )
        return {
            "accepted": True,
            "kind": request.kind.value,
            "contract": _hex(request.contract),
            "channel": str(request.channel_key),
            "sequence": str(request.sequence),
            "request_digest": _hex(digest),
            "accepted_at": accepted_at,
            "monitor": _hex(self.policy.monitor),
            "receipt": _hex(receipt),
        }

    def channels(self) -> list[dict[str, Any]]:
        return channel_list(self.store)


def channel_list(store: ChannelStore) -> list[dict[str, Any]]:
    """The guarded channels and their actions, without signatures."""
    out = []
    for held in store.requests():
        r = held.request.reward
        actions = [
            {
                "action": a.action,
                "state": a.state,
                "nonce": a.nonce,
                "deadline": a.deadline if a.deadline < 2**62 else None,
                "detail": a.detail,
            }
            for a in store.actions(held.contract, held.channel_key)
        ]
        out.append(
            {
                "kind": held.kind.value,
                "contract": held.contract,
                "channel": str(held.channel_key),
                "sequence": str(held.sequence),
                "reward_wei": "0" if r is None else str(r.amount),
                "accepted_at": held.accepted_at,
                "actions": actions,
            }
        )
    return out


def local_hash_signer(signer: Any) -> Callable[[bytes], bytes]:
    """Receipts signed by a local key (``unsafe_sign_hash`` of the EIP-191 digest)."""

    def sign(digest: bytes) -> bytes:
        if not hasattr(signer, "unsafe_sign_hash"):
            raise RefusedError(503, "this guardian's signer cannot sign receipts (a remote signer)")
        return bytes(signer.unsafe_sign_hash(digest).signature)

    return sign


class ApiServer:
    """The intake API on ``listen`` (HOST:PORT), served by a daemon thread."""

    def __init__(self, listen: str, intake: Intake, token: str) -> None:
        host, _, port = listen.rpartition(":")
        handler = _handler(intake, token)
        self.httpd = ThreadingHTTPServer((host, int(port)), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="channels-api", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> ApiServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(intake: Intake, token: str) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode()
    lock = intake.lock or threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: Any) -> None:
            data = (json.dumps(body) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            given = (self.headers.get("Authorization") or "").encode()
            if hmac.compare_digest(given, expected):
                return True
            self._answer(401, {"error": "missing or wrong bearer token"})
            return False

        def do_GET(self) -> None:
            if not self._authorized():
                return
            if self.path.split("?")[0] != "/v1/channels":
                self._answer(404, {"error": f"no such endpoint: GET {self.path[:80]}"})
                return
            self._answer(200, {"channels": intake.channels()})

        def do_POST(self) -> None:
            if not self._authorized():
                return
            if self.path != "/v1/requests":
                self._answer(404, {"error": f"no such endpoint: POST {self.path[:80]}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(400, {"error": f"request body over {MAX_BODY} bytes"})
                return
            body = self.rfile.read(length)
            try:
                with lock:
                    answer = intake.submit(body)
            except RefusedError as exc:
                log.info("channel_request_refused", status=exc.status, reason=str(exc))
                self._answer(exc.status, {"error": str(exc)})
                return
            except Exception as exc:  # the chain could not be read: no answer either way
                log.warning("channel_request_failed", error=one_line(exc))
                self._answer(503, {"error": f"cannot validate now: {one_line(exc)}"})
                return
            self._answer(200, answer)

    return Handler


__all__ = ["ApiServer", "Intake", "IntakePolicy", "RefusedError", "channel_list", "validate"]
