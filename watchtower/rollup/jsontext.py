"""JSON from untrusted files (bundles, proofs, genesis allocations) without a crash.

``json.loads`` recurses in C once per nesting level, and importing py-evm raises the interpreter's
recursion limit to 100,000, so a file of ~100,000 ``[`` overflows the C stack: the process dies
with SIGSEGV instead of reporting unusable input. Nothing watchtower reads nests deeper than a
handful of levels, so nesting is measured first (linearly, without recursion) and refused above
:data:`MAX_DEPTH` as a ``json.JSONDecodeError``, which every caller already reports in one line.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Bundles and proofs nest at most 5 levels (bundle > batches > batch > steps > step).
MAX_DEPTH = 64

# A JSON string (escapes included) and the four bracket characters; strings are skipped so that
# brackets inside them do not count.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def loads(text: str) -> Any:
    """``json.loads``, refusing documents nested deeper than :data:`MAX_DEPTH`."""
    depth = 0
    for match in _TOKENS.finditer(text):
        item = match.group()
        if item in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise json.JSONDecodeError(
                    f"nested deeper than {MAX_DEPTH} levels", text, match.start()
                )
        elif item in "]}":
            depth -= 1
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKeyError:
        _LocatingDecoder().decode(text)  # raises the JSONDecodeError with the line
        raise  # pragma: no cover (the decoder always finds it)


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a repeated key would silently overwrite the first
    (an account or a field given twice), so it is an error."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKeyError
    return result


class _LocatingDecoder(json.JSONDecoder):
    """The pure-Python decoder, to say where the repeated key is (only run once one is found:
    the C decoder is much faster but says nothing of where an object starts)."""

    def __init__(self) -> None:
        super().__init__()

        def parse_object(
            s_and_end: tuple[str, int], strict: bool, scan_once: Any, *_: Any, **__: Any
        ) -> tuple[dict[str, Any], int]:
            text, start = s_and_end
            pairs, end = json.decoder.JSONObject(  # type: ignore[attr-defined]
                s_and_end, strict, scan_once, None, lambda p: p, {}
            )
            seen: set[str] = set()
            for key, _value in pairs:
                if key in seen:
                    at = text.rfind(json.dumps(key), start, end)
                    raise json.JSONDecodeError(
                        f"duplicate key {key!r:.80}", text, at if at >= 0 else start - 1
                    )
                seen.add(key)
            return dict(pairs), end

        self.parse_object = parse_object
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]
