"""RunDetails (v1: azureml.widgets.RunDetails): a live view of a run in a Jupyter cell."""

from __future__ import annotations

import html
import threading

from runyard.errors import UserErrorException, received

REFRESH_SECONDS = 2.0


def _in_a_kernel() -> bool:
    """A Jupyter kernel with ipywidgets: widgets render (a plain IPython shell prints)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class RunDetails:
    """`RunDetails(run).show()`: in Jupyter a widget that follows the run (status and
    lifecycle, a chart per metric, child runs of a sweep, the output's last lines, a link to
    its page) until it ends; elsewhere the same as text, once.

    Example:
        from runyard.widgets import RunDetails
        RunDetails(run).show()
    """

    def __init__(self, run_instance):
        from runyard.runs.run import Run

        if not isinstance(run_instance, Run):
            raise UserErrorException(f"RunDetails takes a Run (Experiment.submit's result or Run.get). "
                                     f"Received: {received(run_instance)}")
        self.run = run_instance
        self.widget = None  # the ipywidgets.HTML that show() displayed in a notebook
        self._stop = threading.Event()
        self._updater: threading.Thread | None = None

    def get_widget_data(self, widget_settings=None) -> dict:
        """What the view shows, read now (v1's name)."""
        from runyard.widgets.render import widget_data

        return widget_data(self.run)

    def show(self, render_lib=None, widget_settings=None) -> None:
        """Display the view, and follow the run in a notebook."""
        from runyard.widgets.render import text_view

        if not _in_a_kernel():
            print(text_view(self.get_widget_data()), flush=True)
            return
        import ipywidgets
        from IPython.display import display

        if self.widget is None:
            self.widget = ipywidgets.HTML()
        self.refresh()
        display(self.widget)
        if self._updater is None or not self._updater.is_alive():
            self._stop.clear()
            self._updater = threading.Thread(target=self._follow, name="runyard-run-details", daemon=True)
            self._updater.start()

    def refresh(self) -> dict:
        """Read the run now and redraw the widget; returns what it shows."""
        from runyard.widgets.render import html_view

        data = self.get_widget_data()
        if self.widget is not None:
            self.widget.value = html_view(data)
        return data

    def stop(self) -> None:
        """Stop following (the widget keeps what it shows)."""
        self._stop.set()

    def _follow(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                if self.refresh()["ended"]:
                    return
            except Exception as exc:  # noqa: BLE001  a notebook's background thread must not die loudly
                if self.widget is not None:
                    self.widget.value += f"<div>(stopped following: {html.escape(f'{type(exc).__name__}: {exc}')})</div>"
                return
