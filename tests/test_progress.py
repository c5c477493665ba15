"""The progress bar draws on a terminal and stays silent otherwise (CI, sweeps, logs)."""

import io

from pipeline.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_draws_on_a_terminal():
    stream = Terminal()
    bar = Progress(10, label="mlp", stream=stream, width=10)
    bar.update(10, "fold 4")
    bar.close()
    assert "mlp [##########] 10/10 fold 4" in stream.getvalue()
    assert stream.getvalue().endswith("\n")


def test_silent_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(10, stream=stream)
    bar.update(5)
    bar.close()
    assert stream.getvalue() == ""
