"""Template rules a manager cannot talk their way past (attacker review).

Forbidden words stay forbidden when disguised (separators inside the word, digits or
symbols for letters, look-alike letters from another alphabet, invisible or wide
characters); carrier opt-out words are refused as whole words; urgent kinds keep the
placeholders and words the patient needs to act; a too-long text gets the right error.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patients.models import Channel
from reminders import messages
from reminders.forms import TemplateForm


def problems_for(body: str, kind: str = "booking-confirmation", channel: str = "sms") -> list:
    return messages.template_problems(kind=kind, channel=channel, subject="", body=body)


def refused_words(problems: list[str]) -> str:
    return " ".join(p for p in problems if "must not contain" in p)


# --------------------------------------------------------------------------- disguises


@pytest.mark.parametrize(
    "disguised,word",
    [
        ("b-a-c-l-o-f-e-n", "baclofen"),
        ("b.a.c.l.o.f.e.n", "baclofen"),
        ("b_a_c_l_o_f_e_n", "baclofen"),
        ("bacl0fen", "baclofen"),
        ("d0se", "dose"),
        ("D05E", "dose"),
        ("do$e", "dose"),
        ("b@cl0f3n", "baclofen"),
        ("w1thdr4wal", "withdrawal"),
        ("5pa5tic", "spastic"),
        ("b\u0430clofen", "baclofen"),  # Cyrillic а
        ("d\u03bfse", "dose"),  # Greek ο
        ("b a c l o f e n", "baclofen"),  # letters spaced out
    ],
)
def test_a_disguised_forbidden_word_is_refused_and_named(disguised, word):
    problems = problems_for(f"Hi {{first_name}}, about your {disguised} on {{when}}.")
    assert f"must not contain “{word}”" in refused_words(problems), problems


def test_a_word_mixing_alphabets_is_refused_even_if_it_is_not_forbidden():
    problems = problems_for("Hi {first_name}, see you {when} at the \u0441linic.")
    [problem] = problems
    assert "“\u0441linic”" in problem and "another alphabet" in problem


@pytest.mark.parametrize(
    "sentence",
    [
        "Please do send us a note when you can.",
        "We can see you at the clinic; so call us.",
        "Our do-not-reply line is closed at weekends.",
        "The room is 5B, floor 3, door 10.",
        "Is the time right? If not, please tell us.",
        "We stopped the old line; the new one is below.",
        "Sending, ending and recovering are fine words.",
    ],
)
def test_plain_sentences_are_not_mistaken_for_disguised_words(sentence):
    assert problems_for(f"Hi {{first_name}}, {sentence} See you {{when}}.") == []


# --------------------------------------------------------------------------- opt-out words


@pytest.mark.parametrize("word", messages.OPT_OUT_WORDS)
@pytest.mark.parametrize("shape", ["Reply {w} to opt out.", "Text {w}.", "({w})", "Send '{w}'"])
def test_carrier_opt_out_words_are_refused_as_whole_words(word, shape):
    problems = problems_for("Hi {first_name}, see you {when}. " + shape.format(w=word.upper()))
    assert f"must not contain “{word}”" in refused_words(problems), problems
    assert "opt-out word" in refused_words(problems)


@pytest.mark.parametrize("disguised", ["S-T-O-P", "st0p", "S.T.O.P", "s t o p", "QU1T", "opt-out"])
def test_disguised_opt_out_words_are_refused(disguised):
    assert "opt-out word" in refused_words(problems_for(f"{{when}} Reply {disguised}."))


# --------------------------------------------------------------------------- the property

_LOOK_ALIKE = {
    "a": "\u0430\u03b1",
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456\u03b9",
    "k": "\u03ba",
    "o": "\u043e\u03bf",
    "p": "\u0440\u03c1",
    "s": "\u0455",
    "t": "\u03c4",
    "x": "\u0445",
}
_STAND_IN = {"o": "0", "l": "1", "i": "1", "e": "3", "a": "4@", "s": "5$", "t": "7"}
_INSIDE = ["", "", "-", ".", "_", "\u200b", "\u00ad", "\u2060"]


@st.composite
def disguised(draw, word: str) -> str:
    out = []
    for index, ch in enumerate(word):
        shapes = [ch, ch.upper(), chr(ord(ch) - ord("a") + 0xFF41)]
        shapes += list(_STAND_IN.get(ch, "")) + list(_LOOK_ALIKE.get(ch, ""))
        if index:
            out.append(draw(st.sampled_from(_INSIDE)))
        out.append(draw(st.sampled_from(shapes)))
    return "".join(out)


@st.composite
def forbidden_in_disguise(draw):
    word = draw(st.sampled_from(messages.FORBIDDEN_IN_PATIENT_MESSAGES + messages.OPT_OUT_WORDS))
    return word, draw(disguised(word))


@given(forbidden_in_disguise(), st.sampled_from(sorted(messages.PATIENT_KINDS)))
def test_any_disguise_of_a_forbidden_word_is_reported_by_name(case, kind):
    word, text = case
    problems = problems_for(f"Hi {{first_name}}, about {text} at {{clinic_name}}.", kind=kind)
    assert f"must not contain “{word}”" in refused_words(problems), (text, problems)


_VOCABULARY = [
    "a",
    "I",
    "we",
    "you",
    "us",
    "our",
    "it",
    "is",
    "at",
    "on",
    "in",
    "to",
    "do",
    "so",
    "no",
    "the",
    "and",
    "or",
    "if",
    "can",
    "will",
    "please",
    "call",
    "send",
    "see",
    "soon",
    "today",
    "time",
    "date",
    "clinic",
    "team",
    "nurse",
    "note",
    "room",
    "floor",
    "door",
    "line",
    "phone",
    "number",
    "book",
    "booked",
    "visit",
    "come",
    "came",
    "back",
    "next",
    "week",
    "ahead",
    "right",
    "new",
    "old",
    "stopped",
    "sending",
    "ending",
    "open",
    "closed",
    "morning",
    "evening",
    "thanks",
    "hello",
    "hi",
    "5B",
    "10",
    "3",
    "9:30",
    "2025-06-23",
    "+1-617-555-0100",
]


@given(
    st.lists(
        st.tuples(st.sampled_from(_VOCABULARY), st.sampled_from(["", "", "", ",", ".", "?"])),
        min_size=1,
        max_size=25,
    )
)
def test_plain_english_from_a_clean_vocabulary_is_never_refused(words):
    sentence = " ".join(word + mark for word, mark in words)
    assert problems_for(f"Hi {{first_name}}, {sentence} {{when}}") == []


# --------------------------------------------------------------------------- urgency


def test_the_call_today_text_cannot_be_made_calm():
    problems = problems_for(
        "Hi {first_name}, nothing urgent, call whenever convenient next month.",
        kind="overdue-call",
    )
    text = " ".join(problems)
    assert "{clinic_phone}" in text and "{clinic_after_hours_phone}" in text
    assert "“today”" in text and "“emergency”" in text
    assert "“nothing urgent”" in text and "“whenever”" in text and "“next month”" in text


def test_a_calm_phrase_is_refused_even_beside_the_required_words():
    problems = problems_for(
        "Hi {first_name}, no rush: call {clinic_phone} today or {clinic_after_hours_phone}; "
        "emergency department if unwell.",
        kind="overdue-call",
    )
    assert problems == [problems[0]] and "“no rush”" in problems[0]


def test_a_firm_call_today_text_of_the_managers_own_is_accepted():
    body = (
        "{first_name}, please ring {clinic_name} today on {clinic_phone} "
        "(evenings {clinic_after_hours_phone}). Alarm or unwell: emergency department now."
    )
    assert problems_for(body, kind="overdue-call") == []


@pytest.mark.parametrize("key", sorted(messages.DEFAULTS, key=str), ids=str)
def test_each_required_placeholder_is_named_when_it_is_missing(key):
    kind, channel = key
    text = messages.DEFAULTS[key]
    for name in messages.REQUIRED_PLACEHOLDERS.get(kind, ()):
        body = text.body.replace(f"{{{name}}}", "soon")
        problems = messages.template_problems(
            kind=kind, channel=channel, subject=text.subject, body=body
        )
        [problem] = [p for p in problems if "must include" in p]
        assert f"{{{name}}}" in problem, problems


def test_an_appointment_reminder_without_the_time_is_refused():
    problems = problems_for(
        "Hi {first_name}, see you soon at {clinic_name}.", kind="appointment-reminder"
    )
    assert problems == [
        "The message text must include {when}: the patient needs it to act on this message."
    ]


def test_a_required_placeholder_in_the_email_subject_only_does_not_count():
    problems = messages.template_problems(
        kind="booking-confirmation",
        channel=Channel.EMAIL,
        subject="Your appointment {when}",
        body="Hello {first_name}, see you soon.",
    )
    assert any("{when}" in p for p in problems)


# --------------------------------------------------------------------------- length


def test_a_too_long_text_says_it_is_too_long_not_that_it_is_missing():
    form = TemplateForm(
        {"body": "Hi {first_name}, see you {when}. " + "x" * 5000},
        kind="booking-confirmation",
        channel=Channel.EMAIL,
    )
    assert not form.is_valid()
    errors = " ".join(form.errors["body"])
    assert "too long" in errors
    assert "needs a text" not in errors


def test_an_sms_over_the_limit_says_how_long_it_is():
    body = "Hi {first_name}, see you {when}. " + "x" * 500
    [problem] = problems_for(body)
    assert f"480 characters or fewer (it has {len(body):,})" in problem


def test_the_edit_page_names_what_the_call_today_text_must_include(as_user, clinic):
    from django.urls import reverse

    from accounts.models import Role
    from tests.factories import staff

    url = reverse("reminders:template_edit", args=[clinic.pk, "overdue-call", "sms"])
    page = as_user(staff(clinic, Role.MANAGER)).get(url).content.decode()
    assert "must include" in page and "clinic_after_hours_phone" in page and "“today”" in page
    # The preview fills the after-hours number too.
    assert "+1 555-010-0199" in page


def test_a_clinic_text_saved_before_the_rules_is_not_sent(db):
    """A clinic template stored before the rules (here a calm "call today") is never sent:
    the all-clinics default goes instead, and a rule-abiding clinic text is still used."""
    from patients.models import Channel
    from reminders.messages import template_for
    from reminders.models import MessageTemplate
    from tests.factories import ClinicFactory

    clinic = ClinicFactory()
    # Written straight to the table, as an old row would be: the page would refuse it now.
    MessageTemplate.objects.create(
        clinic=clinic,
        kind="overdue-call",
        channel=Channel.SMS,
        body="Nothing urgent, call {clinic_phone} whenever convenient next month.",
    )
    text = template_for(clinic_id=clinic.pk, kind="overdue-call", channel=Channel.SMS)
    assert "whenever convenient" not in text.body
    assert "today" in text.body and "emergency" in text.body

    MessageTemplate.objects.filter(clinic=clinic).update(
        body="{first_name}: please call {clinic_phone} today (after hours "
        "{clinic_after_hours_phone}); if the alarm sounds go to the emergency department."
    )
    text = template_for(clinic_id=clinic.pk, kind="overdue-call", channel=Channel.SMS)
    assert text.body.startswith("{first_name}: please call")
