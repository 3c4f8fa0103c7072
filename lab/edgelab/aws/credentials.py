"""What the lab AWS endpoint knows of an access key id, for the lab control route POST /_lab/credentials.

EKS hands a token's presigned GetCallerIdentity URL to STS, which knows every key's secret; the lab Kubernetes API
verifies the signature itself (edgelab.kubeauth) and names the caller itself (edgelab.kubeauthz), so it asks here:
- the lab's key (config.CREDENTIALS, `testing`): its fixed secret, the caller moto's STS names for it
  (arn:aws:sts::<account>:user/moto); a session token is ignored, as the endpoint ignores it for that key;
- an IAM user's access key (moto's CreateAccessKey): its secret, the user's ARN (with its path), the key's status
  (`Active` / `Inactive`); a session token with it -> `InvalidToken` (STS refuses that too);
- an STS AssumeRole session: its secret only with its own session token (none or another -> `InvalidToken`), the
  session's ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>), its role's ARN, its expiration; expired ->
  `Expired` (moto keeps expired sessions, AWS refuses them);
- any other key id (never created, deleted, GetSessionToken/GetFederationToken credentials, which moto does not
  keep): unknown (None).
The secret is given for every status but `InvalidToken`; a caller must refuse any status but `Active`.
"""

from moto.core.utils import utcnow

from edgelab import config

ACCOUNT = config.ACCOUNT_ID
LAB_KEY = config.CREDENTIALS["AWS_ACCESS_KEY_ID"]
ACTIVE, INACTIVE, EXPIRED, INVALID_TOKEN = "Active", "Inactive", "Expired", "InvalidToken"


def _iso(stamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")  # moto's datetimes are naive UTC


def describe(access_key_id: str, session_token: str | None = None) -> dict | None:
    """{access_key_id, type (lab, user, session), arn, principal_arn, status, expiration, secret_access_key} of a
    key id, or None for a key the endpoint does not know."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    if not access_key_id:
        return None
    sts = sts_backends[ACCOUNT]["aws"]
    if access_key_id == LAB_KEY:
        arn = sts.get_caller_identity(access_key_id, "us-east-1")[1]
        return {"access_key_id": access_key_id, "type": "lab", "arn": arn, "principal_arn": arn, "status": ACTIVE,
                "expiration": None, "secret_access_key": config.CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
    for user in list(iam_backends[ACCOUNT]["aws"].users.values()):
        for key in list(user.access_keys):
            if key.access_key_id == access_key_id:
                status = INVALID_TOKEN if session_token else key.status
                out = {"access_key_id": access_key_id, "type": "user", "arn": user.arn, "principal_arn": user.arn,
                       "status": status, "expiration": None}
                return out if status == INVALID_TOKEN else {**out, "secret_access_key": key.secret_access_key}
    for session in list(sts.assumed_roles):
        if session.access_key_id == access_key_id:
            status = INVALID_TOKEN if session_token != session.session_token else \
                EXPIRED if session.expiration < utcnow() else ACTIVE
            out = {"access_key_id": access_key_id, "type": "session", "arn": session.arn,
                   "principal_arn": session.role_arn, "status": status, "expiration": _iso(session.expiration)}
            return out if status == INVALID_TOKEN else {**out, "secret_access_key": session.secret_access_key}
    return None
