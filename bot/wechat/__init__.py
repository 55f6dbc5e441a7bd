"""The WeChat channel: the callback edge, the codec and crypto glue, the API client, the
platform's field rules and the custom menu. Of the product only ``bot/`` imports it; the
dev platform uses its codec to speak the same wire format."""
