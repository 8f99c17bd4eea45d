"""Hypothesis settings for the whole suite.

The default profile keeps the suite fast (a few minutes on 2 cores) while still
drawing fresh random examples on every run; ``HYPOTHESIS_PROFILE=thorough``
draws twenty times as many, for a longer soak before a release.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "tinygrad_rnn",
    # finite differences of a whole layer take a while; speed is benchmarked elsewhere
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("tinygrad_rnn"),
                          max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinygrad_rnn"))
