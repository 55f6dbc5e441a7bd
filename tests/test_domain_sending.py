"""The delivery port's own rules: the purposes of ``config/delivery.toml`` and the errors a
send reports, without a channel behind them."""

from __future__ import annotations

import pytest

from domain.sending import FieldError, Purpose, PurposesError, SendError, parse_purposes

WHERE = "delivery.toml"


def test_a_failed_send_says_its_code_and_whether_it_may_have_arrived() -> None:
    refused = SendError(45015, "response out of time limit")
    assert str(refused) == "send failed, errcode 45015: response out of time limit"
    assert (refused.errcode, refused.errmsg, refused.may_have_arrived) == (
        45015, "response out of time limit", False)
    lost = SendError(-1, "timeout", may_have_arrived=True)
    assert lost.may_have_arrived
    assert str(SendError(-2)) == "send failed, errcode -2: "
    assert SendError(-2).errmsg == ""


def test_a_refused_field_names_its_path() -> None:
    error = FieldError("data.thing1.value", "longer than 20 characters")
    assert isinstance(error, ValueError)
    assert str(error) == "data.thing1.value: longer than 20 characters"
    assert (error.field, error.problem) == ("data.thing1.value", "longer than 20 characters")


def test_purposes_are_read_with_their_templates_and_fields() -> None:
    purposes = parse_purposes({"purposes": {
        "reply": {},
        "ticket_status": {"template_id": "TM_STATUS", "subscribe_template_id": "SUB_STATUS",
                          "fields": {"character_string1": "ticket_no", "thing2": "department"}},
        "survey": {"subscribe_template_id": "SUB_SURVEY", "fields": {"thing1": "question"}},
    }}, WHERE)
    assert purposes == {
        "reply": Purpose("reply", None, None, {}),
        "ticket_status": Purpose("ticket_status", "TM_STATUS", "SUB_STATUS",
                                 {"character_string1": "ticket_no", "thing2": "department"}),
        "survey": Purpose("survey", None, "SUB_SURVEY", {"thing1": "question"}),
    }
    assert list(purposes) == ["reply", "ticket_status", "survey"]
    assert parse_purposes({"purposes": {}}, WHERE) == {}


@pytest.mark.parametrize(("data", "message"), [
    ({}, "delivery.toml: needs [purposes.NAME] tables"),
    ({"purposes": ["reply"]}, "delivery.toml: needs [purposes.NAME] tables"),
    ({"purposes": {"reply": "custom"}}, "delivery.toml: [purposes.reply]: must be a table"),
    ({"purposes": {"reply": {"template": "TM", "colour": "red"}}},
     "delivery.toml: [purposes.reply]: unknown key colour"),
    ({"purposes": {"survey": {"template_id": "", "fields": {"a": "b"}}}},
     "delivery.toml: [purposes.survey]: template_id must be a non-empty string"),
    ({"purposes": {"survey": {"template_id": 7, "fields": {"a": "b"}}}},
     "delivery.toml: [purposes.survey]: template_id must be a non-empty string"),
    ({"purposes": {"survey": {"subscribe_template_id": "", "fields": {"a": "b"}}}},
     "delivery.toml: [purposes.survey]: subscribe_template_id must be a non-empty string"),
    ({"purposes": {"survey": {"subscribe_template_id": ["S"], "fields": {"a": "b"}}}},
     "delivery.toml: [purposes.survey]: subscribe_template_id must be a non-empty string"),
    ({"purposes": {"survey": {"template_id": "TM", "fields": ["ticket_no"]}}},
     "delivery.toml: [purposes.survey]: fields must map template keys to field names"),
    ({"purposes": {"survey": {"template_id": "TM", "fields": {"thing1": ""}}}},
     "delivery.toml: [purposes.survey]: fields must map template keys to field names"),
    ({"purposes": {"survey": {"template_id": "TM", "fields": {"thing1": 1}}}},
     "delivery.toml: [purposes.survey]: fields must map template keys to field names"),
    ({"purposes": {"survey": {"template_id": "TM", "fields": {1: "question"}}}},
     "delivery.toml: [purposes.survey]: fields must map template keys to field names"),
    ({"purposes": {"survey": {"template_id": "TM"}}},
     "delivery.toml: [purposes.survey]: a template needs fields"),
    ({"purposes": {"survey": {"subscribe_template_id": "SUB", "fields": {}}}},
     "delivery.toml: [purposes.survey]: a template needs fields"),
])
def test_a_wrong_purpose_is_refused_naming_its_table_and_key(
    data: dict[str, object], message: str,
) -> None:
    with pytest.raises(PurposesError) as info:
        parse_purposes(data, WHERE)
    assert str(info.value) == message


def test_the_first_unknown_key_is_named_in_order() -> None:
    with pytest.raises(PurposesError) as info:
        parse_purposes({"purposes": {"p": {"zeta": 1, "alpha": 2, "template_id": "T"}}}, WHERE)
    assert str(info.value) == "delivery.toml: [purposes.p]: unknown key alpha"


def test_fields_without_a_template_are_kept() -> None:
    purposes = parse_purposes({"purposes": {"note": {"fields": {"thing1": "text"}}}}, WHERE)
    assert purposes["note"] == Purpose("note", None, None, {"thing1": "text"})
