"""The web console under ``/console`` (``docs/CONSOLE.md``): staff sign in with their
password and work tickets in a browser, on the same office rules as the staff API
(``bot/staff/office.py``). Server-rendered pages (aiohttp-jinja2), an encrypted session
cookie (aiohttp-session), a CSRF token on every form, sign-in throttled per login and per
address. The public board (``/board``) is ``bot/board.py``."""
