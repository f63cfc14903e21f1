"""Provides RunScreen, the base of the screens whose form starts a long job (backtest, walk-forward).

The job runs in a worker thread with a progress callback; the callback is where a cancel takes
effect (it raises RunCancelled), so the engine code stays unaware of Textual. Progress and the
outcome come back as messages, handled on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.message import Message
from textual.worker import Worker, get_current_worker

from perpbot.errors import PerpbotError
from perpbot.tui.backtest_data import RunCancelled
from perpbot.tui.screens.base import DashboardScreen
from perpbot.tui.session import SessionInfo
from perpbot.tui.widgets.run_form import Field, RunForm

Progress = Callable[[int, int], None]
Job = Callable[[Progress], Any]


class RunScreen(DashboardScreen):
    """A DashboardScreen with a RunForm (#form) whose job runs off the UI thread, cancellable.

    Subclasses set JOB (as named in notifications), WORKER_GROUP and IDLE_FOCUS (what escape
    focuses when nothing runs), and implement `form_fields` and `show_result`.
    """

    JOB = "Run"
    WORKER_GROUP = "run"
    IDLE_FOCUS = "#form"

    @dataclass
    class Progressed(Message):
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RunScreen.Progressed)

    @dataclass
    class Finished(Message):
        result: Any  # the job's result; None when it failed or was cancelled
        error: str | None = None
        cancelled: bool = False

    def __init__(self) -> None:
        super().__init__()
        self._worker: Worker[None] | None = None
        self._filled = False

    def form_fields(self, settings: Any | None) -> list[Field]:
        """The form's fields, filled from `settings` (None before the session is known)."""
        raise NotImplementedError

    def show_result(self, result: Any) -> None:
        """Show what the job returned."""
        raise NotImplementedError

    def show_info(self, info: SessionInfo) -> None:
        if self._filled:
            return
        self._filled = True
        form = self.query_one(RunForm)
        for f in self.form_fields(info.settings):
            form.set_value(f.id, f.value)

    def action_run(self) -> None:
        self.query_one(RunForm).request_run()

    def action_cancel(self) -> None:
        if self._worker is not None and self._worker.is_running:
            self._cancel_requested()
        else:
            self.query_one(self.IDLE_FOCUS).focus()

    @on(RunForm.CancelRequested, "#form")
    def _cancel_requested(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.query_one(RunForm).status = "Cancelling..."

    def start_job(self, job: Job, status: str, steps: int = 1) -> None:
        """Run `job(progress)` in a worker thread; its result (or failure) arrives as Finished."""
        form = self.query_one(RunForm)
        form.running, form.progress, form.status = True, (0, steps), status

        def body() -> None:
            worker = get_current_worker()

            def progress(done: int, total: int) -> None:
                if worker.is_cancelled:
                    raise RunCancelled(f"the {self.JOB.lower()} was cancelled")
                self.post_message(self.Progressed(done, total))

            try:
                result = job(progress)
            except RunCancelled:
                self.post_message(self.Finished(None, cancelled=True))
            except PerpbotError as exc:
                self.post_message(self.Finished(None, str(exc)))
            else:
                self.post_message(self.Finished(result))

        self._worker = self.run_worker(body, thread=True, exclusive=True, group=self.WORKER_GROUP,
                                       exit_on_error=False)

    def on_run_screen_progressed(self, message: Progressed) -> None:
        self.query_one(RunForm).progress = (message.done, message.total)

    def on_run_screen_finished(self, message: Finished) -> None:
        form = self.query_one(RunForm)
        form.running = False
        if message.cancelled:
            form.progress, form.status = None, "Cancelled."
            self.notify(f"{self.JOB} cancelled")
        elif message.result is None:
            form.progress, form.status = None, f"Failed: {message.error}"
            self.notify(str(message.error), title=f"{self.JOB} failed", severity="error", timeout=10)
        else:
            form.progress = (1, 1)
            self.show_result(message.result)
