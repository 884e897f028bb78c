"""Where alerts go: the :class:`Sink` boundary and the webhook, Slack and PagerDuty sinks.

Every sink POSTs JSON with :mod:`urllib.request` (environment proxies are honoured, redirects
are refused: a redirect would resend a signed body or a routing key to another address). A 2xx
answer is a delivery; anything else, a timeout or a connection error is a :class:`DeliveryError`
whose one-line message names the sink and the status and never a URL, secret or routing key
(Slack and many webhook URLs embed a token, so URLs are treated as secrets too).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

from watchtower import defaults
from watchtower.alert.events import Alert, JSONValue, iso_utc
from watchtower.errors import WatchtowerError

SIGNATURE_HEADER = "X-Watchtower-Signature"
TIMESTAMP_HEADER = "X-Watchtower-Timestamp"
EVENT_HEADER = "X-Watchtower-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

_USER_AGENT = "watchtower-alert/1"
_MAX_RESPONSE = 64 * 1024
_ERROR_READ = 4096
_ERROR_SNIPPET = 120
_REDACTED = "[redacted]"


class DeliveryError(WatchtowerError):
    """A sink could not deliver an alert; the outbox will retry it."""

    def __init__(self, sink: str, detail: str, status: int | None = None) -> None:
        self.sink = sink
        self.detail = " ".join(detail.split())
        self.status = status
        super().__init__(f"alert sink {sink!r}: delivery failed: {self.detail}")


@runtime_checkable
class Sink(Protocol):
    """A destination. ``send`` returns once the alert is accepted, or raises DeliveryError."""

    @property
    def name(self) -> str: ...

    def send(self, alert: Alert) -> None: ...


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256(secret, body)>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the ``X-Watchtower-Signature`` value) signs ``body`` with ``secret``.

    For receivers; the comparison is constant-time. Also check ``X-Watchtower-Timestamp`` (it is
    repeated as ``sent_at`` inside the signed body) to refuse old replays.
    """
    if not header or not header.startswith("sha256="):
        return False
    try:
        given = header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, sign(secret, body).encode("ascii"))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirect())


def _check_url(sink: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"alert sink {sink!r}: the URL must be an absolute http(s) URL")
    return url


def _secret_strings(url: str, extra: Iterable[str | bytes]) -> tuple[str, ...]:
    """Substrings that must never appear in an error message: the URL, its path and query
    (which may hold tokens), and the given secrets."""
    parts = urllib.parse.urlsplit(url)
    found = [url, parts.path, parts.query, urllib.parse.unquote(parts.path), parts.password or ""]
    found = [s for s in found if len(s) >= 4]
    for secret in extra:
        found.append(secret.decode("latin-1") if isinstance(secret, bytes) else secret)
    return tuple(s for s in found if s)


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return " ".join(text.split())


