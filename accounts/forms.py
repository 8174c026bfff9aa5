from django import forms
from django.contrib.auth import authenticate


class TokenForm(forms.Form):
    token = forms.CharField(
        label="6-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].replace(" ", "")
        if not token.isdigit():
            raise forms.ValidationError("The code is the 6 digits shown in your app.")
        return token


class EnrolmentCodeForm(forms.Form):
    """The one-time code emailed before a first authenticator is enrolled."""

    code = forms.CharField(
        label="6-digit code from the email",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isascii() and code.isdigit() and len(code) == 6):
            raise forms.ValidationError("The code is the 6 digits in the email we sent you.")
        return code


class PasswordAgainForm(forms.Form):
    """The password once more, for a change to how this account signs in.

    Checked through authenticate(), so wrong passwords count towards the
    django-axes lockout like wrong passwords at sign-in.
    """

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, request, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        again = authenticate(self.request, username=user.get_username(), password=password)
        if again is None or again.pk != user.pk:
            raise forms.ValidationError("That is not your password.")
        return password


class DeviceAddForm(TokenForm):
    """A code from the new authenticator, a name for it, and (when another device
    already guards the account) the password again."""

    name = forms.CharField(
        label="Name this device (for example: work phone)",
        max_length=64,
        required=False,
    )
    password = PasswordAgainForm.base_fields["password"]

    def __init__(self, *args, request, needs_password: bool, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)
        if not needs_password:
            del self.fields["password"]

    clean_password = PasswordAgainForm.clean_password


class InvitationSignUpForm(forms.Form):
    """The invitee's own name and password, from the link in their invitation."""

    first_name = forms.CharField(label="Your first name", max_length=150)
    last_name = forms.CharField(label="Your last name", max_length=150)
    password = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label="The same password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("password")
            and data.get("password_again")
            and data["password"] != data["password_again"]
        ):
            self.add_error("password_again", "The two passwords differ.")
        return data
