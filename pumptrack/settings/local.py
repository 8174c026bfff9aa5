"""Laptop settings for `make run`: SQLite, console email, embedded broker."""

from .base import *  # noqa: F403

DEBUG = env.bool("DJANGO_DEBUG", default=True)
DEMO_LOGIN_ENABLED = True
