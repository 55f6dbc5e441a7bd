"""The process: settings, the command line, logs, the app factory, the WeChat channel
(``bot/wechat/``) and the wiring that plugs it into the ports (``bot/wiring.py``)."""
