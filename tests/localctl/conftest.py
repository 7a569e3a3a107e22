"""The browser fixture of the dashboard tests, for the controller's status page."""

from tests.web.conftest import browser  # noqa: F401
