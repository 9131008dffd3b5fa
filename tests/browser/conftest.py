"""Fixtures for the console's browser tests: headless Debian Chromium through Selenium, one
browser per signed-in user, screenshots of every step and of every open browser on failure.

The members and tokens come from the environment (set by node/tests/console_browser.rs):
STRIAE_A_URL, STRIAE_A_ADMIN, STRIAE_A_REVIEWER, STRIAE_A_ANALYST, STRIAE_B_URL,
STRIAE_B_ADMIN, STRIAE_B_OFFICER, STRIAE_ARTIFACTS, and optionally STRIAE_SCAN_A/B (X3P).
"""

import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("STRIAE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("STRIAE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("STRIAE_ARTIFACTS", "target/browser-artifacts"))
WAIT = 30


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite through `cargo test --test console_browser`")
    return value


class Console:
    """A headless Chromium signed in to one member's console as one user."""

    counter = 0
    visits = 0

    def __init__(self, label, base, token):
        self.label = label
        self.base = base.rstrip("/")
        self.token = token
        self.profile = tempfile.TemporaryDirectory(prefix="striae-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--window-size=1280,1600",
            f"--user-data-dir={self.profile.name}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Selenium Manager must not try to download a driver: the Debian one is given.
        os.environ.setdefault("SE_OFFLINE", "true")
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(WAIT)

    # --- navigation -------------------------------------------------------------------

    def sign_in(self):
        """Opens the console with the token in the fragment; waits for who is signed in."""
        self.driver.get(f"{self.base}/console/#token={self.token}")
        self.wait_css("#who-role")
        return self

    def go(self, page):
        """Shows `page` (e.g. "notices") and waits until it has rendered."""
        Console.visits += 1
        # A new hash each time, so that showing the page again renders it again.
        self.driver.execute_script(
            "document.getElementById('page').dataset.page = '';"
            "window.location.hash = arguments[0];",
            f"#/{page}?v={Console.visits}",
        )
        self.wait(lambda d: d.find_element(By.ID, "page").get_attribute("data-page") == page)

    # --- waiting and finding ---------------------------------------------------------

    def wait(self, condition, timeout=WAIT, message=""):
        # Tables are rebuilt on refresh: an element found a moment ago may be gone.
        ignored = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(
            condition, message)

    def wait_css(self, css, timeout=WAIT):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout, f"no visible {css}")

    def wait_text(self, css, text, timeout=WAIT):
        """Waits until the element at `css` contains `text`; the element."""
        self.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), timeout,
                  f"{css} never contained {text!r}")
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def poll(self, refresh, check, timeout=90, what="a condition"):
        """Runs `refresh()` and waits briefly for `check(driver)` until it holds; its value."""
        deadline = time.monotonic() + timeout
        while True:
            refresh()
            try:
                return self.wait(check, timeout=3)
            except TimeoutException:
                if time.monotonic() > deadline:
                    self.shot(f"timeout-{what}")
                    raise AssertionError(f"{self.label}: timed out waiting for {what}")

    def severe_logs(self):
        """The browser console's errors since the last call (CSP violations among them)."""
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def css(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def fill(self, element_id, value):
        el = self.driver.find_element(By.ID, element_id)
        if el.tag_name == "select":
            self.driver.execute_script(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));", el, value)
        elif el.get_attribute("type") == "date":
            self.driver.execute_script("arguments[0].value = arguments[1];", el, value)
        else:
            el.clear()
            el.send_keys(value)
        return el

    def refresh(self, button_id):
        """Clicks a page's Refresh button and waits until the lists it reloads are shown."""
        button = self.click(f"#{button_id}")
        self.wait(lambda d: button.is_enabled() and button.get_attribute("aria-busy") is None,
                  message=f"{button_id} never finished")

    def click(self, css):
        el = self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, css)), WAIT, f"{css} not clickable")
        el.click()
        return el

    # --- evidence -------------------------------------------------------------------

    def shot(self, step):
        Console.counter += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^a-z0-9]+", "-", f"{step}-{self.label}".lower()).strip("-")
        path = ARTIFACTS / f"{Console.counter:02d}-{name}.png"
        try:
            self.driver.save_screenshot(str(path))
        except WebDriverException:
            pass
        return path

    def quit(self):
        try:
            self.driver.quit()
        finally:
            self.profile.cleanup()


_OPEN = {}


@pytest.fixture(scope="session")
def console():
    """`console(label, url_env, token_env)`: a signed-in browser, one per label."""

    def open_console(label, url_env, token_env):
        if label not in _OPEN:
            _OPEN[label] = Console(label, env(url_env), env(token_env)).sign_in()
        return _OPEN[label]

    yield open_console
    for c in list(_OPEN.values()):
        c.quit()
    _OPEN.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for c in _OPEN.values():
            c.shot(f"FAILED-{item.name}")
