"""TLS material and the admin token of the lab Kubernetes API, kept in a state directory (config.KUBE_STATE_DIR).

    ca.crt / ca.key          the lab cluster CA (what EKS returns as certificateAuthority.data), made once
    server.crt / server.key  the API server certificate: SAN IP:127.0.0.1 and DNS:localhost, issued by the CA
    admin-token              a random bearer token for the lab's own components (node agent, health probe, tests):
                             LAB ONLY, EKS has no such static admin credential

`ensure()` creates what is missing (under a file lock: the AWS process, the API server and tests may race) and keeps
what exists; the server certificate is re-issued when it expires within 30 days or is not signed by the current CA.
"""

import base64
import contextlib
import datetime
import fcntl
import ipaddress
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edgelab import config

CA_DAYS, SERVER_DAYS, RENEW_BEFORE = 3650, 825, datetime.timedelta(days=30)
SERVER_IPS, SERVER_DNS = ("127.0.0.1",), ("localhost",)


@dataclass(frozen=True)
class KubeFiles:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def admin_token_file(self) -> Path:
        return self.dir / "admin-token"

    @property
    def admin_token(self) -> str:
        return self.admin_token_file.read_text().strip()

    def ca_data(self) -> str:
        """base64 of the CA PEM, as EKS returns it in certificateAuthority.data."""
        return base64.b64encode(self.ca_cert.read_bytes()).decode()

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Verifies the API server against the lab CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def ensure(state_dir: Path | str | None = None) -> KubeFiles:
    """The state directory's CA, server certificate and admin token, created if missing."""
    files = KubeFiles(Path(state_dir or config.KUBE_STATE_DIR))
    if _complete(files):
        return files
    files.dir.mkdir(parents=True, exist_ok=True)
    with _locked(files.dir / ".lock"):
        if not (files.ca_cert.exists() and files.ca_key.exists()):
            key = ec.generate_private_key(ec.SECP256R1())
            _write(files.ca_key, _key_pem(key), 0o600)
            _write(files.ca_cert, _ca_cert(key).public_bytes(serialization.Encoding.PEM), 0o644)
            files.server_cert.unlink(missing_ok=True)  # issued by the previous CA
        if not _server_cert_ok(files):
            ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
            ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
            key = ec.generate_private_key(ec.SECP256R1())
            _write(files.server_key, _key_pem(key), 0o600)
            _write(files.server_cert, _server_cert(key, ca, ca_key).public_bytes(serialization.Encoding.PEM), 0o644)
        if not files.admin_token_file.exists() or not files.admin_token:
            _write(files.admin_token_file, f"edgelab-admin-{secrets.token_urlsafe(32)}\n".encode(), 0o600)
    return files


def _complete(files: KubeFiles) -> bool:
    paths = (files.ca_cert, files.ca_key, files.server_cert, files.server_key, files.admin_token_file)
    return all(p.exists() for p in paths) and _server_cert_ok(files)


def _server_cert_ok(files: KubeFiles) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        files.server_key.stat()
    except (FileNotFoundError, ValueError):
        return False
    fresh = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > RENEW_BEFORE
    return fresh and cert.issuer == ca.subject and _issued_by(cert, ca)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except Exception:  # InvalidSignature, wrong key type...
        return False


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomically (readers never see a half-written file), with its mode from the start."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)  # tolerate small clock skew


def _ca_cert(key) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgelab-kubernetes-ca")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(_now())
            .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))


def _server_cert(key, ca: x509.Certificate, ca_key) -> x509.Certificate:
    san = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS] + [x509.DNSName(d) for d in SERVER_DNS]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now()).not_valid_after(_now() + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
