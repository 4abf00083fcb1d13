"""What the commands share: who they act as, progress bars for the services' callbacks,
errors on one line."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from lessons.actor import Actor
from lessons.errors import ValidationError

OPERATOR = Actor("cli")  # whoever runs a command: the audit log's "who" for its changes


def problem(error: ValidationError) -> str:
    """A validation error as one line."""
    details = [f"{key}: {text}" for key, text in error.fields.items()
               if text not in error.message and key not in ("file",)]
    return " ".join([error.message, *details])


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar driven by the services' `on_progress(done, total)` callbacks."""
    with tqdm(unit="lesson", desc=description) as bar:
        def on_progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield on_progress
