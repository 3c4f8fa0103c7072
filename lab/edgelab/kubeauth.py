"""Authentication of the lab Kubernetes API as EKS does it (aws-iam-authenticator), plus the lab-only admin token.

An EKS bearer token is `k8s-aws-v1.` + base64url (no padding) of a presigned STS GetCallerIdentity URL (SigV4
query auth) whose signed headers include `host` and `x-k8s-aws-id: <cluster name>` - what `aws eks get-token`, the
AWS SDKs' EKS token helpers and aws-iam-authenticator make. EKS hands the URL to STS; the lab checks it itself:
- the prefix, the base64url, the URL (https to sts[.region].amazonaws.com, or the lab AWS endpoint, path /),
  only the query parameters EKS allows, each once; Action=GetCallerIdentity, Version=2011-06-15;
- X-Amz-Algorithm AWS4-HMAC-SHA256; X-Amz-Credential <key id>/<date>/<region>/sts/aws4_request;
  X-Amz-SignedHeaders has x-k8s-aws-id (and nothing but host and x-k8s-aws-id: a verifier knows no other value);
- X-Amz-Date at most 15 minutes old and at most 5 minutes in the future (EKS: tokens live 15 minutes, whatever
  X-Amz-Expires says);
- the key: one the lab AWS endpoint knows (`LabKeys`, its control route POST /_lab/credentials, answers cached a
  few seconds): the lab's key `testing` (secret `testing`), an IAM user's access key that is Active (not
  Inactive, not deleted; no session token with it), or the AccessKeyId of an STS AssumeRole session with that
  session's token in X-Amz-Security-Token, not expired. Any other key id -> refused, as STS refuses it;
- the SigV4 signature, recomputed with botocore's own pieces (canonical request, string to sign, signature) from
  that key's own secret and `x-k8s-aws-id: <name>` for each EKS cluster the lab AWS endpoint lists (the
  credential's region first, then the other lab regions, as a token is not tied to a region in EKS); the one that
  matches is the cluster the token is for, and it must exist (DescribeCluster). None matches -> refused (tampered,
  signed with another secret, or for a cluster that does not exist).
Authorization (the IAM principal of the key, its access entry and access policies) is edgelab.kubeauthz's; the
Identity carries what it needs (key id, session token, the caller's ARN as STS names it, cluster, region).
"""

import base64
import binascii
import datetime
import hmac
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit, urlunsplit

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from edgelab import config

log = logging.getLogger(__name__)

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 (a token format, not a secret)
CLUSTER_HEADER = "x-k8s-aws-id"
MAX_AGE = datetime.timedelta(minutes=15)
MAX_FUTURE = datetime.timedelta(minutes=5)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
ALLOWED_PARAMS = {"action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
                  "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders"}
STS_HOST = re.compile(r"sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?")
CACHE_SECONDS = 10.0  # an accepted token is not re-verified for this long (kubectl sends it on every request)
KEY_CACHE_SECONDS = 2.0  # what the lab AWS endpoint said of a key is reused for this long


class Refused(Exception):
    """The credential is not accepted (the API answers 401); the message says why (for the server log only)."""


@dataclass(frozen=True)
class Identity:
    username: str
    admin: bool = False
    access_key_id: str | None = None
    cluster: str | None = None
    region: str | None = None
    session_token: str | None = None  # X-Amz-Security-Token of the presigned URL (temporary credentials)
    arn: str | None = None  # the caller as STS GetCallerIdentity names it (a user's ARN, a session's assumed-role)


ADMIN = Identity(username="edgelab:admin", admin=True)


# -- the keys of the lab AWS endpoint ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """An access key as the lab AWS endpoint knows it (POST /_lab/credentials, edgelab.aws.credentials)."""
    access_key_id: str
    secret: str = field(repr=False)
    arn: str  # the caller as STS GetCallerIdentity names it
    kind: str = ""  # lab, user or session
    principal_arn: str = ""  # the IAM user or role (a session's role, with its path)
    expiration: datetime.datetime | None = None  # a session's


