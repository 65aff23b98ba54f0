"""Debian's chromium driven by Selenium, for the tests that need a real browser (the web
process itself: tests/web/gunicorn_process.py)."""

from __future__ import annotations

from pathlib import Path

#: Chromium's flags: headless, no sandbox (root in CI), and every host but loopback
#: unreachable, so an asset fetched from a CDN would fail to load.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


def chromium(profile: Path, *, width: int = 1280, height: int = 900):
    """Debian's headless chromium under Selenium (quit it when done)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)
