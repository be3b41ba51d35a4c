"""Where the browser tests find chromium, and how they start it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

# Debian's package (apt-get install chromium), never a Playwright download.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
# A machine with no network beyond localhost: no background fetches, no
# component updates, no first-run work; as root chromium needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
