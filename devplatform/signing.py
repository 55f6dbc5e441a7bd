"""Sign (and in safe mode encrypt) a callback request the way WeChat does.

The query carries ``signature`` (SHA-1 of token, timestamp, nonce), ``timestamp``, ``nonce``
and ``openid``; in safe mode also ``encrypt_type=aes`` and ``msg_signature`` (SHA-1 of token,
timestamp, nonce and the ciphertext), with the body ``<xml><ToUserName/><Encrypt/></xml>``.
"""

from __future__ import annotations

import time

from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.config import Account
from bot.wechat.codec import BadMessage, cdata_safe, parse_xml, sha1_signature
from devplatform.identity import new_nonce


def encrypt_for(account: Account, plain: str) -> str:
    """The base64 ciphertext of ``plain`` under the account's EncodingAESKey."""
    if not account.aes_key:
        raise ValueError(f"account {account.name} has no EncodingAESKey: cannot encrypt")
    key = WeChatCrypto(account.token, account.aes_key, account.app_id).key
    secret = PrpCrypto(key).encrypt(plain, account.app_id)  # base64 as bytes
    return secret.decode("ascii") if isinstance(secret, bytes) else str(secret)


def _field(body: str, name: str) -> str:
    try:
        value = parse_xml(body).get(name)
    except BadMessage:
        raise ValueError(f"not a WeChat message: cannot read {name}") from None
    if not isinstance(value, str) or not value:
        raise ValueError(f"the message has no {name}")
    return value


def sign_request(
    account: Account,
    body: str,
    *,
    encrypt: bool,
    openid: str | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], str]:
    """The query parameters and the body to POST for message ``body``.

    ``openid`` defaults to the message's FromUserName. With ``encrypt`` the body becomes
    the safe-mode envelope, or for an account in compatible mode the plaintext fields
    with the ``Encrypt`` field added, as WeChat sends them; ``ValueError`` if the account
    has no EncodingAESKey.
    """
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    once = new_nonce() if nonce is None else nonce
    query = {
        "signature": sha1_signature(account.token, stamp, once),
        "timestamp": stamp,
        "nonce": once,
        "openid": openid if openid is not None else _field(body, "FromUserName"),
    }
    if not encrypt:
        return query, body
    secret = encrypt_for(account, body)
    to_user = _field(body, "ToUserName")
    query["encrypt_type"] = "aes"
    query["msg_signature"] = sha1_signature(account.token, stamp, once, secret)
    if account.compatible:
        head, _, _ = body.rpartition("</xml>")
        return query, f"{head}<Encrypt><![CDATA[{secret}]]></Encrypt></xml>"
    envelope = (
        f"<xml><ToUserName><![CDATA[{cdata_safe(to_user)}]]></ToUserName>"
        f"<Encrypt><![CDATA[{secret}]]></Encrypt></xml>"
    )
    return query, envelope


def sign_verification(
    account: Account, echostr: str, *, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """The query of the GET WeChat sends when the server address is configured."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    once = new_nonce() if nonce is None else nonce
    return {
        "signature": sha1_signature(account.token, stamp, once),
        "timestamp": stamp,
        "nonce": once,
        "echostr": echostr,
    }
