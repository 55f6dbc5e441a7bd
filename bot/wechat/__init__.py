"""The WeChat channel: the callback edge, the codec and crypto glue, the API client, the
platform's field rules and the custom menu. Nothing outside ``bot/`` imports it."""
