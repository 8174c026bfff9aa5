"""Settings shared by every environment.

Values come from the environment (see .env.example) with safe local defaults.
Clinical thresholds that domain.md marks as design choices live in
PUMPTRACK_POLICY so a clinic can change them without a code change.
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "django_celery_beat",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "simple_history",
    "phonenumber_field",
    "accounts",
    "patients",
    "refills",
    "reminders",
    "dashboard",
    "reports",
    # The invented demo clinic (seed_demo): above every domain app, writes through services.
    "demo",
]

MIDDLEWARE = [
    # First: forwarding headers count only from PUMPTRACK_TRUSTED_PROXIES (pumptrack/proxy.py).
    "pumptrack.proxy.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "pumptrack.middleware.NoStoreForSignedInMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pumptrack.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.staff_banners",
            ],
        },
    },
]

WSGI_APPLICATION = "pumptrack.wsgi.application"

# SQLite file by default (a laptop, `make run`); PostgreSQL when DATABASE_URL is set.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Worker, beat and web share one SQLite file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# django-axes checks every password attempt before Django's own backend.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("PUMPTRACK_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("PUMPTRACK_LOGIN_COOLOFF_HOURS", default=0.25)
# Lock the username from that address, so one person's typos cannot lock a colleague out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The reverse proxies in front of gunicorn (addresses or networks, comma-separated), e.g. the
# nginx container of docker-compose.yml. Only they may name the client (X-Forwarded-For,
# read by axes through pumptrack.proxy.client_ip) and the scheme (X-Forwarded-Proto, see
# production.py). Empty: every forwarding header is ignored and REMOTE_ADDR is the client.
PUMPTRACK_TRUSTED_PROXIES = env.list("PUMPTRACK_TRUSTED_PROXIES", default=[])
AXES_CLIENT_IP_CALLABLE = "pumptrack.proxy.client_ip"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# An idle session ends after 30 minutes: every request pushes the expiry forward.
SESSION_IDLE_MINUTES = env.int("PUMPTRACK_SESSION_IDLE_MINUTES", default=30)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Headers on every response. The CSP allows no inline script anywhere.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Two-factor sign-in is required for these roles and available to everyone.
PUMPTRACK_2FA_REQUIRED_ROLES = env.list(
    "PUMPTRACK_2FA_REQUIRED_ROLES", default=["manager", "physician"]
)
OTP_TOTP_ISSUER = "pumptrack"
# django-otp's back-off after a wrong code: FACTOR * 2**(n-1) seconds after the n-th
# in a row (1, 2, 4 ... s), which it does not bound. pumptrack caps the wait at
# PUMPTRACK_OTP_MAX_DELAY_SECONDS (accounts/devices.py) so someone who knows only the
# password cannot keep the real user out for longer than that; at worst a guesser
# then tries one code per cap (288 a day at 300 s).
OTP_TOTP_THROTTLE_FACTOR = 1
PUMPTRACK_OTP_MAX_DELAY_SECONDS = env.int("PUMPTRACK_OTP_MAX_DELAY_SECONDS", default=300)
if PUMPTRACK_OTP_MAX_DELAY_SECONDS < OTP_TOTP_THROTTLE_FACTOR:
    raise ImproperlyConfigured(
        "PUMPTRACK_OTP_MAX_DELAY_SECONDS must be at least the first back-off "
        f"({OTP_TOTP_THROTTLE_FACTOR} s)."
    )
# A wrong code after a right password is emailed to the account's owner, at most
# once per this many minutes per account.
PUMPTRACK_OTP_NOTICE_INTERVAL_MINUTES = env.int("PUMPTRACK_OTP_NOTICE_INTERVAL_MINUTES", default=60)

# Before a first authenticator is enrolled, a one-time code is emailed to the account's
# address (accounts/enrolment.py): the password alone cannot enrol one and lock the owner
# out. The code works for this many minutes, for this many tries, in the session that
# asked for it; an account gets at most PER_HOUR codes an hour, one per COOLDOWN seconds.
PUMPTRACK_ENROLMENT_CODE = {
    "MINUTES": env.int("PUMPTRACK_ENROLMENT_CODE_MINUTES", default=10),
    "ATTEMPTS": env.int("PUMPTRACK_ENROLMENT_CODE_ATTEMPTS", default=3),
    "PER_HOUR": env.int("PUMPTRACK_ENROLMENT_CODE_PER_HOUR", default=5),
    "COOLDOWN_SECONDS": env.int("PUMPTRACK_ENROLMENT_CODE_COOLDOWN_SECONDS", default=60),
    # How long an accepted code lets this session see and confirm the new secret.
    "PROOF_MINUTES": env.int("PUMPTRACK_ENROLMENT_PROOF_MINUTES", default=30),
}

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
# The sign-in page says "You are signed out" (accounts/sign_in.py).
LOGOUT_REDIRECT_URL = "/accounts/login/?signed_out=1"

# Longest free text (notes, reasons, assessments, message texts) a form or service accepts.
PUMPTRACK_FREE_TEXT_MAX_CHARS = env.int("PUMPTRACK_FREE_TEXT_MAX_CHARS", default=4000)

LANGUAGE_CODE = "en-us"
# How a search reads an all-numbers date such as 12/01/1980: "MDY" (month first, what
# en-US date inputs show, the clinics' locale) or "DMY". A date that can only be read
# one way (13/01/1980) is read that way whatever this says.
PUMPTRACK_NUMERIC_DATE_ORDER = env("PUMPTRACK_NUMERIC_DATE_ORDER", default="MDY")
# Stored in UTC; shown in the clinic's or the patient's zone at the edges.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
PUMPTRACK_DEFAULT_CLINIC_TIMEZONE = env(
    "PUMPTRACK_DEFAULT_CLINIC_TIMEZONE", default="America/New_York"
)

# Phone numbers (django-phonenumber-field): a number typed without its country code is
# read as a US number (clinics have no country of their own yet); stored and shown in
# templates as E.164, which tel: links and the SMS gateway take as they are.
PHONENUMBER_DEFAULT_REGION = "US"
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"


def _clinic_hours(days: list[str], starts: str, ends: str) -> dict:
    """Opening hours from the environment, refused at start-up when they make no sense."""
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    try:
        weekdays = tuple(sorted({names.index(d.strip().lower()[:3]) for d in days if d.strip()}))
        day_starts, day_ends = dt.time.fromisoformat(starts), dt.time.fromisoformat(ends)
    except ValueError as exc:
        raise ImproperlyConfigured(
            "PUMPTRACK_CLINIC_WORKING_DAYS takes weekday names (mon,tue,...); "
            "PUMPTRACK_CLINIC_DAY_STARTS and _ENDS take HH:MM."
        ) from exc
    if not weekdays:
        raise ImproperlyConfigured("PUMPTRACK_CLINIC_WORKING_DAYS needs at least one day.")
    if day_starts >= day_ends:
        raise ImproperlyConfigured("PUMPTRACK_CLINIC_DAY_STARTS must be before _DAY_ENDS.")
    return {"WORKING_DAYS": weekdays, "DAY_STARTS": day_starts, "DAY_ENDS": day_ends}


# Opening hours a new clinic starts with (each clinic keeps its own, editable in the
# Django admin). The proposed "latest safe" refill appointment falls inside them.
PUMPTRACK_CLINIC_HOURS = _clinic_hours(
    env.list("PUMPTRACK_CLINIC_WORKING_DAYS", default=["mon", "tue", "wed", "thu", "fri"]),
    env("PUMPTRACK_CLINIC_DAY_STARTS", default="09:00"),
    env("PUMPTRACK_CLINIC_DAY_ENDS", default="17:00"),
)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Outside production, serve static files straight from the apps (no collectstatic needed).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# History is evidence: the admin may show it but never revert to it.
SIMPLE_HISTORY_REVERT_DISABLED = True

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="pumptrack@localhost")
# Email through a provider's HTTP API (django-anymail; README "Channels"): the backend is
# EMAIL_BACKEND, e.g. reminders.email_backends.ResendEmailBackend or BrevoEmailBackend
# (the outbox reference becomes the provider's idempotency key) or any anymail backend
# (the reference as metadata only). The provider's key comes from ANYMAIL_<SETTING>.
ANYMAIL = {
    name: env(f"ANYMAIL_{name}")
    for name in (
        "RESEND_API_KEY",
        "BREVO_API_KEY",
        "POSTMARK_SERVER_TOKEN",
        "SENDGRID_API_KEY",
        "MAILGUN_API_KEY",
        "MAILGUN_SENDER_DOMAIN",
    )
    if env(f"ANYMAIL_{name}", default="")
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Clinical policy. Every value here is a design choice from domain.md (§7, §8),
# not a published rule, so clinics may change them.
PUMPTRACK_POLICY = {
    # Pessimistic flow error for the conservative alarm date (domain §2.2, Prometra 85–115 %).
    "FLOW_ACCURACY": Decimal(env("PUMPTRACK_FLOW_ACCURACY", default="0.15")),
    # Drug stability ceiling: refill within 180 days (domain §1.1).
    "STABILITY_DAYS": env.int("PUMPTRACK_STABILITY_DAYS", default=180),
    # Margin before the conservative alarm: 3 days normally, 7 with risk or transport flags.
    "MARGIN_DAYS": env.int("PUMPTRACK_MARGIN_DAYS", default=3),
    "MARGIN_DAYS_AT_RISK": env.int("PUMPTRACK_MARGIN_DAYS_AT_RISK", default=7),
    # Cross-check against the programmer's printed alarm date (domain §7.1 #3).
    "PRINTED_ALARM_TOLERANCE_DAYS": env.int("PUMPTRACK_PRINTED_ALARM_TOLERANCE_DAYS", default=1),
    # Reconciliation thresholds (domain §7.1 #7).
    "DISCREPANCY_ML": Decimal(env("PUMPTRACK_DISCREPANCY_ML", default="2")),
    "DISCREPANCY_RELATIVE": Decimal(env("PUMPTRACK_DISCREPANCY_RELATIVE", default="0.15")),
    # Two consecutive same-direction discrepancies above this flag a trend (§7.1 #7).
    "DISCREPANCY_TREND_ML": Decimal(env("PUMPTRACK_DISCREPANCY_TREND_ML", default="1")),
    # Post-fill check on sensor pumps: programmed minus measured above this is a possible
    # pocket fill; 20 mL reservoirs and smaller, then larger ones (§2.4, §7.1 #8).
    "POCKET_FILL_SMALL_ML": Decimal(env("PUMPTRACK_POCKET_FILL_SMALL_ML", default="1")),
    "POCKET_FILL_LARGE_ML": Decimal(env("PUMPTRACK_POCKET_FILL_LARGE_ML", default="2")),
    # Days before and after a daylight-saving change that pages show a pump-clock
    # notice for flex or scheduled-bolus programs (domain §1.6).
    "CLOCK_CHANGE_NOTICE_DAYS_BEFORE": env.int(
        "PUMPTRACK_CLOCK_CHANGE_NOTICE_DAYS_BEFORE", default=14
    ),
    "CLOCK_CHANGE_NOTICE_DAYS_AFTER": env.int(
        "PUMPTRACK_CLOCK_CHANGE_NOTICE_DAYS_AFTER", default=14
    ),
    # Programmed volume against left + added (§7.2 #6); scheduled boluses against the basal
    # dose, a share of it (§7.2 #5).
    "FILL_TOLERANCE_ML": Decimal(env("PUMPTRACK_FILL_TOLERANCE_ML", default="0.5")),
    "BOLUS_SHARE_WARNING": Decimal(env("PUMPTRACK_BOLUS_SHARE_WARNING", default="0.5")),
    # Short-interval warning (domain §7.2 #8).
    "SHORT_INTERVAL_WARNING_DAYS": env.int("PUMPTRACK_SHORT_INTERVAL_WARNING_DAYS", default=14),
    # Dose change against the program in effect, in percent (domain §7.2 #4, #9): increases
    # above 40 % (spinal) or 20 % (cerebral) and falls above 50 % need a physician; any
    # other change above 20 % needs a reason.
    "DOSE_INCREASE_PHYSICIAN_PCT_SPINAL": Decimal(
        env("PUMPTRACK_DOSE_INCREASE_PHYSICIAN_PCT_SPINAL", default="40")
    ),
    "DOSE_INCREASE_PHYSICIAN_PCT_CEREBRAL": Decimal(
        env("PUMPTRACK_DOSE_INCREASE_PHYSICIAN_PCT_CEREBRAL", default="20")
    ),
    "DOSE_CHANGE_CONFIRM_PCT": Decimal(env("PUMPTRACK_DOSE_CHANGE_CONFIRM_PCT", default="20")),
    "DOSE_DECREASE_PHYSICIAN_PCT": Decimal(
        env("PUMPTRACK_DOSE_DECREASE_PHYSICIAN_PCT", default="50")
    ),
    # The dose-change limits above (and the titration rule, §7.2 #9) measure a new dose
    # against every dose in effect during this many hours before it, not only the program
    # just before: a change split into small steps needs what the whole change needs.
    "DOSE_CHANGE_WINDOW_HOURS": Decimal(env("PUMPTRACK_DOSE_CHANGE_WINDOW_HOURS", default="24")),
    # Booking a refill never needs an override up to the refill-by date or, when the
    # clinic cannot offer a slot by then (e.g. it has passed), up to its earliest slot and
    # this many working days after today (refills/scheduling.py).
    "BOOKING_GRACE_WORKING_DAYS": env.int("PUMPTRACK_BOOKING_GRACE_WORKING_DAYS", default=1),
    # The clinic's diary (refills/scheduling.py). Appointments carry no nurse or room, so
    # double booking is counted per clinic: a booking that overlaps this many scheduled
    # appointments of the clinic needs a reason (1: one refill room, one nurse at a time).
    "BOOKING_CONCURRENT_APPOINTMENTS": env.int(
        "PUMPTRACK_BOOKING_CONCURRENT_APPOINTMENTS", default=1
    ),
    # The length of a refill visit the proposal looks for a free slot of (the booking
    # form's default duration too).
    "APPOINTMENT_MINUTES": env.int("PUMPTRACK_APPOINTMENT_MINUTES", default=30),
    # After a refill the page proposes the latest safe slot and up to this many earlier
    # free slots, each at least this many days before the refill-by date, so a missed
    # visit can still be rebooked in time.
    "PROPOSAL_BUFFER_DAYS": env.int("PUMPTRACK_PROPOSAL_BUFFER_DAYS", default=7),
    "PROPOSAL_EARLIER_OPTIONS": env.int("PUMPTRACK_PROPOSAL_EARLIER_OPTIONS", default=3),
    # Withdrawal-risk tier and staff alert windows (domain §8): one value each, read by
    # refills.risk (the tier, through refills.policy.risk_policy) and reminders.alerts.
    # Days to the conservative alarm with nothing booked: HIGH; HIGH with a label risk
    # factor; the clinic work-queue alert (MODERATE; the refill-by date that close opens
    # it too).
    "UNBOOKED_HIGH_DTA_DAYS": env.int("PUMPTRACK_UNBOOKED_HIGH_DTA_DAYS", default=14),
    "RISK_FACTOR_DTA_DAYS": env.int("PUMPTRACK_RISK_FACTOR_DTA_DAYS", default=21),
    "WORK_QUEUE_DTA_DAYS": env.int("PUMPTRACK_WORK_QUEUE_DTA_DAYS", default=21),
    # CRITICAL when the projected empty date is this close.
    "CRITICAL_EMPTY_DAYS": env.int("PUMPTRACK_CRITICAL_EMPTY_DAYS", default=3),
    # The "running out" staff alert (CRITICAL): conservative alarm this close.
    "RUNNING_OUT_ALERT_DAYS": env.int("PUMPTRACK_RUNNING_OUT_ALERT_DAYS", default=3),
    # Device life (domain §7.1 #9, §8): end of service or the 7-year shut-down this close
    # with no replacement planned is CRITICAL; the replacement prompt (MODERATE) this far
    # ahead; a replacement planned less than REPLACEMENT_MIN_DAYS_BEFORE_EOS before end of
    # service is a warning; a date after end of service is not a plan.
    "EOS_CRITICAL_DAYS": env.int("PUMPTRACK_EOS_CRITICAL_DAYS", default=30),
    # An active pump with no fill on record is HIGH (reservoir level unknown), CRITICAL
    # once this many days have passed since the implant, or sooner when a full reservoir
    # at the program in effect would be empty sooner (a clinical choice for review).
    "NO_FILL_CRITICAL_DAYS": env.int("PUMPTRACK_NO_FILL_CRITICAL_DAYS", default=30),
    "EOS_PROMPT_DAYS": env.int("PUMPTRACK_EOS_PROMPT_DAYS", default=180),
    "REPLACEMENT_MIN_DAYS_BEFORE_EOS": env.int(
        "PUMPTRACK_REPLACEMENT_MIN_DAYS_BEFORE_EOS", default=90
    ),
    # MODERATE at this many "other" risk factors (domain §8).
    "MODERATE_OTHER_FACTOR_COUNT": env.int("PUMPTRACK_MODERATE_OTHER_FACTOR_COUNT", default=2),
}

# --------------------------------------------------------------------------- reminders & Celery
# Reminders, staff alerts and their delivery (reminders app, issue 3). Every value can be
# changed from the environment; .env.example documents each.
REMINDERS = {
    # How often beat starts a sweep; the health check calls the sweep stale after two
    # intervals plus STALE_SLACK_SECONDS.
    "SWEEP_INTERVAL_SECONDS": env.float("REMINDERS_SWEEP_INTERVAL_SECONDS", default=60.0),
    "STALE_SLACK_SECONDS": env.float("REMINDERS_STALE_SLACK_SECONDS", default=30.0),
    # Appointment reminders, days before the appointment (same wall-clock time, clinic zone).
    "OFFSETS_DAYS": [
        int(d) for d in env.list("REMINDERS_OFFSETS_DAYS", default=["14", "7", "2", "1"])
    ],
    # A scheduled appointment is missed this long after its start without a refill.
    "MISSED_GRACE_MINUTES": env.int("REMINDERS_MISSED_GRACE_MINUTES", default=120),
    # Patient messages only between these local hours of the recipient (start inclusive).
    "SEND_FROM_HOUR": env.int("REMINDERS_SEND_FROM_HOUR", default=8),
    "SEND_UNTIL_HOUR": env.int("REMINDERS_SEND_UNTIL_HOUR", default=21),
    # "No refill booked" nudges to the patient: days before the refill-by date.
    "UNBOOKED_NUDGE_DAYS": [
        int(d) for d in env.list("REMINDERS_UNBOOKED_NUDGE_DAYS", default=["21", "7"])
    ],
    # Staff alert windows are the tier's: PUMPTRACK_POLICY (WORK_QUEUE_DTA_DAYS, ...).
    # Unacknowledged HIGH/CRITICAL alerts go to the escalation contacts after this delay,
    # and again every repeat interval until someone acknowledges them.
    "ESCALATION_DELAY_MINUTES": env.int("REMINDERS_ESCALATION_DELAY_MINUTES", default=30),
    "ESCALATION_REPEAT_MINUTES": env.int("REMINDERS_ESCALATION_REPEAT_MINUTES", default=60),
    # Delivery: attempts per message, exponential backoff (base * 2**n, capped; keep the
    # cap well under the Redis visibility timeout), provider call timeout.
    "MAX_ATTEMPTS": env.int("REMINDERS_MAX_ATTEMPTS", default=5),
    "BACKOFF_BASE_SECONDS": env.float("REMINDERS_BACKOFF_BASE_SECONDS", default=15.0),
    "BACKOFF_MAX_SECONDS": env.float("REMINDERS_BACKOFF_MAX_SECONDS", default=300.0),
    "SEND_TIMEOUT_SECONDS": env.float("REMINDERS_SEND_TIMEOUT_SECONDS", default=20.0),
    # The sweep re-publishes rows still pending this long after dispatch (a lost broker
    # message).
    "REDISPATCH_AFTER_SECONDS": env.float("REMINDERS_REDISPATCH_AFTER_SECONDS", default=180.0),
    # A row left "sending" is taken back after the longest a live send can take: a lookup
    # and a send (each bounded by SEND_TIMEOUT_SECONDS) plus this margin. A claimer known
    # to be dead (its pid gone on this host) frees its rows at once.
    "STUCK_MARGIN_SECONDS": env.float("REMINDERS_STUCK_MARGIN_SECONDS", default=15.0),
    "SWEEP_BATCH": env.int("REMINDERS_SWEEP_BATCH", default=500),
    "SWEEP_MAX_ROWS": env.int("REMINDERS_SWEEP_MAX_ROWS", default=20000),
    # Channels. SMS: reminders.channels.FileSmsBackend (console + var/sms-outbox.jsonl) or
    # reminders.channels.TwilioSmsBackend. Email goes through EMAIL_BACKEND.
    "SMS_BACKEND": env("REMINDERS_SMS_BACKEND", default="reminders.channels.FileSmsBackend"),
    "SMS_OUTBOX_PATH": env("REMINDERS_SMS_OUTBOX_PATH", default=str(VAR_DIR / "sms-outbox.jsonl")),
    "SMS_ECHO": env.bool("REMINDERS_SMS_ECHO", default=True),
    # Test backends only (tests/support/backends.py): fault plan and email ledger.
    "FAULTS_PATH": env("REMINDERS_FAULTS_PATH", default=""),
    "EMAIL_LEDGER_PATH": env(
        "REMINDERS_EMAIL_LEDGER_PATH", default=str(VAR_DIR / "email-ledger.jsonl")
    ),
    "TWILIO_ACCOUNT_SID": env("TWILIO_ACCOUNT_SID", default=""),
    "TWILIO_AUTH_TOKEN": env("TWILIO_AUTH_TOKEN", default=""),
    "TWILIO_FROM_NUMBER": env("TWILIO_FROM_NUMBER", default=""),
    "TWILIO_MESSAGING_SERVICE_SID": env("TWILIO_MESSAGING_SERVICE_SID", default=""),
    # Public base URL Twilio calls (signatures are computed over it), e.g. https://itb.example.org
    "PUBLIC_BASE_URL": env("PUMPTRACK_PUBLIC_BASE_URL", default=""),
    # Dead-man's switch (e.g. a Healthchecks check URL): every complete sweep pings it.
    "HEARTBEAT_URL": env("PUMPTRACK_HEARTBEAT_URL", default=""),
    "HEARTBEAT_TIMEOUT_SECONDS": env.float("PUMPTRACK_HEARTBEAT_TIMEOUT_SECONDS", default=5.0),
    # The watchdog process checks the last sweep this often, and tells the escalation
    # contacts once an outage is older than WATCHDOG_ALERT_AFTER_SECONDS (default: two
    # sweep intervals), and again when sweeps are back.
    "WATCHDOG_CHECK_SECONDS": env.float("PUMPTRACK_WATCHDOG_CHECK_SECONDS", default=30.0),
}
REMINDERS["WATCHDOG_ALERT_AFTER_SECONDS"] = env.float(
    "PUMPTRACK_WATCHDOG_ALERT_AFTER_SECONDS", default=2 * REMINDERS["SWEEP_INTERVAL_SECONDS"]
)
REMINDERS["STUCK_SENDING_SECONDS"] = env.float(
    "REMINDERS_STUCK_SENDING_SECONDS",
    default=2 * REMINDERS["SEND_TIMEOUT_SECONDS"] + REMINDERS["STUCK_MARGIN_SECONDS"],
)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
# The twilio package logs request parameters (the number texted) at INFO: keep them out.
LOGGING.setdefault("loggers", {})["twilio.http_client"] = {"level": "WARNING"}

REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any countdown we use (backoff cap), so Redis never redelivers a
        # waiting retry; a killed worker's task comes back after it (the sweep is faster).
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
    }
else:
    # No server needed for `make run`: messages are files under var/broker/.
    _broker_dir = Path(env("PUMPTRACK_BROKER_DIR", default=str(VAR_DIR / "broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# Every task has a soft limit (SoftTimeLimitExceeded is raised in the task, which can clean
# up) and a hard one (the worker child is killed; the task is acked as failed, and the
# sweep's stuck-send recovery takes the row back). These defaults are sized for the send
# task: soft > a lookup and a send (each bounded by the send timeout), hard below
# REMINDERS_STUCK_SENDING_SECONDS, so a row is only called stuck once its task is surely
# dead (prefork pool; the solo pool enforces no limits, and the claim checks cover it).
# The sweep tasks have their own, longer limits (CELERY_SWEEP_*_TIME_LIMIT).
_send_budget = 2 * REMINDERS["SEND_TIMEOUT_SECONDS"]
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=int(_send_budget + 5))
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=int(_send_budget + 10))
CELERY_SWEEP_SOFT_TIME_LIMIT = env.int("CELERY_SWEEP_SOFT_TIME_LIMIT", default=300)
CELERY_SWEEP_TIME_LIMIT = env.int("CELERY_SWEEP_TIME_LIMIT", default=360)
if not REMINDERS["SEND_TIMEOUT_SECONDS"] < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "Celery time limits must satisfy REMINDERS_SEND_TIMEOUT_SECONDS < "
        "CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT."
    )
if not CELERY_SWEEP_SOFT_TIME_LIMIT < CELERY_SWEEP_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_SWEEP_SOFT_TIME_LIMIT must be below CELERY_SWEEP_TIME_LIMIT")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The sweep has its own queue, so it never waits behind a backlog of sends (docker-compose
# runs a worker for it alone; the other workers serve it first: `-Q sweep,celery`).
CELERY_SWEEP_QUEUE = env("CELERY_SWEEP_QUEUE", default="sweep")
CELERY_TASK_ROUTES = {
    "reminders.tasks.sweep": {"queue": CELERY_SWEEP_QUEUE},
    "reminders.tasks.reconcile": {"queue": CELERY_SWEEP_QUEUE},
}
PUMPTRACK_REPORTS = {
    # The clinic-time hour from which the day's tier snapshot is taken (after the night).
    "TIER_SNAPSHOT_HOUR": env.int("PUMPTRACK_TIER_SNAPSHOT_HOUR", default=6),
    # The days the reports show when no period is asked for.
    "DEFAULT_DAYS": env.int("PUMPTRACK_REPORTS_DEFAULT_DAYS", default=182),
}
# Every schedule lives here; django-celery-beat installs it idempotently at beat start.
# The DatabaseScheduler stores `expire_seconds` (it ignores "expires" in the options).
CELERY_BEAT_SCHEDULE = {
    "reminders-sweep": {
        "task": "reminders.tasks.sweep",
        "schedule": REMINDERS["SWEEP_INTERVAL_SECONDS"],
        # A sweep that waited a whole interval in the queue is superseded by the next one.
        "options": {"expire_seconds": REMINDERS["SWEEP_INTERVAL_SECONDS"]},
    },
    # Each clinic's daily tier census, once its day reaches TIER_SNAPSHOT_HOUR in its zone;
    # hourly so every zone's hour comes round, idempotent per clinic and day.
    "reports-tier-snapshots": {
        "task": "reports.tasks.tier_snapshots_schedule",
        "schedule": 3600.0,
        "options": {"expire_seconds": 3000},
    },
    "reminders-reconcile": {
        "task": "reminders.tasks.reconcile",
        "schedule": env.float("REMINDERS_RECONCILE_INTERVAL_SECONDS", default=3600.0),
        "options": {"expire_seconds": 600},
    },
}
