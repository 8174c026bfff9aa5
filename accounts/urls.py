from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import invitation_views, sign_in, views

app_name = "accounts"

urlpatterns = [
    path("login/", sign_in.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            success_url=reverse_lazy("accounts:password_reset_done"),
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("accounts:password_reset_complete")
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "invitations/link/<str:token>/",
        invitation_views.invitation_link,
        name="invitation_link",
    ),
    path("invitations/", views.invitations, name="invitations"),
    path(
        "invitations/<int:invitation_id>/<str:answer>/",
        views.invitation_answer,
        name="invitation_answer",
    ),
    path("two-factor/", views.otp_verify, name="otp_verify"),
    path("two-factor/setup/", views.otp_setup, name="otp_setup"),
    path("two-factor/devices/", views.device_list, name="devices"),
    path(
        "two-factor/devices/<int:device_id>/remove/",
        views.device_remove,
        name="device_remove",
    ),
]
