"""Soma agent entities: long-lived, LLM-driven actors on top of :mod:`soma_runtime`."""
