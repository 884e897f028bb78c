"""Configuration: a TOML file, environment variables and command-line flags.

Precedence, highest first: **flags > environment > file > defaults**. Every setting has a
dotted name (``l1.rpc``); its environment variable is ``WATCHTOWER_`` + the name in upper case
with the dot replaced by ``_`` (``WATCHTOWER_L1_RPC``; lists are comma-separated). Unknown keys
and bad values are refused with one line that names the key (and a "did you mean" when a known
key is close). Secrets are never values of the configuration: it holds the *names* of the
environment variables or the *paths* of the files that carry them, and URLs are shown with their
path and query redacted (RPC and webhook URLs often embed tokens).

Amounts of wei (``challenge.stake_wei``, ``--stake``) are exact or refused (:func:`wei`): an
integer, a string of digits, or an exact unit form such as ``"1.5 ether"`` / ``"2 gwei"``; a
float (``1.5``, ``1e18``), a boolean, a negative number or a fraction of a wei is an error that
names the setting and the value, never a silent truncation.

The alert sinks are the one nested part: ``[[alerts.webhook]]`` (``url``, ``secret_env``,
``timeout``), ``[[alerts.slack]]`` (``url_env``, ``timeout``), ``[[alerts.pagerduty]]``
(``routing_key_env``, ``url``: the Events v2 endpoint, ``https://events.eu.pagerduty.com/v2/enqueue``
for the EU region; ``timeout``). Every sink takes ``timeout`` (seconds per request) and
``min_severity`` (``info`` … ``critical``: the least severe alert it is sent).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from watchtower import defaults
from watchtower.errors import InputError


class ConfigError(InputError):
    """A configuration value or key cannot be used."""


def _int(value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    number = int(value)
    if number < minimum:
        raise ValueError(f"must be at least {minimum}")
    return number


#: Units a wei amount may be written in (as a string): exact multiples only.
WEI_UNITS = {"wei": 1, "gwei": 10**9, "ether": 10**18}
_UINT256_MAX = 2**256 - 1


def wei(value: Any, *, minimum: int = 0) -> int:
    """An amount of wei, exactly: a TOML integer, a string of decimal digits (``"1500"``), or a
    string with a unit (``"1.5 ether"``, ``"2 gwei"``, ``"7 wei"``) that is a whole number of wei.

    Anything that is not exact is refused rather than rounded: floats (TOML ``1.5`` or ``1e18``),
    booleans, negative numbers, exponents, hex, and a unit form with a fraction of a wei
    (``"0.5 wei"``, ``"1.0000000001 gwei"``).
    """
    if isinstance(value, bool):
        raise ValueError("expected a whole number of wei, got a boolean")
    if isinstance(value, float):
        raise ValueError(
            "a floating-point number is not an exact amount: write the whole number of wei "
            '(an integer, or digits in quotes) or an exact unit form like "1.5 ether"'
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        number = _wei_text(value)
    else:
        raise ValueError(f"expected a whole number of wei, got {type(value).__name__}")
    if number < minimum:
        raise ValueError(f"must be at least {minimum} wei")
    if number > _UINT256_MAX:
        raise ValueError("more than 2^256 - 1 wei")
    return number


def _wei_text(value: str) -> int:
    text = value.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    number, _, unit = text.partition(" ")
    unit = unit.strip().lower()
    whole, dot, fraction = number.partition(".")
    digits = whole + fraction
    if (
        unit not in WEI_UNITS
        or not whole
        or (dot and not fraction)
        or not (digits.isascii() and digits.isdigit())
    ):
        raise ValueError(
            'expected a whole number of wei (digits only) or an amount with a unit like "1.5 '
            'ether" or "2 gwei"'
        )
    scale = WEI_UNITS[unit]
    places: int = len(fraction)
    numerator: int = int(digits) * scale
    divisor: int = 10**places
    if numerator % divisor:
        raise ValueError(f"{text!r} is not a whole number of wei")
    return numerator // divisor


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    number = float(value)
    if number <= 0:
        raise ValueError("must be positive")
    return number


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _alert_kind(value: Any) -> str:
    """An alert kind that exists: a typo would silence nothing, without a word."""
    from watchtower.alert.events import AlertKind

    return AlertKind.parse(_str(value)).value


def _choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return str(value)

    return convert


def _confirmations(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value)
    text = str(value).strip().lower()
    if text in ("safe", "finalized"):
        return text
    if not text.isdigit():
        raise ValueError(f"{value!r} is not a number of blocks, 'safe' or 'finalized'")
    return int(text)


def _address(value: Any) -> str:
    text = _str(value)
    if not (text.startswith("0x") and len(text) == 42):
        raise ValueError("expected a 0x-prefixed 20-byte address")
    int(text, 16)
    return text


def _list(item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def convert(value: Any) -> list[Any]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ValueError("expected a list")
        return [item(v) for v in value]

    return convert


def _listen(value: Any) -> str:
    host, _, port = _str(value).rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError("expected HOST:PORT")
    return str(value)


def http_url(value: Any) -> str:
    """An http(s) URL with a host (and a numeric port, if any): the only kind the L1 client and
    the alert sinks can use. Checked here so that a typo is refused at start, in one line,
    rather than reported later as an unreachable host named ``None``."""
    text = _str(value)
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number 0..65535)
    except ValueError:
        raise ValueError("the port is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https"):
        scheme = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"{scheme}: expected an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("no host: expected http(s)://HOST[:PORT][/PATH]")
    return text


def _path(value: Any) -> str:
    return _str(value)


CHANNEL_KINDS = ("state", "payment", "cheque")


def _channel_contract(value: Any) -> dict[str, str]:
    """A guarded channel contract: a table ``{kind = "state", address = "0x…"}`` (file) or
    ``"state:0x…"`` (environment, flags)."""
    if isinstance(value, str):
        kind, _, address = value.partition(":")
        value = {"kind": kind.strip(), "address": address.strip()}
    if not isinstance(value, dict) or set(value) != {"kind", "address"}:
        raise ValueError('expected {kind = "state|payment|cheque", address = "0x…"}')
    if value["kind"] not in CHANNEL_KINDS:
        raise ValueError(f"kind {value['kind']!r}: expected one of {', '.join(CHANNEL_KINDS)}")
    return {"kind": str(value["kind"]), "address": _address(value["address"]).lower()}


def _guard(value: Any) -> list[str]:
    items = _list(_choice("rollup", "channels"))(value)
    if not items:
        raise ValueError("expected rollup, channels or both")
    return sorted(set(items), key=items.index)


@dataclass(frozen=True)
class Setting:
    convert: Callable[[Any], Any]
    default: Any
    help: str
    url: bool = False  # shown redacted


SCHEMA: dict[str, dict[str, Setting]] = {
    "l1": {
        "rpc": Setting(
            _list(http_url), [], "L1 JSON-RPC URLs; several are cross-checked", url=True
        ),
        "rollup": Setting(_address, None, "the rollup contract's address"),
        "confirmations": Setting(
            _confirmations, defaults.CONFIRMATIONS, "blocks before acting, or safe/finalized"
        ),
        "poll_interval": Setting(_float, defaults.POLL_INTERVAL, "seconds between ticks"),
        "timeout": Setting(
            _float, defaults.L1_TIMEOUT, "seconds before an L1 request is abandoned"
        ),
        "max_backoff": Setting(
            _float, defaults.MAX_BACKOFF, "longest wait between ticks after failures"
        ),
        "chunk": Setting(
            lambda v: _int(v, minimum=1), defaults.SCAN_CHUNK, "blocks per eth_getLogs"
        ),
        "start_block": Setting(
            _int,
            defaults.START_BLOCK,
            "first L1 block to scan (default: the contract's deployment block, found on L1)",
        ),
        "startup_timeout": Setting(
            _float,
            defaults.STARTUP_TIMEOUT,
            "seconds of retrying L1 nodes down at start-up before exit status 75",
        ),
        "quorum": Setting(
            lambda v: _int(v, minimum=1),
            None,
            "endpoints that must answer at start-up and each tick (default: all)",
        ),
    },
    "service": {
        "mode": Setting(_choice("watch", "challenge"), defaults.SERVICE_MODE, "watch or challenge"),
        "data_dir": Setting(_path, defaults.DATA_DIR, "state database and store"),
        "genesis": Setting(_path, None, "L2 genesis file (required by run)"),
        "stall_after": Setting(
            _float, defaults.STALL_AFTER, "seconds without L1 progress before 'stalled'"
        ),
        "guard": Setting(_guard, ["rollup"], "what this process guards: rollup, channels or both"),
    },
    "channels": {
        "enabled": Setting(_bool, False, "guard the channel contracts (docs/channels.md)"),
        "contracts": Setting(
            _list(_channel_contract), [], 'guarded contracts: [{kind = "state", address = "0x…"}]'
        ),
        "api_listen": Setting(_listen, None, "HOST:PORT of the intake API (POST /v1/requests)"),
        "api_token_env": Setting(
            _str, None, "environment variable holding the intake API's bearer token"
        ),
        "min_reward_wei": Setting(wei, 0, "smallest reward accepted at intake"),
        "claim_margin": Setting(
            lambda v: _int(v, minimum=1),
            3600,
            "seconds before a payment channel's expiration when it is claimed",
        ),
        "start_block": Setting(_int, 0, "first L1 block whose channel events are followed"),
        "confirmations": Setting(
            _int, 2, "blocks on top of a channel event before it is alerted on"
        ),
    },
    "signer": {
        "key_env": Setting(_str, None, "environment variable holding a hex key"),
        "keystore": Setting(_path, None, "encrypted keystore file"),
        "password_env": Setting(_str, None, "environment variable holding its password"),
        "password_file": Setting(_path, None, "file holding its password"),
        "remote_url": Setting(
            http_url, None, "a signer process's JSON-RPC URL (eth_signTransaction)", url=True
        ),
        "remote_address": Setting(_address, None, "the address the remote signer signs for"),
    },
    "challenge": {
        "stake_wei": Setting(
            lambda v: wei(v, minimum=1), None, "stake per challenge in wei (default: the minimum)"
        ),
        "bump_after": Setting(_float, defaults.BUMP_AFTER, "seconds before a fee bump"),
    },
    "state": {
        "prune_every": Setting(
            _int, defaults.PRUNE_EVERY, "verified batches between state prunes; 0: never"
        ),
        "keep_recent": Setting(
            lambda v: _int(v, minimum=1),
            defaults.KEEP_RECENT,
            "recent batches whose states are kept for reorgs",
        ),
    },
    "replay": {
        "worker": Setting(
            _bool,
            defaults.REPLAY_WORKER,
            "recover the next batch's senders in a worker process (default: on with 2+ CPUs)",
        ),
        "root_worker": Setting(
            _bool,
            defaults.REPLAY_ROOT_WORKER,
            "compute the per-step state roots in a worker process (default: on with 2+ CPUs)",
        ),
    },
    "metrics": {
        "listen": Setting(_listen, None, "HOST:PORT for /metrics, /healthz, /readyz"),
    },
    "log": {
        "format": Setting(_choice("json", "console"), "json", "json or console"),
        "level": Setting(_choice("debug", "info", "warning", "error"), "info", "log level"),
    },
    "alerts": {
        "silence_kinds": Setting(_list(_alert_kind), [], "alert kinds never sent"),
        "silence_batches": Setting(_list(_int), [], "batches whose alerts are never sent"),
    },
}
_SEVERITIES = ("info", "warning", "error", "critical")
_SINK_TIMEOUT = Setting(
    _float, defaults.SINK_TIMEOUT, "seconds per delivery request (connect and each read)"
)
_MIN_SEVERITY = Setting(
    _choice(*_SEVERITIES), "info", "least severe alert sent to this sink (info..critical)"
)
_SINKS: dict[str, dict[str, Setting]] = {
    "webhook": {
        "url": Setting(http_url, None, "receiver URL", url=True),
        "secret_env": Setting(_str, None, "environment variable with the HMAC secret"),
        "timeout": _SINK_TIMEOUT,
        "min_severity": _MIN_SEVERITY,
    },
    "slack": {
        "url_env": Setting(_str, None, "environment variable with the incoming-webhook URL"),
        "timeout": _SINK_TIMEOUT,
        "min_severity": _MIN_SEVERITY,
    },
    "pagerduty": {
        "routing_key_env": Setting(_str, None, "environment variable with the routing key"),
        "url": Setting(
            http_url,
            "https://events.pagerduty.com/v2/enqueue",
            "Events v2 URL (EU region: https://events.eu.pagerduty.com/v2/enqueue)",
            url=True,
        ),
        "timeout": _SINK_TIMEOUT,
        "min_severity": _MIN_SEVERITY,
    },
}
ENV_PREFIX = "WATCHTOWER_"


@dataclass(frozen=True)
class Settings:
    """The effective configuration: ``values["l1.rpc"]`` etc., and the alert sinks."""

    values: dict[str, Any]
    sinks: dict[str, list[dict[str, Any]]]
    sources: dict[str, str]  # where each value came from: default, file, env, flag

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def redacted(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            section, key = name.split(".")
            setting = SCHEMA[section][key]
            shown = _redact(value) if setting.url else value
            out.setdefault(section, {})[key] = shown
        for kind, entries in self.sinks.items():
            out.setdefault("alerts", {})[kind] = [
                {k: _redact(v) if _SINKS[kind][k].url else v for k, v in entry.items()}
                for entry in entries
            ]
        return out


def _redact(value: Any) -> Any:
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return "<redacted>"
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: show no port rather than fail while reporting
        port = ""
    tail = "/<redacted>" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{tail}"


def _unknown(kind: str, name: str, known: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown {kind} {name!r}{hint}")


def _convert(name: str, setting: Setting, raw: Any, where: str) -> Any:
    try:
        return setting.convert(raw)
    except (ValueError, TypeError) as exc:
        shown = _redact(raw) if setting.url else raw  # a mistyped URL may still carry a token
        raise ConfigError(f"{where}: {name} = {shown!r:.60}: {exc}") from None


def _named_variables(
    values: Mapping[str, Any],
    sinks: Mapping[str, list[dict[str, Any]]],
    env: Mapping[str, str],
    flags: Mapping[str, Any],
) -> set[str]:
    """The environment variables that settings name (every ``*_env`` value: file, flags, the
    environment's own ``WATCHTOWER_*_ENV``, and the sinks)."""
    named = {str(v) for k, v in values.items() if k.endswith("_env") and v}
    named |= {str(v) for k, v in flags.items() if k.endswith("_env") and v}
    named |= {v for k, v in env.items() if k.startswith(ENV_PREFIX) and k.endswith("_ENV") and v}
    for entries in sinks.values():
        for entry in entries:
            named |= {str(v) for k, v in entry.items() if k.endswith("_env") and v}
    return named


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults, the TOML file, the environment and flags (dotted names), in that order.

    ``flag_names`` maps a dotted name to the command-line option that set it (``l1.rpc`` ->
    ``--l1-rpc``), so that an error names the option the user actually typed.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for section, settings in SCHEMA.items():
        for key, setting in settings.items():
            values[f"{section}.{key}"] = setting.default
            sources[f"{section}.{key}"] = "default"
    sinks: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _SINKS}

    if path is not None:
        where = str(path)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from None
        for section, table in document.items():
            if section not in SCHEMA:
                raise _unknown("section", section, list(SCHEMA), where)
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: [{section}] must be a table")
            for key, raw in table.items():
                if section == "alerts" and key in _SINKS:
                    sinks[key] = _parse_sinks(key, raw, where)
                    continue
                if key not in SCHEMA[section]:
                    known = list(SCHEMA[section]) + (list(_SINKS) if section == "alerts" else [])
                    raise _unknown(f"key in [{section}]", key, known, where)
                name = f"{section}.{key}"
                values[name] = _convert(name, SCHEMA[section][key], raw, where)
                sources[name] = "file"

    # Variables that a setting names (`--key-env WATCHTOWER_SIGNER_KEY`, a sink's `secret_env`)
    # hold secrets, not settings, whatever their prefix.
    named = _named_variables(values, sinks, env, flags or {})
    for variable, raw in sorted(env.items()):
        if not variable.startswith(ENV_PREFIX) or variable in named:
            continue
        rest = variable[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section not in SCHEMA:
            continue  # e.g. WATCHTOWER_KEY: a secret named by a setting, not a setting
        if key not in SCHEMA[section]:
            candidates = [f"{ENV_PREFIX}{section}_{k}".upper() for k in SCHEMA[section]]
            raise _unknown("environment variable", variable, candidates, "environment")
        name = f"{section}.{key}"
        values[name] = _convert(name, SCHEMA[section][key], raw, f"${variable}")
        sources[name] = "env"

    for name, raw in (flags or {}).items():
        section, _, key = name.partition(".")
        flag = (flag_names or {}).get(name) or f"--{key.replace('_', '-')}"
        values[name] = _convert(name, SCHEMA[section][key], raw, flag)
        sources[name] = "flag"
    return Settings(values=values, sinks=sinks, sources=sources)


def _parse_sinks(kind: str, raw: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: [[alerts.{kind}]] must be an array of tables")
    entries = []
    for position, table in enumerate(raw):
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: alerts.{kind}[{position}] must be a table")
        entry = {}
        for key, setting in _SINKS[kind].items():
            entry[key] = setting.default
        for key, value in table.items():
            if key not in _SINKS[kind]:
                raise _unknown(f"key in [[alerts.{kind}]]", key, list(_SINKS[kind]), where)
            entry[key] = _convert(f"alerts.{kind}.{key}", _SINKS[kind][key], value, where)
        missing = [k for k, s in _SINKS[kind].items() if s.default is None and entry[k] is None]
        if missing:
            raise ConfigError(f"{where}: alerts.{kind}[{position}] needs {', '.join(missing)}")
        entries.append(entry)
    return entries
