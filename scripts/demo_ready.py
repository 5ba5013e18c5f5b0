"""Wait for the demo's web server to answer, print where to go, then stay out of the way.

Runs as a one-shot program under the demo's supervisord (scripts/supervisord.demo.conf.in), so
the URL is printed after the start-up noise of the others, not lost above it. It exits when it
has printed; supervisord expects that and restarts nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request

port = os.environ.get("DEMO_PORT", "8000")
url = f"http://127.0.0.1:{port}/"
health = f"{url}accounts/healthz/"

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

deadline = time.monotonic() + 120
while True:
    try:
        with urllib.request.urlopen(health, timeout=2) as response:  # noqa: S310 (loopback)
            if response.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        print(f"The web server did not answer at {health} within 120 s; see its log above.")
        sys.exit(1)
    time.sleep(0.5)

# The worker and beat print their banners at about the same time; let them go first.
time.sleep(4)
print(
    "\n"
    f"  The clinic demo is running at {url}\n"
    "  Demo logins and their authenticator (TOTP) secrets: printed by seed_demo during set-up;\n"
    "  the current code of one: DEMO_MODE=true uv run python manage.py demo_totp USERNAME\n"
    f"  Emails the demo sends are files in {os.environ.get('DATA_DIR', 'var')}/outbox-mail/.\n"
    "  A worker, beat or web server that stops is restarted; press Ctrl-C to stop them all.\n",
    flush=True,
)
