"""Bad-input errors say where: file, line and field, whichever are known."""

from tally.errors import BadInputError, TerminalError, TransientError, WarehouseBusyError


def test_bad_input_names_what_is_known():
    assert str(BadInputError("not a date", file="f.csv", line=3, field="Day")) == (
        "f.csv, line 3, field 'Day': not a date"
    )
    empty = BadInputError("must not be empty", field="name")
    assert str(empty) == "field 'name': must not be empty"
    assert str(BadInputError("empty file")) == "empty file"
    assert BadInputError("x", file="f.csv").reason == "x"


def test_retry_is_decided_by_class():
    assert isinstance(BadInputError("x"), TerminalError)
    assert isinstance(WarehouseBusyError("locked"), TransientError)
