"""What AWS requests carry: the credentials they were signed with, seen on the wire.

- Sent / record_requests(monkeypatch): every HTTP request botocore sends in this process (any client, the ones
  libraries build for themselves too), recorded at its transport (botocore.httpsession.URLLib3Session.send).
- RecordingProxy: a loopback HTTP proxy in front of the AWS endpoint for requests of other processes
  (ansible-playbook): forwards each request and records it.
- FakeIMDS: an EC2 instance metadata service (IMDSv2) on loopback that serves instance-role credentials and logs
  what it was asked (point AWS_EC2_METADATA_SERVICE_ENDPOINT at it).
- aws_credentials_env(monkeypatch, tmp_path, ...): an environment with no AWS credentials but the ones given, and
  shared config/credentials files of the test's own.
"""

import datetime
import http.client
import http.server
import json
import re
import threading
import urllib.parse

CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/")


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


class Sent:
    """One request: method, url, headers (str values), body (bytes or str; None when streamed) and the key id /
    session token it was signed with."""

    def __init__(self, method, url, headers, body=None):
        self.method, self.url, self.body = method, url, body
        self.headers = {k.lower(): _text(v) for k, v in headers.items()}

    @property
    def netloc(self):
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def key_id(self):
        match = CREDENTIAL_RE.search(self.headers.get("authorization", ""))
        if match:
            return match.group(1)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query)  # presigned
        return query.get("X-Amz-Credential", [""])[0].split("/")[0] or None

    @property
    def token(self):
        return self.headers.get("x-amz-security-token")

    @property
    def signed_with(self):
        return self.key_id, self.token

    def __repr__(self):
        return f"<{self.method} {self.url} key={self.key_id} token={self.token}>"


def record_requests(monkeypatch):
    """List that receives a Sent for every request botocore sends (until the test ends)."""
    from botocore.httpsession import URLLib3Session

    sent = []
    original = URLLib3Session.send

    def send(self, request):
        body = request.body if isinstance(request.body, (bytes, str)) else None
        sent.append(Sent(request.method, request.url, dict(request.headers.items()), body))
        return original(self, request)

    monkeypatch.setattr(URLLib3Session, "send", send)
    return sent


class _Server:
    def __init__(self, handler):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.owner = self
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        owner = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        owner.requests.append(Sent(self.command, owner.url + self.path, dict(self.headers.items()), body))
        target = urllib.parse.urlsplit(owner.target)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        headers["Host"] = target.netloc
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward


class RecordingProxy(_Server):
    """Loopback endpoint that forwards every request to target (an http:// AWS endpoint) and records it."""

    def __init__(self, target):
        self.target, self.requests = target, []
        super().__init__(_ProxyHandler)


class _IMDSHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, status, body=""):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        imds = self.server.owner
        imds.requests.append(("PUT", self.path))
        self._reply(200, "imds-session-token") if self.path == "/latest/api/token" else self._reply(404)

    def do_GET(self):
        imds = self.server.owner
        imds.requests.append(("GET", self.path))
        base = "/latest/meta-data/iam/security-credentials/"
        if imds.credentials is None or not self.path.startswith(base):
            return self._reply(404)
        if self.path == base:
            return self._reply(200, imds.role)
        if self.path == base + imds.role:
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=6)
            return self._reply(200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": imds.credentials[0],
                "SecretAccessKey": "role-secret", "Token": imds.credentials[1],
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}))
        return self._reply(404)


class FakeIMDS(_Server):
    """Instance metadata service: role credentials (key id, token) or, with credentials=None, no role."""

    def __init__(self, credentials=None, role="edgeml-test-role"):
        self.credentials, self.role, self.requests = credentials, role, []
        super().__init__(_IMDSHandler)


# Variables through which botocore finds credentials or endpoints: none of the developer's may leak into a test.
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
           "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
           "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_ECR", "AWS_URL", "AWS_CA_BUNDLE",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
           "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
           "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE", "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE",
           "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE")


def aws_credentials_env(monkeypatch, tmp_path, profiles=None, **variables):
    """Clear every AWS variable, point the shared files at the test's own (profiles: {name: {key: value}}, written
    to the credentials file) and set variables. monkeypatch restores all of it when the test ends."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "aws-credentials"
    credentials.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                                   for name, values in (profiles or {}).items()))
    config = tmp_path / "aws-config"
    config.write_text("".join(f"[profile {name}]\nregion = us-east-1\n" for name in profiles or {}))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config), **variables}
