"""Provides the audit trail of remote commands: who sent what, when, and what came of it.

Records go to the `remote_commands` table (data/db.py, schema v2): a row is written with result
`running` before a command reaches the engine and completed after, so a crash in between still
leaves the attempt on record. Results: ok, error, asked (a confirmation was requested),
cancelled, expired, refused (stale, bad arguments, not the asker), unauthorized (first message
of a stranger only), unknown. Times are wall-clock epoch ms.
"""

from __future__ import annotations

import logging

from perpbot.clock import Clock
from perpbot.errors import StorageError
from perpbot.ops.telegram.ports import BotStore
from perpbot.ops.telegram.updates import Sender

log = logging.getLogger(__name__)

CHANNEL = "telegram"
DETAIL_CHARS = 500


class AuditLog:
    """Writes audit records; a storage failure is logged (with the record) and never stops a command.

    Args:
        store: where records go (the engine's Store).
        clock: the wall clock.
    """

    def __init__(self, store: BotStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def begin(self, sender: Sender, command: str) -> int | None:
        """Record a command about to run; returns the record id to finish (None if it could not be written)."""
        record_id = self._add(sender, command, "running", "")
        log.info("telegram_command", extra={"command": command, "user_id": sender.user_id, "record": record_id})
        return record_id

    def finish(self, record_id: int | None, result: str, detail: str = "") -> None:
        log.info("telegram_command_done", extra={"record": record_id, "result": result, "detail": detail[:DETAIL_CHARS]})
        if record_id is None:
            return
        try:
            self._store.finish_remote_command(record_id, result, detail[:DETAIL_CHARS], self._clock.now_ms())
        except StorageError as exc:
            log.error("telegram_audit_failed", extra={"record": record_id, "result": result, "error": str(exc)})

    def record(self, sender: Sender, command: str, result: str, detail: str = "") -> None:
        """One finished record at once (refusals, questions, answers)."""
        log.info("telegram_command", extra={"command": command, "user_id": sender.user_id, "result": result,
                                            "detail": detail[:DETAIL_CHARS]})
        self._add(sender, command, result, detail)

    def _add(self, sender: Sender, command: str, result: str, detail: str) -> int | None:
        try:
            return self._store.add_remote_command(self._clock.now_ms(), CHANNEL, str(sender.chat_id),
                                                  str(sender.user_id), sender.name, command[:200], result,
                                                  detail[:DETAIL_CHARS])
        except StorageError as exc:
            log.error("telegram_audit_failed", extra={"command": command, "user_id": sender.user_id,
                                                      "result": result, "error": str(exc)})
            return None
