"""The dev platform: a local stand-in for the WeChat platform, and the terminal chat.

- :mod:`.api` — the API side (tokens; custom, template and subscribe messages; media;
  menu; user info; ``/dev/admin/faults``), with the rules of :mod:`.rules` and the memory
  and test hooks of :mod:`.state` (:class:`~.state.PlatformState`);
- :mod:`.messages`, :mod:`.signing`, :mod:`.replies`, :mod:`.wechat_side` — the callback
  side: build messages as WeChat does, sign/encrypt them, POST them with WeChat's retries,
  and read the bot's passive reply as WeChat would;
- :mod:`.server` — both sides plus the chat endpoints, as ``lianxin devplatform`` serves them;
- :mod:`.chat` — ``lianxin chat``; :mod:`.runner` — ``lianxin dev``.
"""