def post_json(
    sink: str,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout: float,
    secrets: Iterable[str] = (),
) -> int:
    """POST ``body``; the 2xx status, or :class:`DeliveryError` (redacted, one line).

    ``timeout`` bounds the connection and every read (urllib's socket timeout).
    """
    secret_list = tuple(secrets)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT, **headers},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(_MAX_RESPONSE)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        try:
            answer = exc.read(_ERROR_READ).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            answer = ""
        finally:
            exc.close()
        # Redact before cutting, so that a secret is never shown cut in half.
        snippet = _redact(answer, secret_list)[:_ERROR_SNIPPET].strip()
        detail = f"HTTP {exc.code}: {snippet}" if snippet else f"HTTP {exc.code}"
        raise DeliveryError(sink, detail, exc.code) from None
    except TimeoutError:
        raise DeliveryError(sink, f"timed out after {timeout:g} s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise DeliveryError(sink, f"timed out after {timeout:g} s") from None
        detail = f"connection failed: {_describe(exc.reason)}"
        raise DeliveryError(sink, _redact(detail, secret_list)) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        detail = f"connection failed: {_describe(exc)}"
        raise DeliveryError(sink, _redact(detail, secret_list)) from None


def _describe(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return f"{type(reason).__name__}: {reason.strerror}"
    if isinstance(reason, BaseException):
        text = str(reason)
        return f"{type(reason).__name__}: {text}" if text else type(reason).__name__
    return str(reason)


def _dumps(payload: Mapping[str, JSONValue]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


class WebhookSink:
    """A generic signed webhook.

    Body: :meth:`Alert.to_json` plus ``sent_at``. Headers: ``X-Watchtower-Signature:
    sha256=<hex HMAC-SHA256(secret, body)>``, ``X-Watchtower-Timestamp`` (Unix seconds, equal
    to ``sent_at``), ``X-Watchtower-Event`` (the kind) and ``Idempotency-Key`` (the dedup key,
    the same on every retry: receivers drop repeats by it).
    """

    def __init__(
        self,
        url: str,
        secret: bytes,
        timeout: float = defaults.SINK_TIMEOUT,
        *,
        name: str = "webhook",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(secret, bytes) or not secret:
            raise ValueError(f"alert sink {name!r}: the webhook secret must be non-empty bytes")
        self._name = name
        self._url = _check_url(name, url)
        self._secret = secret
        self.timeout = timeout
        self._clock = clock
        self._secrets = _secret_strings(url, [secret])

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"WebhookSink(name={self._name!r}, timeout={self.timeout!r})"

    def body(self, alert: Alert, sent_at: int) -> bytes:
        return _dumps({**alert.to_json(), "sent_at": sent_at})

    def send(self, alert: Alert) -> None:
        sent_at = int(self._clock())
        body = self.body(alert, sent_at)
        headers = {
            SIGNATURE_HEADER: sign(self._secret, body),
            TIMESTAMP_HEADER: str(sent_at),
            EVENT_HEADER: alert.kind.value,
            IDEMPOTENCY_HEADER: alert.dedup_key,
        }
        post_json(
            self._name,
            self._url,
            body,
            headers=headers,
            timeout=self.timeout,
            secrets=self._secrets,
        )


_SLACK_FIELDS = 10  # Slack's limit on fields in one section block
_SLACK_FIELD_TEXT = 1900
_SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "error": ":red_circle:",
    "warning": ":warning:",
    "info": ":information_source:",
}


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackSink:
    """A Slack-compatible incoming webhook: ``{"text": <summary>, "blocks": [...]}``.

    ``text`` is the one-line summary (notifications and clients without blocks show it);
    the blocks repeat it with one field per alert field and a context line with the dedup key.
    """

    def __init__(
        self, url: str, timeout: float = defaults.SINK_TIMEOUT, *, name: str = "slack"
    ) -> None:
        self._name = name
        self._url = _check_url(name, url)
        self.timeout = timeout
        self._secrets = _secret_strings(url, [])

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"SlackSink(name={self._name!r}, timeout={self.timeout!r})"

    def payload(self, alert: Alert) -> dict[str, JSONValue]:
        summary = alert.summary()
        if alert.action == "resolve":
            return {"text": _mrkdwn(f":white_check_mark: {summary}")}
        emoji = _SEVERITY_EMOJI[alert.severity.value]
        fields = [
            {
                "type": "mrkdwn",
                "text": _mrkdwn(f"*{name}*\n{_plain(value)}")[:_SLACK_FIELD_TEXT],
            }
            for name, value in list(alert.fields.items())[:_SLACK_FIELDS]
        ]
        section: dict[str, JSONValue] = {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _mrkdwn(f"{emoji} {summary}")[:2900]},
        }
        if fields:
            section["fields"] = fields
        context = f"dedup key `{alert.dedup_key}` · raised {iso_utc(alert.created_at)}"
        return {
            "text": summary,
            "blocks": [
                section,
                {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(context)}]},
            ],
        }

    def send(self, alert: Alert) -> None:
        body = _dumps(self.payload(alert))
        post_json(
            self._name, self._url, body, headers={}, timeout=self.timeout, secrets=self._secrets
        )


def _plain(value: JSONValue) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


class PagerDutySink:
    """PagerDuty Events API v2: a ``trigger`` event whose ``dedup_key`` is the alert's, so
    PagerDuty itself folds repeats into one incident; a ``*_resolved`` alert is a ``resolve``
    event with the dedup key of the condition it ends (:attr:`Alert.incident_key`). ``url``:
    the Events v2 endpoint (``https://events.eu.pagerduty.com/v2/enqueue`` for the EU region).
    The routing key is an integration secret:
    it is only ever put in the request body, never in a message, log line or repr."""

    def __init__(
        self,
        routing_key: str,
        url: str = PAGERDUTY_EVENTS_URL,
        timeout: float = defaults.SINK_TIMEOUT,
        *,
        name: str = "pagerduty",
        source: str = "watchtower",
    ) -> None:
        if not isinstance(routing_key, str) or not routing_key.strip():
            raise ValueError(f"alert sink {name!r}: the routing key must be a non-empty string")
        self._name = name
        self._url = _check_url(name, url)
        self._routing_key = routing_key
        self.timeout = timeout
        self.source = source
        self._secrets = _secret_strings(url, [routing_key])

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"PagerDutySink(name={self._name!r}, source={self.source!r})"

    def payload(self, alert: Alert) -> dict[str, JSONValue]:
        if alert.action == "resolve":
            # Ends the incident its condition opened: same dedup_key, no payload needed.
            return {
                "routing_key": self._routing_key,
                "event_action": "resolve",
                "dedup_key": alert.incident_key,
            }
        return {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": alert.dedup_key,
            "payload": {
                "summary": alert.summary()[:1024],
                "source": self.source,
                "severity": alert.severity.value,
                "timestamp": iso_utc(alert.created_at),
                "component": "watchtower",
                "class": alert.kind.value,
                "custom_details": dict(alert.fields),
            },
        }

    def send(self, alert: Alert) -> None:
        body = _dumps(self.payload(alert))
        post_json(
            self._name, self._url, body, headers={}, timeout=self.timeout, secrets=self._secrets
        )
