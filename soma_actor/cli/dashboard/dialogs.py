"""The dashboard's dialogs: the question before a run is cancelled, and the help screen (``?``)
that says what every key, column and mark means."""

from __future__ import annotations

from typing import Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

HELP: Final = """\
[b]keys[/b]
  ↑ ↓ pgup pgdn home end  move in the focused table; tab: the next panel
  enter         details of the row: a run (whole error, its steps), an
                agent (signals, pressure chart), a guidance firing
  t             the selected run's trace: every event, in order
  c             cancel the selected run; it asks first (needs --control)
  /             filter by agent, run, session, task or event type
  esc           clear the filter; close a view
  v             show or hide vitals.updated events in the tail
  1 2 3 4       tabs: event tail, supervision tree, guidance firings,
                outcomes (does guidance help? per pattern, as in
                `soma outcomes`: verdict, n treated/control, recovery
                rates with Wilson 95% intervals, Fisher's exact p)
  ?             this help                              q   quit

[b]agents[/b]
  press   effective pressure, 0 to 1: the agent's own, raised when
          agents it trusts struggle
  mode    its band: observe < .25 <= guide < .5 <= warn < .75 <= block;
          guide and warn put guidance in its next model call, block
          refuses its destructive tools
  unc drf err tok cost
          each signal's pressure: uncertainty (hedging, repeated calls),
          drift from the session's intent, error rate, tokens and
          dollars per action
  trend   pressure over its last actions, on a fixed 0-1 scale
  guid    guidance messages fired for it (tab 3 lists them)

[b]runs[/b] (live ones first, then the newest)
  state   accepted, executing, waiting_tool (a tool runs), then
          completed, failed, cancelled or timeout
  step    which step of how many, its id and its tool
  note    what went wrong (all of it: enter), or the task that ran it

[b]tree[/b] (tab 2, with --control): a line per process of the runtime
  name · kind · pid · status:state · q=N · ⟳ message
  name    its registered name, its run or session id, or the function
          a plain process runs
  kind    supervisor, dynamic_supervisor, gen_server, gen_statem, or
          process (a plain task)
  pid     <node.process.0>, as Erlang writes them
  status  waiting (for a message) or running; a gen_statem's state
          after the colon
  q=N     messages waiting in its mailbox (red when any); ⟳ the one it
          is handling now

[b]header[/b]  the database · the control socket (or read-only) · the
          last event read (seq) · the filter
"""


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismissed with True only for an explicit yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmScreen Horizontal { height: auto; width: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; min-width: 10; }
    """

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, style="bold"))
            if self.detail:
                yield Static(Text(self.detail, style="dim"))
            with Horizontal():
                yield Button("y  yes", id="yes", variant="error")
                yield Button("n  no", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """What every key, column and mark of the dashboard means."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("q", "app.pop_screen", "Close", show=False),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 78;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        frame = VerticalScroll()
        frame.border_title = "soma dashboard · help (esc to close)"
        with frame:
            yield Static(HELP)
