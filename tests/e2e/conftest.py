"""A real `streamlit run app.py` on a free localhost port, driven by Playwright in Debian's chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    port = free_port()
    home = tmp_path_factory.mktemp("uqviz-home")
    env = {
        **os.environ,
        "TQDM_DISABLE": "1",
        "UQVIZ_STORE": str(home / "runs.sqlite3"),
    }
    log = open(home / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"streamlit exited: {(home / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        server.kill()
        raise RuntimeError("streamlit did not start within 120 s")
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


SCRIPT_STATE = "document.querySelector(\"[data-testid='stApp']\")?.getAttribute('data-test-script-state')"


def wait_for_app(page, timeout: float = 300_000) -> None:
    """Streamlit's own harness: connected, the rerun a click asked for started (or already over), then not running."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=60_000)
    try:
        page.wait_for_function(f"() => {SCRIPT_STATE} === 'running'", timeout=3_000)
    except PlaywrightTimeoutError:
        pass  # a rerun that finished before the first poll
    page.wait_for_function(f"() => {SCRIPT_STATE} === 'notRunning'", timeout=timeout)
    page.wait_for_timeout(300)


def wait_for_drawn(page, selector: str, timeout: float = 300_000) -> None:
    """Wait until the selector is drawn (a slow machine may start the rerun late); on timeout, say what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_selector(selector, timeout=timeout)
    except PlaywrightTimeoutError:
        alerts = page.locator("[data-testid='stAlert'], [data-testid='stException']").all_inner_texts()
        raise AssertionError(f"{selector} was not drawn; the page's alerts: {alerts}") from None
    wait_for_app(page)


HEADINGS = {"Sample": "uqviz: how sure is the model?", "What if": "What if"}


def open_view(page, title: str) -> None:
    """Click a navigation link, wait until that view's own heading is drawn, then until its rerun is over."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    page.locator("h1", has_text=HEADINGS.get(title, title)).first.wait_for(timeout=120_000)
    wait_for_app(page)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
