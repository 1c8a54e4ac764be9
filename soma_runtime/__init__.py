"""Soma runtime: an OTP-style supervision tree for LLM-agent runs."""

import logging

__version__ = "0.1.0"

# A library never configures logging; this only keeps Python's last-resort handler from
# printing Soma's records when the application has not configured logging at all.
logging.getLogger("soma").addHandler(logging.NullHandler())
