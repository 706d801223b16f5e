"""The portal names a user's email language in its own words, whichever form of the tag the user got: the
signup's (sv) and the portal's own select (sv-SE) read the same."""
import pytest

from functions.portal import language_name


@pytest.mark.parametrize("tag, name", [("sv", "Svenska"), ("sv-SE", "Svenska"), ("en", "English"),
                                       ("en-GB", "English"), ("de", "Deutsch"), ("xx-yy", "xx-yy"), ("", "")])
def test_a_language_reads_as_its_own_name(tag, name):
    assert language_name(tag) == name
