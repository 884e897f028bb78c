from __future__ import annotations

import pytest

from watchtower.alert import (
    Alert,
    DeliveryError,
    PagerDutySink,
    Sink,
    SlackSink,
    WebhookSink,
    sign,
    verify_signature,
)
from watchtower.errors import WatchtowerError

from .conftest import T0
from .receiver import Receiver, closed_port

SECRET = b"whsec-0123456789-very-secret"
ROUTING_KEY = "R0UT1NGKEY-abcdef0123456789"
SLACK_TOKEN = "xoxSLACKTOKEN42"

FRAUD = Alert.create("fraud_detected", {"batch": 3, "step": 7, "l1_block": 12}, T0)


def test_sinks_satisfy_the_protocol(receiver: Receiver) -> None:
    for sink in (
        WebhookSink(receiver.url(), SECRET),
        SlackSink(receiver.url()),
        PagerDutySink(ROUTING_KEY, url=receiver.url()),
    ):
        assert isinstance(sink, Sink)


def test_webhook_is_signed_and_the_signature_verifies(receiver: Receiver) -> None:
    WebhookSink(receiver.url("/hook"), SECRET, timeout=2, clock=lambda: T0 + 5).send(FRAUD)
    [req] = receiver.requests
    assert req.path == "/hook"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-watchtower-event"] == "fraud_detected"
    assert req.headers["x-watchtower-timestamp"] == str(int(T0 + 5))
    assert req.headers["idempotency-key"] == "fraud_detected:batch=3:step=7"
    signature = req.headers["x-watchtower-signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, req.body, signature)
    body = req.json()
    assert body["kind"] == "fraud_detected"
    assert body["severity"] == "critical"
    assert body["dedup_key"] == FRAUD.dedup_key
    assert body["fields"] == {"batch": 3, "step": 7, "l1_block": 12}
    assert body["sent_at"] == int(T0 + 5)


def test_a_tampered_body_or_wrong_secret_fails_verification() -> None:
    body = b'{"kind":"fraud_detected","fields":{"batch":3}}'
    header = sign(SECRET, body)
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, body.replace(b"3", b"4"), header)
    assert not verify_signature(b"another-secret", body, header)
    assert not verify_signature(SECRET, body, header.removeprefix("sha256="))
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "sha256=é")


def test_slack_payload_shape(receiver: Receiver) -> None:
    alert = Alert.create("challenge_failed", {"batch": 3, "reason": "a <b> & c"}, T0)
    SlackSink(receiver.url(f"/services/T0/B0/{SLACK_TOKEN}"), timeout=2).send(alert)
    [req] = receiver.requests
    payload = req.json()
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == "[CRITICAL] challenge_failed: batch=3 reason=a <b> & c"
    assert "\n" not in payload["text"]
    section, context = payload["blocks"]
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert "challenge_failed" in section["text"]["text"]
    assert "&lt;b&gt; &amp; c" in section["text"]["text"]
    assert [f["text"] for f in section["fields"]] == ["*batch*\n3", "*reason*\na &lt;b&gt; &amp; c"]
    assert context["type"] == "context"
    assert "challenge_failed:batch=3" in context["elements"][0]["text"]


def test_pagerduty_payload_shape(receiver: Receiver) -> None:
    receiver.default_status = 202  # what PagerDuty answers
    PagerDutySink(ROUTING_KEY, url=receiver.url("/v2/enqueue"), timeout=2, source="wt-1").send(
        FRAUD
    )
    [req] = receiver.requests
    event = req.json()
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "fraud_detected:batch=3:step=7"
    payload = event["payload"]
    assert payload["summary"] == "[CRITICAL] fraud_detected: batch=3 step=7 l1_block=12"
    assert payload["source"] == "wt-1"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2026-01-01T00:00:00Z"
    assert payload["custom_details"] == {"batch": 3, "step": 7, "l1_block": 12}


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
def test_non_2xx_is_a_delivery_error_naming_sink_and_status(
    receiver: Receiver, status: int
) -> None:
    receiver.default_status = status
    sink = WebhookSink(receiver.url(), SECRET, timeout=2, name="ops-hook")
    with pytest.raises(DeliveryError) as info:
        sink.send(FRAUD)
    assert info.value.status == status
    assert info.value.sink == "ops-hook"
    assert "'ops-hook'" in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert isinstance(info.value, WatchtowerError)


