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
from domain.catalogue_file import parse_catalogue

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


def test_the_longest_region_name_in_a_text_wins() -> None:
    text = GOOD.replace('name = "城区"', 'name = "县城区"').replace(
        'name = "某社区"', 'name = "社区"').replace('name = "某乡"', 'name = "某乡镇中心村"')
    cat = parse_catalogue(text, "cat.toml")

    def found(text: str) -> str | None:
        region = cat.region_for_text(text)
        return None if region is None else region.id

    assert found("县城区某乡镇中心村的路灯坏了") == "village"  # longest, last in the file
    assert found("社区在县城区") == "town"  # longer, though earlier in the file
    assert found("我们社区") == "lane"
    assert found("没有地名") is None


PLACES = {  # a region's line → the same with its places
    'name = "城区"\n': 'name = "城区"\nplaces = ["县城"]\n',
    'name = "某街道"\n': 'name = "某街道"\nplaces = ["人民广场", "中心小学", "东门"]\n',
    'name = "某社区"\n': 'name = "某社区"\nplaces = ["幸福里"]\n',
    'name = "某乡"\n': 'name = "某乡"\nplaces = ["张家村", "某乡中心小学", "西门"]\n',
}


def with_places(text: str) -> str:
    for old, new in PLACES.items():
        text = text.replace(old, new)
    return text


def test_a_place_names_its_region_and_the_longest_word_in_the_text_wins() -> None:
    cat = parse_catalogue(with_places(GOOD), "cat.toml")

    def found(text: str) -> str | None:
        region = cat.region_for_text(text)
        return None if region is None else region.id

    assert found("张家村") == "village"  # a village
    assert found("我在人民广场旁边") == "street"  # a landmark inside a text
    assert found("幸福里3栋") == "lane"  # a community, though its region has a parent
    assert found("县城东边") == "town"  # a place of a region with regions inside it
    assert found("中心小学门口") == "street"
    assert found("某乡中心小学门口") == "village"  # the longer place, not 中心小学
    assert found("某街道张家村") == "street"  # a name and a place as long: the name
    assert found("东门到西门") == "street"  # two places as long: the one earlier in the file
    assert found("西门到东门") == "street"
    assert found("张家") is None  # part of a place is none
    assert found("没有地名") is None
    assert cat.region("village").places == ("张家村", "某乡中心小学", "西门")


SHIPPED = load_catalogue(DEFAULT_CATALOGUE)
SHIPPED_PLACES = sorted({w for r in SHIPPED.regions for w in (r.name, *r.places)})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SHIPPED_PLACES), st.text(max_size=4)), max_size=8))
def test_the_region_for_a_text_is_the_one_of_its_longest_name_or_place(
    parts: list[str],
) -> None:
    text = "".join(parts)
    words = [(r.name, r) for r in SHIPPED.regions]
    words += [(place, r) for r in SHIPPED.regions for place in r.places]
    found = [(len(word), -rank, region) for rank, (word, region) in enumerate(words)
             if word in text]  # every word, plainly: names before places, in file order
    expected = max(found, key=lambda f: f[:2])[2] if found else None
    assert SHIPPED.region_for_text(text) == expected


def test_the_regions_offered_are_those_with_none_inside_them_in_file_order() -> None:
    cat = parse_catalogue(GOOD, "cat.toml")  # 城区 ⊃ 某街道 ⊃ 某社区; 某乡
    assert [r.id for r in cat.regions_offered()] == ["lane", "village"]
    assert cat.region_numbered(1) == cat.region("lane")
    assert cat.region_numbered(2) == cat.region("village")
    assert cat.region_numbered(3) is None
    assert cat.region_numbered(0) is None
    shipped = [r.name for r in SHIPPED.regions_offered()]
    assert shipped == ["城关街道", "东城街道", "西城街道", "经济开发区", "河口乡", "青山镇",
                       "石桥镇"]
    parents = {r.parent for r in SHIPPED.regions}
    assert not [r for r in SHIPPED.regions_offered() if r.id in parents]
    assert SHIPPED.region_by_name("县城区") == SHIPPED.region("chengqu")  # named, not offered


def test_the_shipped_places_name_their_regions() -> None:
    def found(text: str) -> str | None:
        region = SHIPPED.region_for_text(text)
        return None if region is None else region.name

    assert found("张家村") == "河口乡"
    assert found("我在人民广场旁边") == "城关街道"
    assert found("县人民医院门口") == "城关街道"
    assert found("人民医院") == "城关街道"  # as citizens call it
    assert found("和平社区5栋") == "东城街道"
    assert found("汽车站对面") == "东城街道"
    assert found("实验中学") == "东城街道"
    assert found("火车站") == "西城街道"
    assert found("县城") == "县城区"
    assert found("青山镇汽车站") == "青山镇"  # a town's own bus station: the name, as long
    # the addresses the flow's tests type as naming no region still name none
    for address in ("幸福路88号", "幸福小区3栋", "某某路88号", "人民路12号", "某省某市某路"):
        assert found(address) is None, address


def test_names_are_looked_up_without_the_spaces_around_them() -> None:
    cat = parse_catalogue(GOOD, "cat.toml")
    assert cat.category_by_name(" 二类 \n") == cat.category("c2")
    assert cat.category_by_name("三类") is None
    assert cat.region_by_name("  某乡") == cat.region("village")
    assert cat.region_by_name("某") is None
    assert cat.department("fb").fallback
    assert cat.fallback == cat.department("fb")
    assert cat.deadline_days("建议") == 10


# ---------------------------------------------------------------- a small catalogue
GOOD = HEAD + DEPARTMENTS + CATEGORIES + REGIONS + """
[[rule]]
category = "c1"
region = "*"
department = "a"
"""


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


# The file's faults and the lines they name: tests/test_catalogue_file.py


# ---------------------------------------------------------------- the CLI
def test_check_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_check(argparse.Namespace(file=DEFAULT_CATALOGUE)) == 0
    out = capsys.readouterr().out
    assert "is valid" in out
    assert "9 departments, 8 categories, 8 regions (48 places), 9 rules" in out
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
