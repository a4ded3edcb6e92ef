"""The exception types the CLI reports as one line instead of a traceback."""
from __future__ import annotations

from diffradio.link import LinkError
from sdr import RadioError

USER_ERRORS: tuple[type[BaseException], ...] = (LinkError, RadioError, ValueError, OSError)
