"""Settings shared by the whole suite."""

from __future__ import annotations

import os

from hypothesis import settings

# CI replays the same examples every run, so a red build is always reproducible; local
# runs keep exploring new ones (and save what they find in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
