"""Persistence: SQL models and migrations, and the small key/value stores (memory or Redis)."""
