"""Keep secrets out of what the run stores: API key values are replaced in texts.

Replies, failure reasons and a command-line agent's output end up in state.db and in
`.autoresearch/logs/`; `redact` removes the value of every secret-looking environment
variable (`*_API_KEY`, `*_AUTH_TOKEN`, ...) from them first.
"""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(r".*(_API_KEY|_AUTH_TOKEN|_ACCESS_KEY|_SECRET_KEY|_SECRET|_TOKEN)$")
MIN_SECRET_LEN = 8  # shorter values ("0", "none") would redact ordinary words
MASK = "[redacted]"


def secret_values(extra: tuple[str, ...] = ()) -> list[str]:
    """Values of secret-looking environment variables, longest first."""
    values = {v for k, v in os.environ.items() if SECRET_NAME.match(k)} | set(extra)
    return sorted((v for v in values if len(v) >= MIN_SECRET_LEN), key=len, reverse=True)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every secret value replaced by [redacted]."""
    for value in secret_values(extra):
        if value in text:
            text = text.replace(value, MASK)
    return text
