"""Helpers shared by tests and the processes the fault drills start (run from the repo root)."""
