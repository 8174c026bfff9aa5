"""Production settings: every secret and host comes from the environment."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403


def _required(name: str) -> str:
    value = env(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Production needs it in the environment (see .env.example)."
        )
    return value


DEBUG = False
SECRET_KEY = _required("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",") if h.strip()]
DATABASES = {"default": env.db_url_config(_required("DATABASE_URL"))}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)

# Password resets and escalation emails must leave the building: refuse the backends that
# only print, keep in memory, write files or drop the message.
EMAIL_BACKEND = _required("EMAIL_BACKEND")
_NOT_DELIVERING = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "anymail.backends.test.EmailBackend",
    "anymail.backends.console.EmailBackend",
}
if EMAIL_BACKEND in _NOT_DELIVERING or EMAIL_BACKEND.startswith("tests."):
    raise ImproperlyConfigured(
        f"EMAIL_BACKEND is {EMAIL_BACKEND}, which delivers nothing. Production needs a real "
        "one, e.g. django.core.mail.backends.smtp.EmailBackend (see .env.example)."
    )

WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}

# X-Forwarded-Proto is believed only behind a configured proxy, and only from it
# (pumptrack.proxy.TrustedProxyMiddleware removes it from anyone else's requests).
if PUMPTRACK_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# The container health check calls gunicorn directly over HTTP (docker-compose.yml).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Reminders: Redis is the broker (base.py reads REDIS_URL); texts go through Twilio unless
# another backend is configured. Without Redis the filesystem broker would silently be used.
_required("REDIS_URL")
REMINDERS["SMS_BACKEND"] = env(
    "REMINDERS_SMS_BACKEND", default="reminders.channels.TwilioSmsBackend"
)
REMINDERS["SMS_ECHO"] = False
