"""Microsoft Entra ID sign-in on loopback: a real Valkey plays the Azure cache, this module plays Entra.

Azure Cache for Redis takes an Entra ID access token as the password of a Redis user named
after the identity's object id. Here:

- the Valkey server gets an ACL user named like an object id (a GUID), whose password is the
  token issued last; the ``default`` user is switched off, so nothing gets in without signing in;
- ``EntraSignIn`` is the token source. ``issue()`` mints a new JWT-shaped token (the claims
  redis-entraid reads: ``oid``, ``exp``) and adds it as a password; ``revoke_old_tokens()`` leaves
  only the newest one valid (``ACL SETUSER … resetpass``) and kills every live connection of the
  user (``CLIENT KILL USER``); ``rotate()`` does both, as a revocation on the Azure side would;
- in-process, the source is itself an azure.identity-style credential (``get_token(scope)``);
- for the app, ``az_environment()`` puts a fake ``az`` first on ``PATH`` (``fake_az.py``) and
  selects azure.identity's Azure CLI credential alone (``AZURE_TOKEN_CREDENTIALS=AzureCliCredential``,
  read by ``DefaultAzureCredential`` in azure-identity 1.27), so ``DefaultAzureCredential`` never
  probes for a managed identity (169.254.169.254) or anything else off this machine, and adds the
  loopback guard (``loopback_only/sitecustomize.py``) to every Python process it starts.

Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import redis
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from tests.support import fake_az
from tests.support.valkey import ValkeyProcess

OBJECT_ID = "5f1c7a0e-2b7d-4c43-9a51-3d0f6b8e21c4"  # the shape of an Entra object id
TENANT_ID = "0b9c6f3e-71d2-4a8e-9e55-2c4d8a1f7b60"
SCOPE = "https://redis.azure.com/.default"
ADMIN_USER = "lab11-test-admin"
FULL_ACCESS: tuple[str, ...] = ("~*", "&*", "+@all")
ONLY_AZURE_CLI = {"AZURE_TOKEN_CREDENTIALS": "AzureCliCredential"}
LOOPBACK_GUARD = Path(__file__).resolve().parent / "loopback_only"
NETWORK_LOG_VARIABLE = "LAB11_NETWORK_LOG"
RENEWAL_WAIT_SECONDS = 15.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(object_id: str = OBJECT_ID, lifetime_seconds: int = 3600) -> str:
    """A JWT-shaped access token as Entra issues for Redis (the signature is random: Valkey checks nothing)."""
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "lab11-loopback"}
    claims = {
        "aud": "https://redis.azure.com",
        "iss": f"https://sts.windows.net/{TENANT_ID}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "oid": object_id,
        "sub": object_id,
        "tid": TENANT_ID,
        "uti": secrets.token_urlsafe(16),  # every token differs, even within one second
    }
    parts = (json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64))
    return ".".join(_b64(part) for part in parts)


class EntraSignIn:
    """The token source and the Valkey user it signs in (see the module docstring)."""

    def __init__(
        self,
        server: ValkeyProcess,
        state_dir: Path,
        *,
        object_id: str = OBJECT_ID,
        lifetime_seconds: int = 3600,
        rules: Sequence[str] = FULL_ACCESS,
        new_token_per_request: bool = False,
        revoke_on_issue: bool = False,
    ) -> None:
        """``new_token_per_request``: every ``get_token`` issues a new token (as a renewal would get);
        ``revoke_on_issue``: issuing also leaves only the new token valid (live connections stay)."""
        self.server = server
        self.state_dir = state_dir
        self.object_id = object_id
        self.lifetime_seconds = lifetime_seconds
        self.rules = tuple(rules)
        self.new_token_per_request = new_token_per_request
        self.revoke_on_issue = revoke_on_issue
        self.issued: list[str] = []
        self.scopes_requested: list[tuple[str, ...]] = []
        self.signed_out = False
        self.admin_password = secrets.token_urlsafe(24)
        state_dir.mkdir(parents=True, exist_ok=True)
        with server.client() as setup:  # the default user, for the last time
            setup.execute_command("ACL", "SETUSER", ADMIN_USER, "on", f">{self.admin_password}", *FULL_ACCESS)
            setup.execute_command("ACL", "SETUSER", object_id, "reset", "on", *self.rules)
            setup.execute_command("ACL", "SETUSER", "default", "off")
        self.issue()
        with self.admin() as admin:
            admin.execute_command("ACL", "LOG", "RESET")

    # -- the Valkey side ---------------------------------------------------------------

    def admin(self) -> redis.Redis:
        """A client of the test's own administrator (not the identity under test)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.server.port,
            username=ADMIN_USER,
            password=self.admin_password,
            decode_responses=True,
        )

    @property
    def current(self) -> str:
        return self.issued[-1]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value that must never be shown: each token issued, and the administrator's password."""
        return (*self.issued, self.admin_password)

    def issue(self) -> str:
        """A new token, valid from now on beside the older ones (unless ``revoke_on_issue``)."""
        token = make_token(self.object_id, self.lifetime_seconds)
        self.issued.append(token)
        with self.admin() as admin:
            if self.revoke_on_issue and len(self.issued) > 1:
                admin.execute_command("ACL", "SETUSER", self.object_id, "resetpass", f">{token}")
            else:
                admin.execute_command("ACL", "SETUSER", self.object_id, f">{token}")
        self._write_az_state()
        return token

    def revoke_old_tokens(self) -> int:
        """Only the newest token stays valid, and every live connection of the identity is cut.

        Returns how many connections were killed."""
        with self.admin() as admin:
            admin.execute_command("ACL", "SETUSER", self.object_id, "resetpass", f">{self.current}")
            return int(admin.execute_command("CLIENT", "KILL", "USER", self.object_id))

    def rotate(self) -> int:
        """Issue a new token, then revoke the old ones and kill live connections (returns how many)."""
        self.issue()
        return self.revoke_old_tokens()

    def sign_out(self) -> None:
        """No more tokens: ``get_token`` and the fake ``az`` fail as when nobody ran ``az login``."""
        self.signed_out = True
        self._write_az_state()

    def connections(self) -> int:
        """Live connections signed in as the identity."""
        with self.admin() as admin:
            listing = admin.execute_command("CLIENT", "LIST")
        return sum(1 for line in listing.splitlines() if f" user={self.object_id} " in f" {line} ")

    def acl_log(self) -> list[dict[str, object]]:
        """What the server refused (failed sign-ins, commands or keys the user may not use)."""
        with self.admin() as admin:
            return list(admin.execute_command("ACL", "LOG"))

    def failed_sign_ins(self) -> list[dict[str, object]]:
        """The ACL LOG's refused sign-ins (a stale token would show up here)."""
        return [entry for entry in self.acl_log() if entry["reason"] == "auth"]

    def auth_calls(self) -> int:
        """How many AUTH commands the server has run so far (successful or not)."""
        with self.admin() as admin:
            stats = admin.info("commandstats")
        return int(stats.get("cmdstat_auth", {}).get("calls", 0))

    # -- an azure.identity-style credential, for in-process tests ---------------------------

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes_requested.append(scopes)
        if self.signed_out:
            raise ClientAuthenticationError(message="Please run 'az login' to set up an account")
        token = self.issue() if self.new_token_per_request else self.current
        return AccessToken(token, int(time.time()) + self.lifetime_seconds)

    def __repr__(self) -> str:  # the tokens stay out of test reports
        return f"EntraSignIn(object_id={self.object_id!r}, tokens_issued={len(self.issued)})"

    # -- the fake Azure CLI, for the app ---------------------------------------------------

    def az_environment(self) -> dict[str, str]:
        """Environment for a process that must sign in through the fake ``az`` and stay on this machine."""
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "az"
        wrapper.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{fake_az.__file__}' \"$@\"\n")
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            **ONLY_AZURE_CLI,
            fake_az.STATE_VARIABLE: str(self.state_dir),
            "PYTHONPATH": str(LOOPBACK_GUARD),
            NETWORK_LOG_VARIABLE: str(self.network_log),
        }

    @property
    def network_log(self) -> Path:
        """Where guarded processes write each attempt to leave this machine (absent: none)."""
        return self.state_dir / "network.log"

    def guarded_processes(self) -> list[int]:
        """Pids of the processes that loaded the loopback guard."""
        loaded = Path(f"{self.network_log}.loaded")
        return [int(line) for line in loaded.read_text().split()] if loaded.exists() else []

    def az_calls(self) -> list[list[str]]:
        calls = self.state_dir / fake_az.CALLS_FILE
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    def _write_az_state(self) -> None:
        if self.signed_out:
            state: dict[str, object] = {"signed_out": True}
        else:
            expires_on = int(time.time()) + self.lifetime_seconds
            state = {
                "accessToken": self.current,
                "expiresOn": datetime.fromtimestamp(expires_on).strftime("%Y-%m-%d %H:%M:%S.%f"),
                "expires_on": expires_on,
                "subscription": "00000000-0000-0000-0000-000000000000",
                "tenant": TENANT_ID,
                "tokenType": "Bearer",
            }
        partial = self.state_dir / f"{fake_az.TOKEN_FILE}.partial"
        partial.write_text(json.dumps(state), encoding="utf-8")
        partial.replace(self.state_dir / fake_az.TOKEN_FILE)


async def wait_until(condition: Callable[[], bool], timeout: float = RENEWAL_WAIT_SECONDS) -> bool:
    """Poll while the event loop runs (redis-entraid's renewal timer lives on it); bounded."""
    for _ in range(int(timeout / 0.1)):
        if condition():
            return True
        await asyncio.sleep(0.1)
    return bool(condition())
