"""The security tests reuse the `org` world of tests/subscriptions (and its `clock`)."""

from tests.subscriptions.conftest import clock, org  # noqa: F401  (fixtures for this folder)
