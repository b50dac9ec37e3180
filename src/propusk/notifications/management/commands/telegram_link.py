"""Read the Telegram bot's updates (``/start <code>`` from employees linking their chat).

``manage.py telegram_link`` reads what is waiting once; ``--loop`` keeps long-polling (run it
beside the worker when the webhook is not used). Telegram refuses getUpdates while a webhook
is set: use one or the other.

With ``--loop`` nothing ends the command but a stop: a failure that may pass is tried again
after 5 s; a refusal (a token Telegram does not know, a webhook set) is reported on standard
error and tried again after ``REFUSED_WAIT_SECONDS``, so a process manager running it beside
the web server and the workers (``make run``) is not stopped by a Telegram setting.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from propusk.notifications import channels, telegram
from propusk.notifications.channels import Retry, Undeliverable

RETRY_WAIT_SECONDS = 5.0
REFUSED_WAIT_SECONDS = 60.0


def wait(seconds: float) -> None:
    time.sleep(seconds)


class Command(BaseCommand):
    help = "Read the Telegram bot's updates and link the chats that sent a valid code."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep polling until stopped")
        parser.add_argument(
            "--timeout", type=int, default=25, help="long-poll seconds per call with --loop"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not channels.telegram_configured():
            raise CommandError("Telegram is not configured: set PROPUSK_TELEGRAM_BOT_TOKEN")
        if not options["loop"]:
            try:
                count = telegram.poll_once(timeout=0)
            except (Retry, Undeliverable) as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{count} update(s) read")
            return
        while True:
            try:
                telegram.poll_once(timeout=options["timeout"])
            except Undeliverable as exc:
                self.stderr.write(
                    f"Telegram refused: {exc}; check PROPUSK_TELEGRAM_BOT_TOKEN and that no "
                    f"webhook is set; trying again in {REFUSED_WAIT_SECONDS:g} s"
                )
                wait(REFUSED_WAIT_SECONDS)
            except Retry as exc:
                self.stderr.write(f"{exc}; trying again in {RETRY_WAIT_SECONDS:g} s")
                wait(RETRY_WAIT_SECONDS)
