"""What the web UI's tests do with the headless Chromium of conftest's `browser` fixture: read
a page's text, wait for some, and save screenshots to test-artifacts/screenshots/ for a person
to look at."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import wait_until

SCREENSHOTS = Path(os.environ.get("RUNYARD_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")) / "screenshots"


def shot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def text(driver) -> str:
    return driver.find_element("tag name", "body").text


def wait_for_text(driver, wanted: str, timeout: float = 60):
    return wait_until(lambda: wanted in text(driver), timeout=timeout, interval=0.25,
                      message=f"{wanted!r} on {driver.current_url}")
