"""The dev platform: a local stand-in for the WeChat platform, and the terminal chat.

- :mod:`.api` — the API side (``stable_token``, ``token``, ``message/custom/send``);
- :mod:`.messages`, :mod:`.signing`, :mod:`.replies`, :mod:`.wechat_side` — the callback
  side: build messages as WeChat does, sign/encrypt them, POST them with WeChat's retries,
  and read the bot's passive reply as WeChat would;
- :mod:`.server` — both sides plus the chat endpoints, as ``lianxin devplatform`` serves them;
- :mod:`.chat` — ``lianxin chat``; :mod:`.runner` — ``lianxin dev``.
"""
