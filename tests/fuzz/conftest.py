"""Fuzzing (issue 9): hypothesis and schemathesis against the imports, SCIM, the metering API and the OpenAPI
document. Every test here is bounded (a fixed number of examples) and reproducible: the `fuzz` profile is
derandomized (the examples depend on the test alone, not on a seed or an example database), so CI sees the same
inputs on every run. Tests use the profile as the parent of their own settings:

    @settings(settings.get_profile("fuzz"), max_examples=examples(40))

It is registered, not loaded: loading a profile would change the settings of every other hypothesis test in the
process. `HYPOTHESIS_FUZZ_EXAMPLES=<n>` replaces every test's number of examples, for a longer run by hand.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    derandomize=True,
    database=None,  # no .hypothesis folder: derandomized runs replay themselves
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(default: int) -> int:
    """The number of examples of a fuzz test: `default`, or HYPOTHESIS_FUZZ_EXAMPLES for a longer run by hand."""
    return int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES") or default)
