"""The lab AWS endpoint: moto's WSGI app, extended in-process, behind a thin WSGI layer that serves the
/_lab/ control API, injects faults and serves the EKS access-entry API."""

import json
import logging
import os
import threading

from werkzeug.serving import make_server

from edgelab import config

from . import faults
from .state import LAB

log = logging.getLogger(__name__)
_installed = False


def install() -> None:
    """Patch moto once per process (its backends are process globals)."""
    global _installed
    if _installed:
        return
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # read when the IAM backend is built
    from . import (
        autoscaling,
        carrier_gateway_states,
        console,
        ec2_addresses,
        ec2_wavelength,
        ecr,
        eks,
        eni_linger,
        iam_propagation,
        launch_templates,
        route53,
        s3,
        ssm,
    )
    ec2_wavelength.install()
    ec2_addresses.install()
    autoscaling.install()  # after ec2_wavelength: it wraps the same run_instances
    for module in (eks, ecr, ssm, s3, iam_propagation, route53, carrier_gateway_states, console,
                   launch_templates):
        module.install()
    eni_linger.install()  # last: wraps what eks, iam_propagation, ec2_wavelength and autoscaling patched
    _installed = True


def reset() -> None:
    """Forget every resource (moto's and the lab's); configuration is kept."""
    from moto.moto_api._internal.models import moto_api_backend
    moto_api_backend.reset()
    LAB.after_reset()


def _respond(start_response, status: int, headers: list, body: bytes):
    from werkzeug.http import HTTP_STATUS_CODES
    start_response(f"{status} {HTTP_STATUS_CODES.get(status, '')}", [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response, status: int, data) -> list:
    return _respond(start_response, status, [("Content-Type", "application/json")],
                    json.dumps(data, default=str).encode())


class LabApp:
    def __init__(self) -> None:
        install()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_lab/"):
            return self.control(environ, start_response, path[len("/_lab/"):].strip("/"))
        if path.startswith("/moto-api/reset"):
            out = list(self.moto(environ, start_response))
            LAB.after_reset()
            return out
        if LAB.iam in ("enforce", "audit"):  # authenticate and authorize as IAM would, first (iam_enforce.py)
            from . import iam_enforce
            refused = iam_enforce.check(environ, audit=LAB.iam == "audit")
            if refused:
                return _respond(start_response, *refused)
        kind = faults.pick(environ)
        if kind:
            return _respond(start_response, *faults.error_response(environ, kind))
        if faults.service_of(environ) == "eks":
            from . import eks_addons
            from .eks import handle_access_entries, handle_cluster_updates
            region = faults._SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")).group(1)
            answer = handle_access_entries(environ, region) or handle_cluster_updates(environ, region) \
                or eks_addons.handle_environ(environ, region)
            if answer:
                return _respond(start_response, *answer)
        return self.moto(environ, start_response)

    def control(self, environ, start_response, what: str):
        method = environ["REQUEST_METHOD"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
            if what == "health":
                return _json(start_response, 200, {"status": "ok"})
            if what == "config" and method == "GET":
                return _json(start_response, 200, LAB.snapshot())
            if what == "config" and method == "POST":
                return _json(start_response, 200, LAB.update(body))
            if what == "reset" and method == "POST":
                reset()
                if body.get("config", True):
                    LAB.reset_config()
                return _json(start_response, 200, {"reset": True})
            if what == "ami" and method == "POST":
                from .ssm import publish
                image = publish(body.get("region", "us-east-1"), str(body.get("version", "")), body.get("release", ""),
                                body.get("variant", "x86_64/standard"))
                return _json(start_response, 200, {"image_id": image})
            if what == "resources":
                from .resources import summary
                return _json(start_response, 200, summary())
            if what == "credentials" and method == "POST":  # for the lab Kubernetes API (edgelab.kubeauth)
                from .credentials import describe
                if not isinstance(body, dict) or not isinstance(body.get("session_token") or "", str):
                    raise ValueError('expected {"access_key_id": "...", "session_token": "..." (optional)}')
                key = describe(str(body.get("access_key_id") or ""), body.get("session_token") or None)
                if key is None:
                    return _json(start_response, 404, {"error": "unknown access key id",
                                                       "access_key_id": body.get("access_key_id")})
                return _json(start_response, 200, key)
            return _json(start_response, 404, {"error": f"no such lab API: {method} /_lab/{what}"})
        except (ValueError, TypeError) as e:
            return _json(start_response, 400, {"error": str(e)})


class LabAWS:
    """The lab AWS endpoint in a thread: LabAWS(port=0).start(); .url; .stop().

    delays/faults override the defaults (state.DEFAULT_DELAYS / DEFAULT_FAULTS and the EDGELAB_AWS_* env)."""

    def __init__(self, host: str = config.AWS_HOST, port: int = config.AWS_PORT, delays: dict | None = None,
                 faults: dict | None = None, ecr_registry: str | None = None, kube_url: str | None = None,
                 kube_state_dir=None):
        self.host, self.port = host, port
        LAB.defaults["delays"].update(delays or {})
        LAB.defaults["faults"].update(faults or {})
        LAB.ecr_registry = ecr_registry or LAB.ecr_registry
        LAB.kube_url = kube_url or LAB.kube_url
        LAB.kube_state_dir = kube_state_dir or LAB.kube_state_dir
        LAB.reset_config()
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "LabAWS":
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        self._server = make_server(self.host, self.port, LabApp(), threaded=True,
                                   request_handler=MotoRequestHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="lab-aws", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        self._server = make_server(self.host, self.port, LabApp(), threaded=True,
                                   request_handler=MotoRequestHandler)
        self.port = self._server.server_port
        log.info("lab AWS endpoint on %s", self.url)
        self._server.serve_forever()

    def reset(self) -> None:
        reset()
        LAB.reset_config()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=10)
        self._server = self._thread = None
