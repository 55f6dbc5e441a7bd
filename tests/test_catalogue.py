"""The routing catalogue: the shipped file, routing, errors naming their line, the CLI."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalogue_cli import DEFAULT_CATALOGUE, cmd_check, cmd_load, load_catalogue, main
from domain.catalogue import KINDS
from domain.catalogue_file import CatalogueError, entry_line, parse_catalogue

ROOT = Path(__file__).resolve().parents[1]

HEAD = """\
[county]
name = "测试县"

[deadlines]
"投诉" = 5
"求助" = 3
"咨询" = 3
"建议" = 10
"表扬" = 5
"""
DEPARTMENTS = """
[[department]]
id = "a"
name = "甲局"

[[department]]
id = "fb"
name = "兜底办"
fallback = true
"""
CATEGORIES = """
[[category]]
id = "c1"
name = "一类"
order = 1
keywords = ["噪音", "噪音扰民"]

[[category]]
id = "c2"
name = "二类"
order = 2
keywords = ["扰民"]
"""
REGIONS = """
[[region]]
id = "town"
name = "城区"

[[region]]
id = "street"
name = "某街道"
parent = "town"

[[region]]
id = "lane"
name = "某社区"
parent = "street"

[[region]]
id = "village"
name = "某乡"
"""


def parse(text: str) -> object:
    return parse_catalogue(text, "cat.toml")


def error_of(text: str) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(text, "cat.toml")
    return info.value


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth]


# ---------------------------------------------------------------- the shipped file
def test_shipped_catalogue_is_valid_and_routes_as_configured() -> None:
    cat = load_catalogue(DEFAULT_CATALOGUE)
    assert cat.county == "示范县"
    assert cat.fallback.id == "bdj"
    assert cat.fallback.name == "县12345热线办公室"
    assert [c.name for c in cat.categories_in_order()] == [
        "住房建设", "生态环境", "市场监管", "交通出行", "教育", "劳动社保", "市容城管", "其他"]
    # "*" rules
    assert cat.route("zfjs", "hekou").id == "zjj"
    assert cat.route("jy", "dongcheng").id == "jyj"
    assert cat.route("ldsb", None).id == "rsj"
    # an exact region beats "*"
    assert cat.route("zfjs", "kaifaqu").id == "kfq"
    # a parent region's rule covers its streets
    assert cat.route("srcg", "xicheng").id == "cgj"
    assert cat.route("srcg", "chengqu").id == "cgj"
    # no rule: the fallback
    assert cat.route("srcg", "hekou").id == "bdj"
    assert cat.route("qt", "chengguan").id == "bdj"
    assert cat.route("srcg", None).id == "bdj"
    assert {kind: cat.deadline_days(kind) for kind in KINDS} == {
        "投诉": 5, "求助": 3, "咨询": 3, "建议": 10, "表扬": 5}
    assert cat.anonymous_kinds == {"咨询", "建议", "表扬"}
    assert [k for k in KINDS if cat.allows_anonymous(k)] == ["咨询", "建议", "表扬"]
    assert not cat.allows_anonymous("投诉")  # the department must be able to call back
    assert not cat.allows_anonymous("求助")
    pairs = {(c.id, r.id) for c, r in cat.fallback_pairs()}
    assert ("srcg", "hekou") in pairs
    assert ("srcg", "dongcheng") not in pairs
    assert {r for c, r in pairs if c == "qt"} == {r.id for r in cat.regions}


def test_shipped_catalogue_has_the_issue_departments() -> None:
    cat = load_catalogue(DEFAULT_CATALOGUE)
    shorts = {d.short_name for d in cat.departments}
    assert {"住建局", "生态环境局", "市场监管局", "交通运输局", "教育局", "人社局",
            "城管局"} <= shorts
    assert cat.department("zjj").name == "县住房和城乡建设局"


def test_lookups_by_name_keyword_and_order() -> None:
    cat = load_catalogue(DEFAULT_CATALOGUE)
    category = cat.category_for_text("楼下饭店噪音扰民")
    assert category is not None
    assert category.id == "sthj"
    assert cat.category_for_text("今天天气不错") is None
    by_name = cat.category_by_name("教育")
    assert by_name is not None
    assert by_name.id == "jy"
    assert cat.category_numbered(7) == cat.category("srcg")
    region = cat.region_for_text("我住在东城街道幸福小区")
    assert region is not None
    assert region.id == "dongcheng"
    assert cat.region_by_name("河口乡") == cat.region("hekou")
    with pytest.raises(KeyError):
        cat.deadline_days("表扬信")
    with pytest.raises(KeyError):
        cat.route("nope", "hekou")
    with pytest.raises(KeyError):
        cat.route("qt", "nowhere")


# ---------------------------------------------------------------- routing rules
def test_a_category_number_is_its_place_in_the_list_whatever_the_order_gaps() -> None:
    cat = parse_catalogue(GOOD.replace("order = 1", "order = 10")
                          .replace("order = 2", "order = 5"), "cat.toml")
    assert [c.name for c in cat.categories_in_order()] == ["二类", "一类"]
    assert cat.category_numbered(1) == cat.category_by_name("二类")
    assert cat.category_numbered(2) == cat.category_by_name("一类")
    assert cat.category_numbered(3) is None
    assert cat.category_numbered(5) is None
    assert cat.category_numbered(0) is None


SHIPPED_WORDS = sorted({w for c in load_catalogue(DEFAULT_CATALOGUE).categories
                        for w in (*c.keywords, c.name)})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SHIPPED_WORDS), st.text(max_size=4)), max_size=8))
def test_the_category_for_a_text_is_the_one_of_its_longest_keyword(parts: list[str]) -> None:
    cat = load_catalogue(DEFAULT_CATALOGUE)
    text = "".join(parts)
    found = [(len(word), -c.order, c) for c in cat.categories
             for word in (*c.keywords, c.name) if word in text]  # every word, plainly
    expected = max(found, key=lambda f: f[:2])[2] if found else None
    assert cat.category_for_text(text) == expected


def test_most_specific_rule_wins() -> None:
    text = HEAD + DEPARTMENTS + """
