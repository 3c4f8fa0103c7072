"""GetConsoleOutput as EC2 serves it for a lab node: what the instance printed while booting.

On an AL2023 node cloud-init's final stage (the user data's shell parts) writes to the serial console; the lab
node agent keeps that output in .lab/nodes/<instance id>/user-data.log (written by another process, read here).
EC2 returns the last 64 KiB, base64-encoded; an instance that printed nothing yet returns no Output key.
"""

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.responses.general import General
from moto.ec2.utils import Base64EncodedString

from edgelab import config

LIMIT = 64 * 1024  # EC2 keeps the most recent 64 KB of console output


def console_text(instance_id: str) -> str | None:
    log = config.NODES_DIR / instance_id / "user-data.log"
    try:
        data = log.read_bytes()
    except OSError:
        return None
    return data[-LIMIT:].decode(errors="replace")


def get_console_output(self) -> ActionResult:
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))  # InvalidInstanceID.NotFound if gone
    result = {"InstanceId": instance.id, "Timestamp": utcnow()}
    text = console_text(instance.id)
    if text:
        result["Output"] = Base64EncodedString.from_raw_string(text)
    return ActionResult(result)


def install() -> None:
    General.get_console_output = get_console_output
