"""Fixtures of the end-to-end tests (helpers in e2e_lib, not importable as `conftest`)."""

from e2e_lib import deployment  # noqa: F401 (fixture)