[[department]]
id = "b"
name = "乙局"

[[department]]
id = "c"
name = "丙局"
""" + CATEGORIES + REGIONS + """
[[rule]]
category = "c1"
region = "*"
department = "a"

[[rule]]
category = "c1"
region = "town"
department = "b"

[[rule]]
category = "c1"
region = "lane"
department = "c"
"""
    cat = parse_catalogue(text, "cat.toml")
    assert cat.route("c1", "lane").id == "c"  # exact
    assert cat.route("c1", "street").id == "b"  # parent
    assert cat.route("c1", "town").id == "b"  # exact (the parent itself)
    assert cat.route("c1", "village").id == "a"  # "*"
    assert cat.route("c1", None).id == "a"
    assert cat.route("c2", "lane").id == "fb"  # no rule
    assert cat.region_chain("lane") == ["lane", "street", "town", "*"]


def test_longest_keyword_wins() -> None:
    cat = parse_catalogue(HEAD + DEPARTMENTS + CATEGORIES + REGIONS, "cat.toml")
    # "扰民" (c2) and "噪音扰民" (c1) both occur; the longer one decides
    c = cat.category_for_text("楼上噪音扰民")
    assert c is not None
    assert c.id == "c1"
    c = cat.category_for_text("深夜扰民")
    assert c is not None
    assert c.id == "c2"


# ---------------------------------------------------------------- the line helper
def test_entry_line() -> None:
    text = HEAD + DEPARTMENTS + CATEGORIES
    assert entry_line(text, "department", 1) == line_of(text, "[[department]]", 1)
    assert entry_line(text, "department", 1, "fallback") == line_of(text, "fallback")
    assert entry_line(text, "department", 0, "name") == line_of(text, "甲局")
    # a key the entry lacks: the header; the next entry's key is not taken
    assert entry_line(text, "department", 0, "fallback") == line_of(text, "[[department]]")
    assert entry_line(text, "deadlines", None, "建议") == line_of(text, '"建议"')
    assert entry_line(text, "category", 1, "order") == line_of(text, "order = 2")
    # no header (inline tables): the id line, else 1
    inline = 'department = [\n  { id = "x" },\n]\n'
    assert entry_line(inline, "department", 0) == 1
    flat = 'x = 1\nid = "zz"\n'
    assert entry_line(flat, "region", 0, ident="zz") == 2
    assert entry_line(flat, "region", 3) == 1


# ---------------------------------------------------------------- errors name their line
GOOD = HEAD + DEPARTMENTS + CATEGORIES + REGIONS + """
[[rule]]
category = "c1"
region = "*"
department = "a"
"""


def test_good_text_parses() -> None:
    assert parse_catalogue(GOOD, "cat.toml").route("c1", "lane").id == "a"


@pytest.mark.parametrize(
    ("old", "new", "needle", "nth", "words"),
    [
        # unknown ids in rules
        ('department = "a"\n', 'department = "zz"\n', 'department = "zz"', 0,
         "unknown department 'zz'"),
        ('category = "c1"\nregion = "*"', 'category = "c9"\nregion = "*"', 'category = "c9"', 0,
         "unknown category 'c9'"),
        ('region = "*"', 'region = "mars"', 'region = "mars"', 0, "unknown region 'mars'"),
        # unknown parent
        ('parent = "street"', 'parent = "nowhere"', 'parent = "nowhere"', 0,
         "unknown parent 'nowhere'"),
        # duplicate ids
        ('id = "c2"', 'id = "c1"', 'id = "c1"', 1, "duplicate id 'c1'"),
        ('id = "village"', 'id = "town"', 'id = "town"', 1, "duplicate id 'town'"),
        # fallback: none, two
        ('fallback = true\n', '', "[[department]]", 0, "no fallback department"),
        ('id = "a"\nname = "甲局"\n', 'id = "a"\nname = "甲局"\nfallback = true\n',
         "fallback = true", 1, "second fallback"),
        # bad kinds and days
        ('"表扬" = 5', '"表扬" = 5\n"催办" = 2', '"催办"', 0, "unknown ticket kind '催办'"),
        ('"建议" = 10', '"建议" = 0', '"建议"', 0, "above 0"),
        ('"求助" = 3', '"求助" = -1', '"求助"', 0, "above 0"),
        ('"表扬" = 5\n', '', "[deadlines]", 0, "no deadline for 表扬"),
        # unknown keys
        ('name = "二类"', 'name = "二类"\ncolour = "red"', "colour", 0, "unknown key 'colour'"),
        ('id = "village"', 'id = "village"\nmayor = "x"', "mayor", 0, "unknown key 'mayor'"),
        ('[county]', 'owner = "x"\n[county]', "owner", 0, "unknown key 'owner'"),
        # bad values
        ('id = "a"', 'id = "A-1"', 'id = "A-1"', 0, "lower-case"),
        ("order = 2", "order = 1", "order = 1", 1, "order 1 is taken"),
        ('keywords = ["扰民"]', 'keywords = ["噪音"]', 'keywords = ["噪音"]', 0,
         "keyword '噪音' is already 'c1'"),
        # a second rule for the same pair names the first one's line too
        ('department = "a"\n', 'department = "a"\n\n[[rule]]\ncategory = "c1"\nregion = "*"\n'
         'department = "fb"\n', "[[rule]]", 1, "already routed by the rule on line"),
    ],
)
def test_each_error_names_its_line(old: str, new: str, needle: str, nth: int,
                                   words: str) -> None:
    assert old in GOOD
    # replace the last occurrence for rule edits, the first otherwise
    text = GOOD.replace(old, new, 1) if "rule" not in words and "routed" not in words \
        else GOOD[::-1].replace(old[::-1], new[::-1], 1)[::-1]
    error = error_of(text)
    assert words in error.problem
    assert error.line == line_of(text, needle, nth), (str(error), text)
    assert str(error) == f"cat.toml:{error.line}: {error.problem}"
    assert "\n" not in str(error)


# ---------------------------------------------------------------- [intake]
def test_intake_is_optional_and_lists_anonymous_kinds() -> None:
    cat = parse_catalogue(GOOD, "cat.toml")
    assert cat.anonymous_kinds == frozenset()
    assert not cat.allows_anonymous("咨询")
    text = GOOD.replace("[county]", '[intake]\nanonymous_kinds = ["表扬", "咨询"]\n\n[county]')
    cat = parse_catalogue(text, "cat.toml")
    assert cat.anonymous_kinds == {"表扬", "咨询"}
    assert cat.allows_anonymous("表扬")
    assert not cat.allows_anonymous("投诉")
    assert not cat.allows_anonymous("不存在")
    empty = GOOD + '\n[intake]\nanonymous_kinds = []\n'
    assert parse_catalogue(empty, "cat.toml").anonymous_kinds == frozenset()
    # still built by keyword, and the kinds take part in equality
    assert cat != parse_catalogue(GOOD, "cat.toml")


@pytest.mark.parametrize(
    ("intake", "needle", "words"),
    [
        ('anonymous_kinds = ["咨询", "催办"]', "anonymous_kinds", "unknown ticket kind '催办'"),
        ('anonymous_kinds = ["咨询", "建议", "咨询"]', "anonymous_kinds",
         "咨询 is listed twice"),
        ('anonymous_kinds = "咨询"', "anonymous_kinds", "must be a list of ticket kinds"),
        ("anonymous_kinds = [1]", "anonymous_kinds", "unknown ticket kind 1"),
        ('anonymous_kinds = []\nphone = "no"', "phone", "intake: unknown key 'phone'"),
    ],
)
def test_intake_errors_name_their_line(intake: str, needle: str, words: str) -> None:
    text = GOOD + "\n# intake\n[intake]\n" + intake + "\n"
    error = error_of(text)
    assert words in error.problem
    assert error.line == line_of(text, needle)


def test_intake_must_be_a_table() -> None:
    text = 'intake = ["咨询"]\n' + GOOD
    error = error_of(text)
    assert "[intake] table" in error.problem
    assert error.line == 1


def test_parent_cycle_names_the_region() -> None:
    text = GOOD.replace('id = "town"\nname = "城区"',
                        'id = "town"\nname = "城区"\nparent = "lane"')
    error = error_of(text)
    assert "cycle" in error.problem
    assert "town → lane → street → town" in error.problem
    assert error.line == line_of(text, 'parent = "lane"')


def test_self_parent_is_a_cycle() -> None:
    text = GOOD.replace('id = "village"\nname = "某乡"',
                        'id = "village"\nname = "某乡"\nparent = "village"')
    error = error_of(text)
    assert "cycle" in error.problem
    assert error.line == line_of(text, 'parent = "village"')


def test_toml_syntax_error_names_line_and_column() -> None:
    text = GOOD.replace('order = 2', 'order = = 2')
    error = error_of(text)
    assert error.line == line_of(text, "order = = 2")
    assert "column" in error.problem
    assert "at line" not in error.problem


def test_toml_duplicate_table_key_names_line() -> None:
    text = GOOD.replace('"咨询" = 3', '"咨询" = 3\n"咨询" = 4')
    error = error_of(text)
    assert error.line == line_of(text, '"咨询" = 4')


def test_non_integer_days_and_missing_name() -> None:
    text = GOOD.replace('"投诉" = 5', '"投诉" = 5.5')
    assert error_of(text).line == line_of(text, '"投诉"')
    text = GOOD.replace('name = "某乡"\n', "")
    error = error_of(text)
    assert "name is missing" in error.problem
    assert error.line == line_of(text, "[[region]]", 3)


def test_missing_county_and_tables_of_wrong_shape() -> None:
    error = error_of(GOOD.replace('[county]\nname = "测试县"\n', ""))
    assert "[county]" in error.problem
    text = 'rule = 3\n' + HEAD + DEPARTMENTS + CATEGORIES + REGIONS
    error = error_of(text)
    assert "[[rule]]" in error.problem
    assert error.line == 1


# ---------------------------------------------------------------- the CLI
def test_check_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_check(argparse.Namespace(file=DEFAULT_CATALOGUE)) == 0
    out = capsys.readouterr().out
    assert "is valid" in out
    assert "9 departments, 8 categories, 8 regions, 9 rules" in out
    assert "市容城管 × 河口乡、青山镇、石桥镇" in out
    assert "其他 × every region" in out
    assert "anonymous tickets (no phone number needed): 咨询, 建议, 表扬" in out


def test_check_says_when_no_kind_is_anonymous(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    assert cmd_check(argparse.Namespace(file=good)) == 0
    assert "anonymous tickets: none" in capsys.readouterr().out


@pytest.mark.parametrize("command", [cmd_check, cmd_load])
def test_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: object,
) -> None:
    bad = tmp_path / "bad.toml"
    text = GOOD.replace('department = "a"\n', 'department = "zz"\n')
    bad.write_text(text, encoding="utf-8")
    assert callable(command)
    assert command(argparse.Namespace(file=bad)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = line_of(text, 'department = "zz"')
    assert captured.err == f"lianxin: {bad}:{line}: rule: unknown department 'zz'\n"


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.toml"
    assert main(["check", str(missing)]) == 2
    assert capsys.readouterr().err == f"lianxin: {missing}: file not found\n"


def test_python_m_runs_and_help_says_load_writes_the_database() -> None:
    run = subprocess.run([sys.executable, "-m", "bot.catalogue_cli", "load", "--help"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0
    help_text = " ".join(run.stdout.split())
    assert "loads it into the database at LIANXIN_DATABASE_URL" in help_text
    assert "not load" not in help_text
    run = subprocess.run([sys.executable, "-m", "bot.catalogue_cli", "check"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "示范县" in run.stdout
