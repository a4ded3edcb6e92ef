"""Which exceptions the CLI reports as one line (the user's problem) and which keep their traceback (a bug).

A user error is a problem the user can fix from the message alone: a radio, link, file or system
error (``RadioError``, ``LinkError``, ``OSError``: a missing file, a full disk, a refused device), or a
``ValueError`` raised on purpose by a ``raise`` statement in this project's own code (argument and
input validation, e.g. ``OfdmParams``' checks or ``read_image``). A ``ValueError`` raised anywhere
else (NumPy broadcasting, SciPy, torch, an arithmetic slip) is a bug, as is every other exception.
"""
from __future__ import annotations

import traceback
from pathlib import Path

from diffradio.link import LinkError
from sdr import RadioError

USER_ERRORS: tuple[type[BaseException], ...] = (LinkError, RadioError, OSError)
"""Always user-facing: their messages name the problem and the fix."""

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("diffradio", "phy", "sdr", "semantic", "scripts")


def _raised_on_purpose(exc: BaseException) -> bool:
    """True when the innermost frame of ``exc``'s traceback is a ``raise`` statement in the project."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    last = frames[-1]
    path = Path(last.filename).resolve()
    try:
        package = path.relative_to(PROJECT_ROOT).parts[0]
    except ValueError:
        return False
    return package in PROJECT_PACKAGES and (last.line or "").lstrip().startswith("raise")


def is_user_error(exc: BaseException) -> bool:
    """Whether the CLI should report ``exc`` as one line (exit 2) rather than as a bug (traceback)."""
    if isinstance(exc, USER_ERRORS):
        return True
    return isinstance(exc, ValueError) and _raised_on_purpose(exc)
