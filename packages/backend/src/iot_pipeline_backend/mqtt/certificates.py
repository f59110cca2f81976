"""The local certificate authority: device certificates and their revocation list.

Layout under ``<data-dir>/mqtt/``::

    ca.crt  ca.key              the CA (created on first use; devices trust ca.crt)
    server.crt  server.key      the TLS server's certificate (localhost, 127.0.0.1, ::1)
    devices/<name>.crt|.key     one certificate per device; subject CN = thing name
    revoked.crl                 a CRL signed by the CA, read again at every connect

Keys are ECDSA P-256 (what IoT Core's ``create-keys-and-certificate`` issues too, and fast
to handshake). Private keys are written mode 0600, whole, then renamed into place, so a
crash never leaves a half-written key. Changes (issue, revoke) hold a lock file, so two
``devices`` commands running at once cannot lose each other's revocation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from iot_pipeline_common import limits

from iot_pipeline_backend.errors import BackendError

MQTT_DIR: Final = "mqtt"
CA_VALIDITY: Final = dt.timedelta(days=3650)
LEAF_VALIDITY: Final = dt.timedelta(days=825)
_ORGANIZATION: Final = "iot-pipeline local"


class DeviceIdentityError(BackendError):
    """A device name is invalid, unknown, or already holds a certificate."""


@dataclass(frozen=True, kw_only=True)
class DeviceCredentials:
    """Where a device's certificate, its private key and the CA to trust are."""

    certificate: Path
    private_key: Path
    ca: Path

    def as_json(self) -> dict[str, str]:
        """``{"certificate", "private_key", "ca"}`` as absolute paths."""
        return {
            "certificate": str(self.certificate),
            "private_key": str(self.private_key),
            "ca": str(self.ca),
        }


@dataclass(frozen=True, kw_only=True)
class DeviceRecord:
    """One issued device certificate, as ``devices list`` shows it."""

    name: str
    serial: int
    not_after: dt.datetime
    revoked: bool


def validate_thing_name(name: str) -> str:
    """The name, if it is a valid ``device_id``; else a :class:`DeviceIdentityError`."""
    if not limits.ID_MIN_LENGTH <= len(name) <= limits.ID_MAX_LENGTH or not limits.ID_REGEX.match(
        name
    ):
        raise DeviceIdentityError(
            f"device name {name!r} is not a valid device_id: 1-{limits.ID_MAX_LENGTH} "
            "characters of letters, digits and . _ : -"
        )
    return name