def test_redirects_are_refused(receiver: Receiver) -> None:
    receiver.default_status = 307
    with pytest.raises(DeliveryError, match="HTTP 307") as info:
        WebhookSink(receiver.url(), SECRET, timeout=2).send(FRAUD)
    assert info.value.status == 307
    assert len(receiver.requests) == 1


def test_connection_refused_is_a_delivery_error() -> None:
    sink = SlackSink(f"http://127.0.0.1:{closed_port()}/services/{SLACK_TOKEN}", timeout=2)
    with pytest.raises(DeliveryError, match="connection failed") as info:
        sink.send(FRAUD)
    assert info.value.status is None
    assert SLACK_TOKEN not in str(info.value)


def test_a_hanging_receiver_is_cut_by_the_timeout(receiver: Receiver) -> None:
    receiver.hang_for = 10.0
    sink = PagerDutySink(ROUTING_KEY, url=receiver.url(), timeout=0.3)
    with pytest.raises(DeliveryError, match=r"timed out after 0\.3 s"):
        sink.send(FRAUD)  # the receiver would hold the request for 10 s
    assert len(receiver.requests) == 1


def test_secrets_never_appear_in_errors_or_reprs(receiver: Receiver) -> None:
    receiver.default_status = 500
    receiver.echo = True  # the error body repeats the request path and body
    sinks: list[Sink] = [
        WebhookSink(receiver.url(f"/hook/{SLACK_TOKEN}"), SECRET, timeout=2),
        SlackSink(receiver.url(f"/services/{SLACK_TOKEN}"), timeout=2),
        PagerDutySink(ROUTING_KEY, url=receiver.url("/v2/enqueue"), timeout=2),
    ]
    for sink in sinks:
        for text in (repr(sink), str(sink)):
            assert SLACK_TOKEN not in text
            assert ROUTING_KEY not in text
            assert SECRET.decode() not in text
        with pytest.raises(DeliveryError) as info:
            sink.send(FRAUD)
        message = str(info.value)
        assert "HTTP 500: invalid [redacted]" in message
        assert "\n" not in message
        for secret in (SLACK_TOKEN, ROUTING_KEY, SECRET.decode()):
            assert secret not in message
            assert secret not in repr(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
    # the routing key did reach the receiver (it belongs in the body), and was echoed back
    assert ROUTING_KEY.encode() in receiver.requests[2].body


@pytest.mark.parametrize("pad", [90, 100, 110])
def test_a_secret_across_the_snippet_cut_is_not_shown_in_part(receiver: Receiver, pad: int) -> None:
    receiver.default_status = 400
    receiver.echo = True
    receiver.echo_pad = pad  # puts the echoed routing key across the 120-character cut
    with pytest.raises(DeliveryError) as info:
        PagerDutySink(ROUTING_KEY, url=receiver.url("/pd"), timeout=2).send(FRAUD)
    message = str(info.value)
    pieces = {ROUTING_KEY[i : i + 5] for i in range(len(ROUTING_KEY) - 4)}
    assert not any(piece in message for piece in pieces)


def test_bad_configuration_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="absolute http") as info:
        WebhookSink(f"file:///etc/{SLACK_TOKEN}", SECRET)
    assert SLACK_TOKEN not in str(info.value)
    with pytest.raises(ValueError, match="non-empty"):
        WebhookSink("http://127.0.0.1/hook", b"")
    with pytest.raises(ValueError, match="routing key"):
        PagerDutySink("  ")
