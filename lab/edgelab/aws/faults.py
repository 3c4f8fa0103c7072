"""Fault injection: a rate of throttling and 5xx answers, plus latency, in each protocol's own error shape.

Codes are the ones AWS really sends, so botocore classifies them as it would in AWS:
EC2 RequestLimitExceeded, other query APIs (autoscaling, IAM, STS) and Route 53 (REST-XML with the query APIs'
ErrorResponse shape) Throttling, JSON and REST-JSON APIs (ECR, SSM, EKS) ThrottlingException, S3 503 SlowDown.
All are retried by botocore's standard/adaptive modes.
"""

import json
import re
import time
import uuid

from .state import LAB

NO_FAULTS_HEADER = "HTTP_X_EDGELAB_NO_FAULTS"  # X-Edgelab-No-Faults: 1 (e.g. the node agent's own calls)
_SCOPE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/")


def service_of(environ: dict) -> str:
    m = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(2) if m else ""


def _protocol(environ: dict, service: str) -> str:
    if service == "ec2":
        return "ec2"
    if service == "s3":
        return "rest-xml"
    if service == "route53":  # REST-XML, but errors come as <ErrorResponse><Error><Type/><Code/>..., as query APIs'
        return "query"
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        return "query"
    return "rest-json"


def error_response(environ: dict, kind: str) -> tuple[int, list, bytes]:
    """(status, headers, body) of a throttling ('throttle') or server ('error') error for this request."""
    service = service_of(environ)
    proto = _protocol(environ, service)
    rid = str(uuid.uuid4())
    throttle = kind == "throttle"
    if proto == "ec2":
        code, msg, status = ("RequestLimitExceeded", "Request limit exceeded.", 400) if throttle \
            else ("InternalError", "An internal error has occurred", 500)
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>")
        return status, [("Content-Type", "text/xml")], body.encode()
    if proto == "rest-xml":
        code, msg, status = ("SlowDown", "Please reduce your request rate.", 503) if throttle \
            else ("InternalError", "We encountered an internal error. Please try again.", 500)
        body = f"<Error><Code>{code}</Code><Message>{msg}</Message><RequestId>{rid}</RequestId></Error>"
        return status, [("Content-Type", "application/xml")], body.encode()
    if proto == "query":
        code, msg, status, who = ("Throttling", "Rate exceeded", 400, "Sender") if throttle \
            else ("InternalFailure", "An internal error occurred", 500, "Receiver")
        body = (f"<ErrorResponse><Error><Type>{who}</Type><Code>{code}</Code><Message>{msg}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>")
        return status, [("Content-Type", "text/xml")], body.encode()
    code, msg, status = ("ThrottlingException", "Rate exceeded", 400) if throttle \
        else ("InternalFailure", "An internal error occurred", 500)
    headers = [("x-amzn-RequestId", rid), ("x-amzn-ErrorType", code)]
    if proto == "json":
        return status, [*headers, ("Content-Type", "application/x-amz-json-1.1")], \
            json.dumps({"__type": code, "message": msg}).encode()
    return status, [*headers, ("Content-Type", "application/json")], json.dumps({"message": msg}).encode()


def pick(environ: dict) -> str | None:
    """Apply the configured latency, then decide whether this AWS call fails: 'throttle', 'error' or None."""
    if environ.get(NO_FAULTS_HEADER, "") not in ("", "0"):
        return None
    faults = LAB.faults
    if faults.get("latency"):
        time.sleep(float(faults["latency"]))
    throttle, error = float(faults.get("throttle_rate") or 0), float(faults.get("error_rate") or 0)
    if not throttle and not error:
        return None
    r = LAB.roll()
    if r < throttle:
        return "throttle"
    if r < throttle + error:
        return "error"
    return None
