"""Provides RunForm: labelled one-line inputs, Run and Cancel buttons, a progress bar and a status line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Static


@dataclass(frozen=True, slots=True)
class Field:
    """One input of the form: its id (the key in `values`), label, initial text and hint."""

    id: str
    label: str
    value: str = ""
    placeholder: str = ""


def _dom_id(field_id: str) -> str:
    """Field ids may be config keys (strategy.entry_z); widget ids may not hold dots."""
    return "field-" + field_id.replace(".", "-").replace("_", "-")


class RunForm(Vertical):
    """A form that asks for a run; the screen does the run and sets `running`, `progress` and `status`.

    Args:
        title: the border title.
        fields: the text inputs, in order.
        toggles: checkboxes as (id, label, initially on).
    """

    running: reactive[bool] = reactive(False)
    progress: reactive[tuple[int, int] | None] = reactive(None)
    status: reactive[str] = reactive("")

    @dataclass
    class RunRequested(Message):
        """Run pressed (or Enter in a field): every field's text, every toggle's state."""

        form: RunForm
        values: dict[str, str | bool]

        @property
        def control(self) -> RunForm:
            return self.form

    @dataclass
    class CancelRequested(Message):
        form: RunForm

        @property
        def control(self) -> RunForm:
            return self.form

    def __init__(self, title: str, fields: Sequence[Field], toggles: Sequence[tuple[str, str, bool]] = (), *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = title
        self._fields = tuple(fields)
        self._toggles = tuple(toggles)

    def compose(self) -> ComposeResult:
        with Grid(classes="fields"):
            for f in self._fields:
                yield Label(f.label, classes="field-label")
                yield Input(f.value, placeholder=f.placeholder, id=_dom_id(f.id), compact=True)
        for toggle_id, label, on_ in self._toggles:
            yield Checkbox(label, on_, id=f"toggle-{toggle_id}", compact=True)
        with Horizontal(classes="buttons"):
            yield Button("Run", id="run", variant="primary", compact=True)
            yield Button("Cancel", id="cancel", variant="error", disabled=True, compact=True)
        yield ProgressBar(total=1, show_eta=False, id="progress")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self.border_title = self._title

    def values(self) -> dict[str, str | bool]:
        out: dict[str, str | bool] = {f.id: self.query_one(f"#{_dom_id(f.id)}", Input).value for f in self._fields}
        for toggle_id, _, _ in self._toggles:
            out[toggle_id] = self.query_one(f"#toggle-{toggle_id}", Checkbox).value
        return out

    def set_value(self, field_id: str, text: str) -> None:
        self.query_one(f"#{_dom_id(field_id)}", Input).value = text

    def request_run(self) -> None:
        if not self.running:
            self.post_message(self.RunRequested(self, self.values()))

    @on(Button.Pressed, "#run")
    @on(Input.Submitted)
    def _run(self, event: Message) -> None:
        event.stop()
        self.request_run()

    @on(Button.Pressed, "#cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.CancelRequested(self))

    def watch_running(self, running: bool) -> None:
        self.query_one("#run", Button).disabled = running
        self.query_one("#cancel", Button).disabled = not running
        self.set_class(running, "-running")

    def watch_progress(self, progress: tuple[int, int] | None) -> None:
        bar = self.query_one(ProgressBar)
        if progress is None:
            bar.update(total=1, progress=0)  # not indeterminate: its animation would never settle
            return
        done, total = progress
        bar.update(total=max(total, 1), progress=min(done, total))

    def watch_status(self, status: str) -> None:
        self.query_one("#status", Static).update(status)
