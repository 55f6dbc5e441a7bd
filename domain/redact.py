"""Personal data out of a citizen's text before the public message board (公开留言板) shows it.

:func:`redact` applies these rules in this order (an earlier rule's mark is never read by a
later one, so a second pass changes nothing):

1. names the system knows (``names``): each, longest first, anywhere → surname + 某
2. e-mail addresses → 【邮箱】
3. WeChat ids after 微信 / 微信号 → 【微信号】 (before phones: an id may hold digits)
4. resident ID numbers → 【身份证号】: 18 characters (17 digits and a digit or X, spaces
   allowed, a plausible birth date inside); 15 digits only after 身份证
5. phone numbers → 【电话】: mobiles (1[3-9] and 9 digits; spaces, dashes or dots between
   digits; +86 / 0086 / 86), landlines with an area code ("0731-84567890", "(0731)…"),
   and 7–8 digit local numbers only after 电话 / 手机 / 联系方式 / 座机 / 号码 / 打.
   Digits may be full-width or Chinese numerals (一二…〇零, 幺 = 1, 两 = 2, 洞 = 0), mixed.
6. vehicle plates → 【车牌】: province + letter + 5–6 letters/digits, "·" or a space allowed
7. house numbers → 【门牌】: a door number after a road, street, lane or village
   ("幸福路18号" → "幸福路【门牌】"), and building / unit / floor / room chains
   ("3栋2单元501室", "5号楼1202", "12幢301", "3楼301", "501室", "3-2-501")
8. names found by pattern → surname + 某: after 我叫 / 我是 / 本人, after a label
   (姓名：, 联系人： …), or a full name before a title ("张三先生" → "张某先生"); only a
   common surname followed by one or two more characters, then the end of the phrase

Kept on purpose: road, community, village and town names (the complaint needs them); a
floor alone ("3楼") and a surname with a title alone ("张先生"), which identify no one;
quantities, dates, times, amounts, ticket numbers ("20261201-0007"), short hotlines
(12345, 12348) and 400/800 service numbers, which belong to companies; house numbers
written in Chinese numerals ("三栋" reads too often as "three buildings"); the surnames
于, 向, 时, 方 … that start ordinary words ("对方", "平时") are left out of the name list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from domain.contact import NUMERALS, find_phones
from domain.vocabulary import WIDTH

PHONE = "【电话】"
ID_NUMBER = "【身份证号】"
PLATE = "【车牌】"
HOUSE = "【门牌】"
EMAIL = "【邮箱】"
WECHAT = "【微信号】"
SOMEONE = "某"  # after a surname: 张三 → 张某

# how the text is read, one character for one, so a match in the read text is the same
# span in the text as written: full-width ASCII (１３８, Ｘ, ＋, －, （）, ：, ＠) and the
# ideographic space as ASCII …
_WIDTH = WIDTH
# … and, for numbers, Chinese numerals as digits too (the table domain/contact.py reads by)
_DIGITS = _WIDTH | NUMERALS

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])(?P<x>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
_WECHAT = re.compile(r"微信号?[:\s是为]{0,3}(?P<x>[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])")

_ID18 = re.compile(r"(?<![0-9A-Za-z])(?P<x>[1-9](?: ?[0-9]){16} ?[0-9Xx])(?![0-9A-Za-z])")
_ID15 = re.compile(r"身份证(?:号码|号)?[:\s是为]{0,3}(?P<x>[1-9][0-9]{14})(?![0-9A-Za-z])")

_S = r" ?[-.—–_/]? ?"  # between two digits of a phone number (dashes of any width)
_MOBILE = re.compile(
    rf"(?<![0-9])(?P<x>(?:(?:\+|00)?86{_S})?1{_S}[3-9](?:{_S}[0-9]){{9}})(?![0-9])"
)
# in Chinese numerals the number's end is found by :func:`_numeral_end` (a numeral that
# starts the next word, 一直 or 两次, is no twelfth digit)
_MOBILE_NUMERALS = re.compile(
    rf"(?<![0-9])(?P<x>(?:(?:\+|00)?86{_S})?1{_S}[3-9](?:{_S}[0-9]){{9}})"
)
_ID18_NUMERALS = re.compile(r"(?<![0-9A-Za-z])(?P<x>[1-9](?: ?[0-9]){16} ?[0-9Xx])")
_LANDLINE = re.compile(
    r"(?<![0-9])(?<![0-9][-.])"
    r"(?P<x>(?:\(0[1-9][0-9]{1,2}\) ?|0[1-9][0-9]{1,2}[- ]?)[0-9]{3,4}[- ]?[0-9]{4})(?![0-9])"
)
_LOCAL = re.compile(
    r"(?:电话|手机|联系方式|座机|(?<![单编证牌])号码|打)(?:号码|号)?[:\s是为]{0,3}"
    r"(?P<x>[0-9]{3,4}[- ]?[0-9]{4})(?! ?[-.]? ?[0-9])"  # not a ticket's "20261201-0007"
)

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    rf"(?P<x>[{_PROVINCES}][·•・ -]?[A-Za-z][·•・ -]?[A-Za-z0-9]{{5,6}})(?![A-Za-z0-9])")

# what a bare number right after a building is not: a date, a time, a quantity
_QUANTITY = ("年月日号天周个次元块角分秒米斤吨岁点时多余家户人层楼间栋幢座"
             "平万千百亿倍名位辆台件套条张页%℃度折")
_NUM = r"(?:[0-9]{1,4}[A-Za-z]?|[A-Za-z][0-9]{0,3})"
_BUILDING = rf"{_NUM}(?:号楼|号院|栋|幢|座)(?!楼|房|桥)"  # not "3栋楼" (three buildings)
_UNIT = r"[0-9]{1,2}单元"
_FLOOR = r"[0-9]{1,2}(?:楼|层)"
_ROOM = rf"[0-9]{{1,5}}[A-Za-z]?(?:室|号房|房|号)?(?![0-9A-Za-z{_QUANTITY}]|厅)"
_SEP = r"[ -]?"
_CHAIN = (
    rf"(?:{_BUILDING}(?:{_SEP}(?:{_UNIT}|{_FLOOR}))*(?:{_SEP}{_ROOM})?"
    rf"|{_UNIT}(?:{_SEP}{_FLOOR})?{_SEP}{_ROOM}"
    rf"|{_FLOOR}{_SEP}{_ROOM}"  # "3楼301"; "3楼" alone is kept
    r"|[0-9]{3,5}[A-Za-z]?(?:室|号房|房)(?!厅|间|子)"  # "501室", not "3室2厅"
    r"|[0-9]{1,3}-[0-9]{1,2}-[0-9]{3,4}(?![0-9-]))"  # building-unit-room
)
_HOUSE = re.compile(rf"(?<![0-9A-Za-z-])(?P<x>{_CHAIN})")
_NOT_DOOR = ("楼|院|线|晚|早|夜|上午|下午|中午|凌晨|当天|那天|开始|以来|以后|之后|之前|以前"
             "|起|至|到|左右")  # "村5号晚上停电" is a date
_DOOR = re.compile(
    rf"(?:路|街|巷|弄|胡同|大道|街道|村|组)"
    rf"(?P<x>[0-9]{{1,5}}[A-Za-z]?号(?:院)?(?!{_NOT_DOOR})(?:{_SEP}{_CHAIN})?)"
)

# about the 120 commonest surnames, without those that start ordinary words (于, 向, 时,
# 方, 房, 党, 和 …), and the compound ones
_SINGLE = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺"
    "顾毛郝龚邵万钱严覃武戴莫孔汤温康施文牛樊葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦"
    "俞柳祝包尚舒阮柯纪梅童凌毕"
)
_COMPOUND = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "司徒", "夏侯", "令狐",
             "公孙", "长孙", "宇文", "尉迟", "端木")
_SURNAME = "(?:" + "|".join(_COMPOUND) + f"|[{_SINGLE}])"
_TITLE = ("先生|女士|小姐|阿姨|大爷|大妈|大娘|大姐|大哥|奶奶|爷爷|师傅|老师|医生|律师|经理|"
          "主任|书记|老板|同志|警官|村长|组长|局长|科长|所长|站长|总")
# characters no given name here has: they make "我是江西人", "我是张某" no name
_NOT_GIVEN = "某的了是在不也都就和与及或们个位名村镇乡区县市省路街组楼栋号户人员生主领"
_NAME = (rf"(?P<x>{_SURNAME}(?!{_TITLE})"
         rf"(?:(?![{_NOT_GIVEN}])[\u4e00-\u9fff]){{1,2}})")
_END = (r"(?=[^\u4e00-\u9fff]|$|家住|住在|住|现住|今年|电话|手机|联系|身份证|微信|反映|投诉|"
        r"举报|咨询|求助|想|要|来自|向您|向你)")
_INTRO = re.compile(rf"(?:我叫|我是|本人)(?!高中|白领|文盲){_NAME}{_END}")
_LABEL = re.compile(
    rf"(?:姓名|名字|联系人|投诉人|反映人|举报人|当事人|户主)[:\s]{{0,3}}(?:是|为|叫)?[:\s]{{0,3}}"
    rf"{_NAME}{_END}"
)
_BEFORE_NAME = "的了叫是找给跟和与同请问向对位民主户人员长记理称我他她们"
_TITLED = re.compile(
    rf"(?:(?<![\u4e00-\u9fff])|(?<=[{_BEFORE_NAME}])){_NAME}(?={_TITLE})"
)


def _someone(name: str) -> str:
    """张三 → 张某, 欧阳娜娜 → 欧阳某."""
    surname = name[:2] if name[:2] in _COMPOUND else name[:1]
    return surname + SOMEONE


def _birth_date(year: str, month: str, day: str) -> bool:
    return 1900 <= int(year) <= 2099 and 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def _id18(number: str) -> str | None:
    digits = number.replace(" ", "")
    return ID_NUMBER if _birth_date(digits[6:10], digits[10:12], digits[12:14]) else None


def _id15(number: str) -> str | None:
    return ID_NUMBER if _birth_date("19" + number[6:8], number[8:10], number[10:12]) else None


def _plate(plate: str) -> str | None:
    return PLATE if any(c.isdigit() for c in plate) else None


def _mark(mark: str) -> Callable[[str], str | None]:
    return lambda _: mark


_ARABIC = frozenset("0123456789０１２３４５６７８９")
_NUMERALS = frozenset(chr(c) for c in NUMERALS)


def _numeral_end(text: str, end: int) -> bool:
    """Whether a mobile or ID number read with numerals as digits up to ``end`` ends
    there: not followed by an Arabic digit, nor by a numeral that another digit or numeral
    follows (a twelfth digit); a single numeral before a word (一直, 两次) starts the word."""
    after = text[end:end + 2]
    if not after or after[0] not in _ARABIC | _NUMERALS:
        return True
    if after[0] in _ARABIC:
        return False
    return len(after) == 2 and after[1] not in _ARABIC | _NUMERALS


def _mixed_end(text: str, end: int) -> bool:
    """Whether any other number read with numerals as digits up to ``end`` (7 or 8
    digits) ends there: not when its last digit is a numeral right after an Arabic digit
    that starts a word ("845678一直": six digits, then 一直)."""
    if end < 2 or text[end - 1] not in _NUMERALS or text[end - 2] not in _ARABIC:
        return True
    return end < len(text) and text[end] in _ARABIC | _NUMERALS


# a rule: the pattern; what replaces its group "x" (None: leave it); how the text is read
# for it; and, for a number read with numerals as digits, whether a match ends where it
# does in the text as written
_Rule = tuple[re.Pattern[str], Callable[[str], str | None], dict[int, int],
              Callable[[str, int], bool] | None]
# rules 4 and 5, numbers read twice: first in Arabic digits alone, so a numeral that
# starts the next word ("13800138000一直没人接") does not lengthen the number past its
# pattern; then with Chinese numerals as digits ("一三八〇〇一三八〇〇〇")
_NUMBER_RULES: tuple[_Rule, ...] = (
    (_ID18, _id18, _WIDTH, None),
    (_MOBILE, _mark(PHONE), _WIDTH, None),
    (_LANDLINE, _mark(PHONE), _WIDTH, None),
    (_LOCAL, _mark(PHONE), _WIDTH, None),
    (_ID18_NUMERALS, _id18, _DIGITS, _numeral_end),
    (_ID15, _id15, _DIGITS, _mixed_end),
    (_MOBILE_NUMERALS, _mark(PHONE), _DIGITS, _numeral_end),
    (_LANDLINE, _mark(PHONE), _DIGITS, _mixed_end),
    (_LOCAL, _mark(PHONE), _DIGITS, _mixed_end),
)
_RULES: tuple[_Rule, ...] = (
    (_EMAIL, _mark(EMAIL), _WIDTH, None),
    (_WECHAT, _mark(WECHAT), _WIDTH, None),
    *_NUMBER_RULES,
    (_PLATE, _plate, _WIDTH, None),
    (_DOOR, _mark(HOUSE), _WIDTH, None),
    (_HOUSE, _mark(HOUSE), _WIDTH, None),
    (_LABEL, _someone, _WIDTH, None),
    (_INTRO, _someone, _WIDTH, None),
    (_TITLED, _someone, _WIDTH, None),
)


def _apply(
    text: str, pattern: re.Pattern[str], mark: Callable[[str], str | None],
    table: dict[int, int], ends: Callable[[str, int], bool] | None = None,
) -> str:
    """``text`` with group ``x`` of each match of ``pattern`` in the read text (same
    length, so same spans) replaced by ``mark`` of it (where ``ends`` agrees that the
    match ends there, in the text as written)."""
    read = text.translate(table)
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(read):
        start, end = match.span("x")
        if ends is not None and not ends(text, end):
            continue
        replacement = mark(read[start:end])
        if replacement is not None:
            pieces += [text[last:start], replacement]
            last = end
    pieces.append(text[last:])
    return "".join(pieces)


def names_in(*texts: str) -> set[str]:
    """The names the patterns of rule 8 find in ``texts``: a name found in one text (the
    citizen's "我叫张三丰") is redacted in the others too (the department's answer)."""
    found: set[str] = set()
    for text in texts:
        read = text.translate(_WIDTH)
        for pattern in (_LABEL, _INTRO, _TITLED):
            found.update(match.group("x") for match in pattern.finditer(read))
    return found


def redact(text: str, names: Iterable[str] = ()) -> str:
    """``text`` fit for the public board: personal data replaced by marks (see the module
    docstring); ``names`` are names the system knows (the citizen's own), matched anywhere."""
    known = {name.strip() for name in names}
    for name in sorted((n for n in known if len(n) >= 2), key=lambda n: (-len(n), n)):
        text = text.replace(name, _someone(name))
    for rule in _RULES:
        text = _apply(text, *rule)
    return text


_FEWEST_DIGITS = 7  # in the shortest number rules 4 and 5 read: a local "8456789"


def hide_numbers(text: str) -> str:
    """``text`` with its phone and ID numbers (rules 4 and 5, in any writing) replaced by
    their marks, nothing else changed: a text this changes holds such a number."""
    if sum(c.isdigit() or ord(c) in NUMERALS for c in text) < _FEWEST_DIGITS:
        return text  # too few digits for any such number (the shortest: 7, a local one)
    for rule in _NUMBER_RULES:
        text = _apply(text, *rule)
    # and whatever the phone question would read as a number ("138(0013)8000"): what
    # would be taken as a phone is never kept as publishable text
    found = list(find_phones(text))
    for phone in reversed(found):
        text = text[:phone.start] + PHONE + text[phone.end:]
    return text
