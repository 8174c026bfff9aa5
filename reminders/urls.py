from django.urls import path

from reminders import pages, views

app_name = "reminders"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("twilio/status/", views.twilio_status, name="twilio-status"),
    path("twilio/inbound/", views.twilio_inbound, name="twilio-inbound"),
    # Staff pages: every message of the user's clinics, and the managers' templates.
    path("messages/", pages.message_list, name="messages"),
    path("messages/templates/", pages.template_list, name="templates"),
    path(
        "messages/templates/<int:clinic_id>/<slug:kind>/<slug:channel>/",
        pages.template_edit,
        name="template_edit",
    ),
    path(
        "messages/templates/<int:clinic_id>/<slug:kind>/<slug:channel>/reset/",
        pages.template_reset,
        name="template_reset",
    ),
]
