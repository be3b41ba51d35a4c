"""A stand-in web process for the bulk-decision durability test.

    python -m tests.integration.web_process USERNAME BATCH_ID ORDER_ID...

Serves one real POST to /approvals/bulk/ (the view, the form, the service,
the workflow start) as USERNAME, prints the answer, then idles like a web
server between requests, until the test kills it with SIGKILL.
"""
from __future__ import annotations

import os
import sys
import time

import django


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    username, batch_id, *order_ids = argv
    browser = Client(HTTP_HOST="localhost")  # not "testserver": this is no test run
    browser.force_login(get_user_model().objects.get(username=username))
    response = browser.post(
        "/approvals/bulk/", {"orders": order_ids, "decision": "approve", "comment": "Month-end run", "request_id": batch_id},
    )
    print(response.status_code, response.get("Location", ""), flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1:])
