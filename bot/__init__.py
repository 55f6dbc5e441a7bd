"""The WeChat edge: HTTP callback, API client, dev platform and the command line."""