class LabKeys:
    """lookup(key id, session token) -> Key, or raises Refused: the key's secret, caller and expiry as the lab AWS
    endpoint knows them (its control route POST /_lab/credentials; never faulted, never IAM-checked). Refused: a key
    id it does not know (never created, deleted), an Inactive user key, an expired session, a session token that is
    missing or not the session's (or given with a user's key). Answers, refusals included, are cached for `ttl`
    seconds: a new, deactivated or deleted key counts within seconds, as on AWS."""

    def __init__(self, aws_url: str = config.KUBE_AWS_URL, ttl: float = KEY_CACHE_SECONDS):
        self.aws_url, self.ttl = aws_url.rstrip("/"), ttl
        self._cache: dict = {}  # (key id, session token) -> (monotonic deadline, Key or refusal message)
        self._lock = threading.Lock()
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy

    def lookup(self, access_key_id: str, session_token: str | None = None) -> Key:
        cache_key = (access_key_id, session_token or None)
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit and time.monotonic() < hit[0]:
            answer = hit[1]
        else:
            answer = self._ask(access_key_id, session_token or None)
            with self._lock:
                if len(self._cache) > 1000:
                    self._cache.clear()
                self._cache[cache_key] = (time.monotonic() + self.ttl, answer)
        if isinstance(answer, str):
            raise Refused(answer)
        return answer

    def _ask(self, access_key_id: str, session_token: str | None) -> "Key | str":
        """The Key, or why it is refused (a message, cached like a Key); raises Refused if the endpoint fails."""
        url = f"{self.aws_url}/_lab/credentials"
        body = json.dumps({"access_key_id": access_key_id, "session_token": session_token}).encode()
        request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (the lab AWS endpoint: http)
                                         headers={"Content-Type": "application/json"})
        try:
            with self._http.open(request, timeout=5) as resp:
                data = json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise Refused(f"cannot look up access key {access_key_id} at {url}: HTTP {e.code}") from None
            try:
                why = json.load(e).get("error", "")
            except (ValueError, AttributeError):
                why = ""
            return f"unknown access key id {access_key_id} ({why or 'HTTP 404'} at {url})"
        except (OSError, ValueError) as e:
            raise Refused(f"cannot look up access key {access_key_id} at {url}: {e}") from None
        status = data.get("status")
        if status != "Active" or not data.get("secret_access_key"):
            why = {"Inactive": "an Inactive access key",
                   "Expired": f"a session that expired at {data.get('expiration')}",
                   "InvalidToken": "a session token that is not the key's (missing, another session's, or given "
                                   "with an IAM user's key)"}.get(status, f"status {status}")
            return f"access key {access_key_id} ({data.get('arn')}): {why}"
        expiration = data.get("expiration")
        return Key(access_key_id=access_key_id, secret=data["secret_access_key"], arn=data.get("arn", ""),
                   kind=data.get("type", ""), principal_arn=data.get("principal_arn", ""),
                   expiration=datetime.datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ").replace(
                       tzinfo=datetime.UTC) if expiration else None)


@dataclass(frozen=True)
class PresignedURL:
    """A decoded EKS token: the presigned GetCallerIdentity URL and its SigV4 pieces."""
    scheme: str
    netloc: str
    path: str
    query: str  # raw (percent-encoded) query string, as signed
    params: dict  # decoded, one value each
    access_key_id: str
    region: str
    service: str
    amz_date: str
    signed_headers: tuple
    signature: str

    @property
    def timestamp(self) -> datetime.datetime:
        return datetime.datetime.strptime(self.amz_date, AMZ_DATE).replace(tzinfo=datetime.UTC)


