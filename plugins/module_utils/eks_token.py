# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""Amazon EKS bearer tokens, made the way `aws eks get-token` makes them, and a Kubernetes exec credential plugin.

As module_utils: get_token(sts_client, cluster_name) -> (token, expires), expires in seconds since the epoch.

As a script (a client-go / kubernetes python client exec credential plugin):

    python eks_token.py --cluster-name NAME --region REGION [--endpoint-url URL] [--profile NAME] [--cache FILE]

prints an ExecCredential (client.authentication.k8s.io/v1beta1) with the token and its expirationTimestamp.
Credentials come from the environment (the standard botocore chain: AWS_ACCESS_KEY_ID/..., AWS_PROFILE, ...), or
with --profile from that profile of the shared config/credentials files (as a profile given to botocore itself:
access keys in the environment do not override it).
With --cache FILE a token with more than CACHE_MIN_REMAINING seconds left is reused without importing botocore;
otherwise a new one is minted and written to FILE atomically, mode 0600.

Only the standard library is imported at the top (botocore inside mint()), so the file runs as a plain script with
any Python that has botocore; it needs nothing from ansible.
"""

import json
import os
import sys
import time

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 (a format prefix, not a secret)
URL_TTL = 60  # seconds the presigned URL claims; EKS accepts the token for 15 minutes after signing regardless
TOKEN_LIFETIME = 14 * 60  # reported lifetime: a minute short of what EKS accepts
CACHE_MIN_REMAINING = 60  # a cached token with less left than this is replaced
API_VERSION = "client.authentication.k8s.io/v1beta1"
API_VERSIONS = (API_VERSION, "client.authentication.k8s.io/v1")
USAGE = "usage: eks_token.py --cluster-name NAME --region REGION [--endpoint-url URL] [--profile NAME] [--cache FILE]"


def get_token(sts, cluster_name):
    """(token, expires) from a presigned STS GetCallerIdentity URL signed with the header x-k8s-aws-id.

    sts is a botocore/boto3 STS client; nothing is sent. expires is the signing time + TOKEN_LIFETIME, in seconds
    since the epoch."""
    import base64

    def add_header(request, **kwargs):
        request.headers["x-k8s-aws-id"] = cluster_name

    event = "before-sign.sts.GetCallerIdentity"
    sts.meta.events.register_first(event, add_header)
    try:
        url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=URL_TTL, HttpMethod="GET")
    finally:
        sts.meta.events.unregister(event, add_header)
    token = TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return token, signing_time(url) + TOKEN_LIFETIME


def signing_time(url):
    """X-Amz-Date of a presigned URL in seconds since the epoch (now if the URL has none)."""
    import calendar
    import urllib.parse

    stamp = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("X-Amz-Date", [""])[0]
    try:
        return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return int(time.time())


def rfc3339(epoch):
    """2006-01-02T15:04:05Z form (UTC) of seconds since the epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def mint(cluster_name, region, endpoint_url=None, profile=None):
    """(token, expires) with credentials from the environment (botocore's default chain), or from profile."""
    import botocore.session

    session = botocore.session.Session(profile=profile or None)
    sts = session.create_client("sts", region_name=region, endpoint_url=endpoint_url)
    return get_token(sts, cluster_name)


def exec_credential(token, expires, api_version=API_VERSION):
    return {"apiVersion": api_version, "kind": "ExecCredential", "spec": {},
            "status": {"token": token, "expirationTimestamp": rfc3339(expires)}}


def cache_key(cluster_name, region, endpoint_url, profile=None):
    """What a cached token is only valid for (the identity as far as the arguments and the environment name it)."""
    return {"cluster": cluster_name, "region": region, "endpoint_url": endpoint_url,
            "profile": profile or os.environ.get("AWS_PROFILE"), "access_key_id": os.environ.get("AWS_ACCESS_KEY_ID")}


def read_cache(path, key, now=None):
    """(token, expires) from the cache file when it is for key and has more than CACHE_MIN_REMAINING s left."""
    try:
        with open(path) as f:
            data = json.load(f)
        token, expires = data["token"], float(data["expires"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("key") != key or not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        return None
    if expires - (time.time() if now is None else now) <= CACHE_MIN_REMAINING:
        return None
    return token, expires


def write_cache(path, key, token, expires):
    """Replace the cache file atomically (a temporary file in the same directory, mode 0600, renamed)."""
    import tempfile

    path = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".eks-token.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"key": key, "token": token, "expires": expires}, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class UsageError(Exception):
    pass


def parse_args(argv):
    """{'cluster_name', 'region', 'endpoint_url', 'profile', 'cache'} from --name value / --name=value (argparse
    costs more start-up time than the whole cached path)."""
    opts = {"cluster-name": None, "region": None, "endpoint-url": None, "profile": None, "cache": None}
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg[2:].partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in opts:
            raise UsageError(f"unknown argument {arg}")
        if not eq:
            if not args:
                raise UsageError(f"{arg} needs a value")
            value = args.pop(0)
        opts[name] = value
    for name in ("cluster-name", "region"):
        if not opts[name]:
            raise UsageError(f"--{name} is required")
    return {k.replace("-", "_"): v for k, v in opts.items()}


def requested_api_version():
    """The apiVersion the client asked for (KUBERNETES_EXEC_INFO), if it is one this plugin speaks."""
    try:
        version = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}").get("apiVersion")
    except (ValueError, AttributeError):
        version = None
    return version if version in API_VERSIONS else API_VERSION


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(__doc__.strip() + "\n\n" + USAGE + "\n")
        return 0
    try:
        opts = parse_args(argv)
    except UsageError as e:
        sys.stderr.write(f"eks_token: {e}\n{USAGE}\n")
        return 2
    name, region, endpoint_url, cache = opts["cluster_name"], opts["region"], opts["endpoint_url"], opts["cache"]
    profile = opts["profile"]
    key = cache_key(name, region, endpoint_url, profile)
    cached = read_cache(cache, key) if cache else None
    if cached:
        token, expires = cached
    else:
        try:
            token, expires = mint(name, region, endpoint_url, profile)
        except ImportError as e:
            sys.stderr.write(f"eks_token: botocore is needed to make a token ({sys.executable}): {e}\n")
            return 1
        except Exception as e:  # botocore's NoCredentialsError, ProfileNotFound, ...
            sys.stderr.write(f"eks_token: cannot make a token for EKS cluster {name}: {e}\n")
            return 1
        if cache:
            try:
                write_cache(cache, key, token, expires)
            except OSError as e:  # the token is still good; the next call mints again
                sys.stderr.write(f"eks_token: cannot write the token cache {cache}: {e}\n")
    sys.stdout.write(json.dumps(exec_credential(token, expires, requested_api_version())) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
