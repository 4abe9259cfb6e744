"""API tests use the shared app and people fixtures (tests/support/people.py, registered in tests/conftest.py)."""

from tests.support.people import PASSWORD, PEOPLE, PLACES  # noqa: F401 - re-exported for the tests
