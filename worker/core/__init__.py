"""The pure core: records -> tracks -> alerts, no I/O and no wall clock.

Its hot modules run compiled when `make deps` built them for exactly these sources (worker/native.py)."""

from worker.native import activate

activate(__path__)
