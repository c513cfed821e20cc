"""What the person at the terminal reads while the lab works: progress lines on stderr.

stdout stays for data (`bench list`, `bench report`'s path), so a script can read it.
"""

from __future__ import annotations

import sys


def progress(message: str) -> None:
    """One line (or a few) of progress for the person watching."""
    print(message, file=sys.stderr, flush=True)
