"""AppTest helpers shared by the page tests."""

import re

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


def open_page(page: str, timeout: int = 300, **state) -> AppTest:
    """app.py with `state` in session state, switched to `page`; neither render may raise."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def session_statistics(at: AppTest, language_model: bool = False):
    """The session's shared statistics of the current run: the plain set, or the one holding the run's language model."""
    from uqviz.models.nli import DEFAULT_NLI

    held = at.session_state["statistics"]
    return held[(DEFAULT_NLI, None, language_model)]


def shown(markdown: str) -> str:
    """The text a markdown element shows: the pages escape every punctuation mark of messages that may carry user text."""
    return re.sub(r"\\(.)", r"\1", markdown)
