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
    return json.loads(text)
