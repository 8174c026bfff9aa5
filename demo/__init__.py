"""The invented demo clinic loaded by `manage.py seed_demo` (run by `make run`).

It sits above every domain app (accounts, patients, refills, reminders) and writes
only through their services; no domain app imports it.
"""
