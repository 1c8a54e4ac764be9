"""Soma runtime: an OTP-style supervision tree for LLM-agent runs."""

__version__ = "0.1.0"
