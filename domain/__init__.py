"""Pure rules and channel-neutral types; no I/O, no WeChat."""
