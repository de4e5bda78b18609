"""A stand-in for the Azure CLI's ``az account get-access-token``, for azure.identity's AzureCliCredential.

Run through the ``az`` wrapper that ``tests/support/entra.py`` puts first on ``PATH``. It prints
the token the test's token source issued last, as the CLI prints it (JSON with ``accessToken``,
``expiresOn`` as local time and ``expires_on`` as epoch seconds: azure-identity 1.27 reads the
latter when present), logs every call, and when the source is "signed out" fails the way the CLI
does when nobody ran ``az login``. Standard library only; it never touches the network.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

STATE_VARIABLE = "LAB11_FAKE_AZ_DIR"
TOKEN_FILE = "token.json"  # {"accessToken": ..., "expires_on": ...}, or {"signed_out": true}
CALLS_FILE = "calls.log"  # one JSON list of arguments per line


def main(argv: list[str]) -> int:
    state = Path(os.environ[STATE_VARIABLE])
    with open(state / CALLS_FILE, "a", encoding="utf-8") as calls:
        calls.write(json.dumps(argv) + "\n")
    if argv[:2] != ["account", "get-access-token"]:
        print(f"fake az: only 'az account get-access-token' is here, not {' '.join(argv[:2])!r}", file=sys.stderr)
        return 2
    current = json.loads((state / TOKEN_FILE).read_text(encoding="utf-8"))
    if current.get("signed_out"):
        print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
        return 1
    print(json.dumps(current, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