def thing_name_of(certificate: x509.Certificate) -> str | None:
    """The subject CN of a device certificate (its thing name), or None if it has none."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else None
    return value if isinstance(value, str) else None


class DeviceAuthority:
    """The CA of one data directory; :meth:`open` creates it on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_certificate_path = directory / "ca.crt"
        self._ca_key_path = directory / "ca.key"
        self.server_certificate_path = directory / "server.crt"
        self.server_key_path = directory / "server.key"
        self.crl_path = directory / "revoked.crl"
        self._devices = directory / "devices"

    @classmethod
    def open(cls, data_dir: Path) -> DeviceAuthority:
        """The authority of ``data_dir`` (its CA, server certificate and CRL made if missing)."""
        authority = cls(data_dir / MQTT_DIR)
        authority.directory.mkdir(parents=True, exist_ok=True)
        with authority._locked():
            if not authority.ca_certificate_path.exists():
                authority._create_ca()
            if not authority.server_certificate_path.exists():
                authority._issue_server_certificate()
            if not authority.crl_path.exists():
                authority._write_crl(set())
        return authority

    # -- devices -------------------------------------------------------------------------

    def credentials(self, name: str) -> DeviceCredentials:
        """The paths of ``name``'s files (whether or not they exist)."""
        return DeviceCredentials(
            certificate=self._devices / f"{name}.crt",
            private_key=self._devices / f"{name}.key",
            ca=self.ca_certificate_path,
        )

    def add_device(self, name: str) -> DeviceCredentials:
        """Issue ``name`` a certificate and key; refused while it holds an unrevoked one."""
        validate_thing_name(name)
        with self._locked():
            current = self._record(name)
            if current is not None and not current.revoked:
                raise DeviceIdentityError(
                    f"device {name!r} already has a certificate "
                    f"({self.credentials(name).certificate}); revoke it first to issue another"
                )
            return self._issue_device(name)

    def ensure_device(self, name: str) -> DeviceCredentials:
        """``name``'s valid credentials: the ones it holds, or new ones (a fleet's setup)."""
        validate_thing_name(name)
        with self._locked():
            current = self._record(name)
            if current is not None and not current.revoked:
                return self.credentials(name)
            return self._issue_device(name)

    def revoke(self, name: str) -> DeviceRecord:
        """Add ``name``'s certificate to the CRL; its next connect is refused."""
        validate_thing_name(name)
        with self._locked():
            current = self._record(name)
            if current is None:
                raise DeviceIdentityError(f"no device named {name!r} has a certificate")
            self._write_crl(self.revoked_serials() | {current.serial})
            return DeviceRecord(
                name=name, serial=current.serial, not_after=current.not_after, revoked=True
            )

    def list_devices(self) -> list[DeviceRecord]:
        """Every device holding a certificate, by name."""
        if not self._devices.is_dir():
            return []
        revoked = self.revoked_serials()
        records = []
        for path in sorted(self._devices.glob("*.crt")):
            certificate = _load_certificate(path)
            records.append(
                DeviceRecord(
                    name=path.stem,
                    serial=certificate.serial_number,
                    not_after=certificate.not_valid_after_utc,
                    revoked=certificate.serial_number in revoked,
                )
            )
        return records

    def revoked_serials(self) -> set[int]:
        """Serial numbers in the CRL (empty when there is none yet)."""
        if not self.crl_path.exists():
            return set()
        crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
        return {entry.serial_number for entry in crl}

    # -- internals -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _record(self, name: str) -> DeviceRecord | None:
        path = self.credentials(name).certificate
        if not path.exists():
            return None
        certificate = _load_certificate(path)
        return DeviceRecord(
            name=name,
            serial=certificate.serial_number,
            not_after=certificate.not_valid_after_utc,
            revoked=certificate.serial_number in self.revoked_serials(),
        )

    def _create_ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, "iot-pipeline local device CA"),
            ]
        )
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        # Key first: a CA certificate without its key would make every later issue fail.
        _write_private(self._ca_key_path, _pem_key(key))
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        _write_public(self.ca_certificate_path, pem)

    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = serialization.load_pem_private_key(self._ca_key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DeviceIdentityError(f"{self._ca_key_path} is not an EC private key")
        return _load_certificate(self.ca_certificate_path), key

    def _sign_leaf(
        self, common_name: str, *, server: bool, alt_names: list[x509.GeneralName]
    ) -> tuple[bytes, bytes]:
        ca_certificate, ca_key = self._load_ca()
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        certificate = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    ]
                )
            )
            .issuer_name(ca_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + LEAF_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    def _issue_device(self, name: str) -> DeviceCredentials:
        # The thing name is the CN and, for clients that read SANs only, a URN in the SAN.
        certificate, key = self._sign_leaf(
            name,
            server=False,
            alt_names=[x509.UniformResourceIdentifier(f"urn:iot-pipeline:thing:{name}")],
        )
        credentials = self.credentials(name)
        self._devices.mkdir(exist_ok=True)
        _write_private(credentials.private_key, key)
        _write_public(credentials.certificate, certificate)
        return credentials

    def _issue_server_certificate(self) -> None:
        certificate, key = self._sign_leaf(
            "localhost",
            server=True,
            alt_names=[
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ],
        )
        _write_private(self.server_key_path, key)
        _write_public(self.server_certificate_path, certificate)

    def _write_crl(self, serials: set[int]) -> None:
        ca_certificate, ca_key = self._load_ca()
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_certificate.subject)
            .last_update(now)
            .next_update(now + LEAF_VALIDITY)
        )
        for serial in sorted(serials):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        _write_public(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _write_private(path: Path, data: bytes) -> None:
    _write_whole(path, data, mode=0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write_whole(path, data, mode=0o644)


def _write_whole(path: Path, data: bytes, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


__all__ = [
    "DeviceAuthority",
    "DeviceCredentials",
    "DeviceIdentityError",
    "DeviceRecord",
    "thing_name_of",
    "validate_thing_name",
]