def decode_token(token: str, lab_hosts: Iterable[str] = ()) -> PresignedURL:
    """Parse and check everything but the time and the signature; raises Refused."""
    if not token.startswith(TOKEN_PREFIX):
        raise Refused("not an EKS token (no k8s-aws-v1. prefix)")
    body = token[len(TOKEN_PREFIX):]
    if not re.fullmatch(r"[A-Za-z0-9_-]+", body):
        raise Refused("token is not base64url without padding")
    try:
        url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Refused("token does not decode") from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not ((parts.scheme == "https" and STS_HOST.fullmatch(host)) or parts.netloc in set(lab_hosts)):
        raise Refused(f"unexpected STS endpoint {parts.scheme}://{parts.netloc}")
    if parts.path not in ("/", "") or parts.fragment:
        raise Refused(f"unexpected path {parts.path!r}")
    raw = parse_qs(parts.query, keep_blank_values=True)
    lowered = [k.lower() for k in raw]
    if set(lowered) - ALLOWED_PARAMS or len(set(lowered)) != len(lowered) or any(len(v) != 1 for v in raw.values()):
        raise Refused(f"unexpected or repeated query parameters: {sorted(raw)}")
    params = {k: v[0] for k, v in raw.items()}
    if params.get("Action") != "GetCallerIdentity" or params.get("Version") != "2011-06-15":
        raise Refused(f"not a GetCallerIdentity request: Action={params.get('Action')!r} "
                      f"Version={params.get('Version')!r}")
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise Refused(f"unsupported X-Amz-Algorithm {params.get('X-Amz-Algorithm')!r}")
    credential = params.get("X-Amz-Credential", "").split("/")
    amz_date = params.get("X-Amz-Date", "")
    if len(credential) != 5 or credential[4] != "aws4_request" or not credential[0]:
        raise Refused("malformed X-Amz-Credential")
    key_id, date, region, service, _ = credential
    if service != "sts" or not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or date != amz_date[:8]:
        raise Refused("X-Amz-Credential scope does not match (service sts, date of X-Amz-Date)")
    signed = tuple(params.get("X-Amz-SignedHeaders", "").split(";"))
    if CLUSTER_HEADER not in signed:
        raise Refused(f"{CLUSTER_HEADER} is not a signed header")
    if set(signed) - {"host", CLUSTER_HEADER}:
        raise Refused(f"signed headers a verifier cannot know: {sorted(set(signed) - {'host', CLUSTER_HEADER})}")
    if not re.fullmatch(r"[0-9a-f]{64}", params.get("X-Amz-Signature", "")):
        raise Refused("malformed X-Amz-Signature")
    return PresignedURL(parts.scheme, parts.netloc, parts.path or "/", parts.query, params, key_id, region, service,
                        amz_date, signed, params["X-Amz-Signature"])


def check_time(token: PresignedURL, now: datetime.datetime) -> None:
    try:
        age = now - token.timestamp
    except ValueError:
        raise Refused("malformed X-Amz-Date") from None
    if age > MAX_AGE:
        raise Refused(f"token expired: X-Amz-Date {token.amz_date} is {age} old (EKS accepts 15 minutes)")
    if -age > MAX_FUTURE:
        raise Refused(f"X-Amz-Date {token.amz_date} is in the future")


def expected_signature(token: PresignedURL, cluster: str, secret: str) -> str:
    """The SigV4 query signature of the token's URL for `x-k8s-aws-id: cluster`, computed by botocore's signer."""
    query = "&".join(p for p in token.query.split("&") if not p.startswith("X-Amz-Signature="))
    request = AWSRequest(method="GET", url=urlunsplit((token.scheme, token.netloc, token.path, query, "")),
                         headers={CLUSTER_HEADER: cluster})
    request.context["timestamp"] = token.amz_date
    signer = SigV4QueryAuth(Credentials(token.access_key_id, secret), token.service, token.region)
    canonical_request = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical_request), request)


def signature_matches(token: PresignedURL, cluster: str, secret: str) -> bool:
    return hmac.compare_digest(expected_signature(token, cluster, secret), token.signature)


class EksClusters:
    """Which EKS clusters the lab AWS endpoint has (ListClusters / DescribeCluster), cached for `ttl` seconds."""

    def __init__(self, aws_url: str, ttl: float = 5.0):
        self.aws_url, self.ttl = aws_url, ttl
        self._lock = threading.Lock()
        self._clients: dict = {}
        self._names: dict = {}  # region -> (monotonic time, [names])
        self._exists: dict = {}  # (region, name) -> (monotonic time, bool)

    def _client(self, region: str):
        with self._lock:
            if region not in self._clients:
                import boto3
                from botocore.config import Config

                from edgelab.awsclient import _no_faults
                c = boto3.session.Session().client(
                    "eks", region_name=region, endpoint_url=self.aws_url,
                    aws_access_key_id=config.CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=config.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5))
                c.meta.events.register("before-send.*.*", _no_faults)  # the lab's own calls: no injected faults
                self._clients[region] = c
            return self._clients[region]

    def names(self, region: str, max_age: float | None = None) -> list[str]:
        max_age = self.ttl if max_age is None else max_age
        cached = self._names.get(region)
        if cached and time.monotonic() - cached[0] <= max_age:
            return cached[1]
        try:
            pages = self._client(region).get_paginator("list_clusters").paginate()
            names = [n for page in pages for n in page.get("clusters", [])]
        except Exception as e:  # endpoint down, unknown region...
            raise Refused(f"cannot list the EKS clusters of {region} at {self.aws_url}: {e}") from None
        self._names[region] = (time.monotonic(), names)
        return names

    def age(self, region: str) -> float:
        cached = self._names.get(region)
        return time.monotonic() - cached[0] if cached else float("inf")

    def exists(self, region: str, name: str) -> bool:
        cached = self._exists.get((region, name))
        if cached and time.monotonic() - cached[0] <= self.ttl:
            return cached[1]
        client = self._client(region)
        try:
            client.describe_cluster(name=name)
            found = True
        except client.exceptions.ResourceNotFoundException:
            found = False
        except Exception as e:
            raise Refused(f"cannot describe EKS cluster {name} in {region} at {self.aws_url}: {e}") from None
        self._exists[(region, name)] = (time.monotonic(), found)
        return found


