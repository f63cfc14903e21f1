"""Provides control of the hosted engine from Telegram: commands, confirmations, authorization, audit.

`telegram_control(settings, commands, snapshot, now_ms, store, events)` is the one entry point:
the host (daemon or dashboard) passes the engine's command handler, snapshot reader and clock,
its store and its event hook, then calls `start()` and `stop()` beside the watchdog's. Modules:
api (Bot API client), poller (getUpdates thread), updates (parsing), auth, confirm, router,
views and reports (replies), text (escaping, splitting), audit, ports (the interface), controller.
"""

from perpbot.ops.telegram.controller import Control, NoControl, TelegramController, telegram_control

__all__ = ["Control", "NoControl", "TelegramController", "telegram_control"]
