"""edgelab: the offline edge lab (emulated AWS Wavelength + EKS) used by the tests and `make demo`."""
