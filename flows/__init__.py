"""Conversation engine: per-user conversation state and, later, declarative flows."""
