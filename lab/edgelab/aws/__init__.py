"""Lab AWS endpoint: moto 5 extended to behave like AWS Wavelength + EKS where the lab needs it.

    python -m edgelab.aws [--host H --port P]        (PYTHONPATH=lab)
    from edgelab.aws import LabAWS; s = LabAWS(port=0).start(); s.url; s.stop()
"""

from .server import LabApp, LabAWS, install, reset

__all__ = ["LabAWS", "LabApp", "install", "reset"]
