"""The baseline for ``bench/callback.py``: the least a safe-mode WeChat bot must do.

A bare aiohttp handler that checks ``signature``, lets wechatpy check ``msg_signature`` and
decrypt the body, parses the message with ``wechatpy.parse_message``, and answers with an
encrypted :class:`wechatpy.replies.TextReply`. No dedupe, no locks, no state, no logging per
message: whatever lianxin's edge adds on top of this is what the benchmark measures.

Run by the benchmark as ``python bench/baseline_server.py --port P --token T --aes-key K
--app-id A``; it answers ``GET /healthz`` once it listens and stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

# About as long as lianxin's default answer to an unrecognised text (its "unrecognised"
# text plus the help text), so both servers encrypt replies of similar size.
REPLY_TEXT = (
    "抱歉，没有看懂您的意思。使用说明：回复“我要反映”或“投诉”向有关部门反映问题；"
    "回复“我的留言”或“查询”查看办理进度；回复“法律咨询”向值班律师免费提问；"
    "办理中随时回复“取消”退出，“返回”回到上一步。如遇紧急情况，请直接拨打 110、119、120。"
    "您好，欢迎关注连心！我们帮您把诉求送到相关部门，也为您免费联系值班律师。"
)
MAX_BODY = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.Response]]


def make_handler(token: str, aes_key: str, app_id: str) -> Handler:
    crypto = WeChatCrypto(token, aes_key, app_id)

    async def callback(request: web.Request) -> web.Response:
        q = request.query
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        try:
            check_signature(token, q.get("signature", ""), timestamp, nonce)
            body = await request.text()
            xml = crypto.decrypt_message(body, q.get("msg_signature", ""), timestamp, nonce)
            message = parse_message(xml)
        except (InvalidSignatureException, InvalidAppIdException):
            return web.Response(status=403, text="forbidden")
        except Exception:  # unreadable XML, bad base64 or padding: the client's fault
            return web.Response(status=400, text="bad request")
        reply = TextReply(message=message, content=REPLY_TEXT)
        return web.Response(
            text=crypto.encrypt_message(reply.render(), nonce, timestamp),
            content_type="application/xml",
        )

    return callback


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(token: str, aes_key: str, app_id: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/wechat", make_handler(token, aes_key, app_id))
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="baseline WeChat safe-mode callback server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--aes-key", required=True, help="43-character EncodingAESKey")
    parser.add_argument("--app-id", required=True)
    args = parser.parse_args(argv)
    app = build_app(args.token, args.aes_key, args.app_id)
    # the same garbage-collection set-up lianxin serve uses, so the comparison is fair
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    print(f"baseline: serving http://{args.host}:{args.port}/wechat", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None,
                shutdown_timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
