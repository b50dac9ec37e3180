"""Read the Telegram bot's updates (``/start <code>`` from employees linking their chat).

``manage.py telegram_link`` reads what is waiting once; ``--loop`` keeps long-polling (run it
beside the worker when the webhook is not used). Telegram refuses getUpdates while a webhook
is set: use one or the other.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from propusk.notifications import channels, telegram
from propusk.notifications.channels import Retry, Undeliverable


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
                raise CommandError(str(exc)) from None
            except Retry as exc:
                self.stderr.write(f"{exc}; trying again in 5 s")
                time.sleep(5)
