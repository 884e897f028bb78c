"""The guardian's intake API (docs/channels.md §5): a small authenticated HTTP server in the
service's process (stdlib ``http.server`` in a thread, like the metrics server).

* ``POST /v1/requests``: a monitoring request (JSON) → parsed (:mod:`watchtower.channels.codec`),
  validated against the chain (:func:`watchtower.channels.intake.check_request`: the rules of
  §5, in order, the first failure is the answer) → stored as the latest for its channel →
  ``200`` with the signed receipt. Errors:
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
from watchtower.channels.facts import ChannelChain
from watchtower.channels.intake import ChainFacts, IntakePolicy, Refused, Status, check_request
from watchtower.channels.store import ChannelStore
from watchtower.errors import InputError, RequestError, one_line

log = structlog.get_logger("watchtower.channels.api")

MAX_BODY = 64 * 1024


class RefusedError(InputError):
    """A request the guardian does not accept: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


#: HTTP status of a refusal by rule (docs/channels.md §5): rule 4 (not newer than what is held:
#: a stale nonce, a replay) is a conflict; every other one is unprocessable.
STATUS_BY_RULE = {4: 409}


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
        if self.policy.contracts.get(request.contract) is request.kind:
            facts = self.chain.intake_facts(request.kind, request.contract, request.channel_key)
        else:  # refused by rule 1 before anything is read
            facts = ChainFacts(now=0, status=Status.NONE)
        verdict = check_request(request, None if held is None else held.request, facts, self.policy)
        if isinstance(verdict, Refused):
            raise RefusedError(STATUS_BY_RULE.get(verdict.rule, 422), verdict.reason)
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
            "monitor": _hex(self.policy.guardian),
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


__all__ = ["ApiServer", "Intake", "IntakePolicy", "RefusedError", "channel_list"]
