"""Who gets an Inbound: events, menu keys, global commands, then the citizen flows."""