class Authenticator:
    """authenticate(Authorization header) -> Identity, or raises Refused. Thread-safe; EKS tokens may block on the
    lab AWS endpoint (run them in a thread from async code; `admin()` is the non-blocking fast path)."""

    def __init__(self, admin_token: str | None, aws_url: str = config.KUBE_AWS_URL, keys: LabKeys | None = None,
                 clusters: EksClusters | None = None, regions: Iterable[str] = config.REGIONS,
                 clock: Callable[[], datetime.datetime] | None = None):
        self.admin_token = admin_token
        self.aws_url = aws_url
        self.keys = keys or LabKeys(aws_url)  # anything with lookup(key id, session token) -> Key
        self.clusters = clusters or EksClusters(aws_url)
        self.regions = list(regions)
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        netloc = urlsplit(aws_url).netloc
        port = netloc.rpartition(":")[2] if ":" in netloc else ""
        self.lab_hosts = {netloc, *(f"{h}:{port}" if port else h for h in ("127.0.0.1", "localhost"))}
        self._cache: dict = {}  # token -> (monotonic deadline, Identity)
        self._lock = threading.Lock()

    @staticmethod
    def bearer(authorization: str | None) -> str:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused("no bearer token")
        return token.strip()

    def admin(self, authorization: str | None) -> bool:
        try:
            token = self.bearer(authorization)
        except Refused:
            return False
        return bool(self.admin_token) and hmac.compare_digest(token.encode(), self.admin_token.encode())

    def authenticate(self, authorization: str | None) -> Identity:
        token = self.bearer(authorization)
        if self.admin(authorization):
            return ADMIN
        with self._lock:
            cached = self._cache.get(token)
        if cached and time.monotonic() < cached[0]:
            return cached[1]
        identity, presigned, key = self._eks(token)
        now = self.clock()
        remaining = (MAX_AGE - (now - presigned.timestamp)).total_seconds()
        if key.expiration is not None:  # a session's token is good until the session ends
            remaining = min(remaining, (key.expiration - now).total_seconds())
        with self._lock:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[token] = (time.monotonic() + min(CACHE_SECONDS, remaining), identity)
        return identity

    def _eks(self, token: str) -> tuple[Identity, PresignedURL, Key]:
        presigned = decode_token(token, self.lab_hosts)
        now = self.clock()
        check_time(presigned, now)
        session_token = presigned.params.get("X-Amz-Security-Token")
        key = self.keys.lookup(presigned.access_key_id, session_token)
        if key.expiration is not None and key.expiration <= now:
            raise Refused(f"access key {key.access_key_id} ({key.arn}): a session that expired at {key.expiration}")
        secret = key.secret
        regions = [presigned.region, *(r for r in self.regions if r != presigned.region)]
        for refresh in (False, True):  # the cached cluster list may predate a new cluster: look again once
            for region in regions:
                if refresh and self.clusters.age(region) < 1.0:
                    continue
                for name in self.clusters.names(region, max_age=0.0 if refresh else None):
                    if signature_matches(presigned, name, secret) and self.clusters.exists(region, name):
                        return Identity(username=f"eks:{presigned.access_key_id}",
                                        access_key_id=presigned.access_key_id, cluster=name, region=region,
                                        session_token=session_token, arn=key.arn), presigned, key
        raise Refused(f"signature matches no EKS cluster of the lab (key id {presigned.access_key_id}, "
                      f"regions {', '.join(regions)}): tampered, signed with another secret than the key's, or a "
                      f"cluster that does not exist")
