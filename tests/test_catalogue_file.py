"""The catalogue file: what a good file becomes, and every fault as the operator reads it —
``<file>:<line>: <problem>``, on the line of the offending entry."""

from __future__ import annotations

import pytest

from domain.catalogue import Category, Department, Region, Rule
from domain.catalogue_file import CatalogueError, entry_line, parse_catalogue

KINDS_LISTED = "投诉, 求助, 咨询, 建议, 表扬"

GOOD = """\
# a small county
[county]
name = " 测试县 "

[deadlines]
"投诉" = 5
"求助" = 3
"咨询" = 3
"建议" = 10
"表扬" = 5

[intake]
anonymous_kinds = ["建议", "咨询"]

[[department]]
id = "a"
name = "甲局"
short_name = " 甲 "

[[department]]
id = "fb"
name = "兜底办"
fallback = true

[[department]]
id = "b"
name = " 乙局 "
fallback = false

[[category]]
id = "c1"
name = "一类"
order = 1
keywords = ["噪音", " 噪音扰民 "]

[[category]]
id = "c2"
name = "二类"
order = 2
keywords = ["扰民"]

[[region]]
id = "town"
name = "城区"

[[region]]
id = "street"
name = "某街道"
parent = " town "

[[region]]
id = "lane"
name = "某社区"
parent = "street"

[[rule]]
category = "c1"
region = "*"
department = "a"

[[rule]]
category = "c2"
region = "street"
department = "b"
"""


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line containing ``needle``."""
    return [n for n, line in enumerate(text.splitlines(), 1) if needle in line][nth]


def error_of(text: str, source: str = "cat.toml") -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(text, source)
    return info.value


def edited(old: str, new: str, nth: int = 0) -> str:
    """GOOD with the ``nth`` occurrence of ``old`` replaced by ``new``."""
    at = -1
    for _ in range(nth + 1):
        at = GOOD.index(old, at + 1)
    return GOOD[:at] + new + GOOD[at + len(old):]


# ---------------------------------------------------------------- a good file
def test_a_good_file_becomes_the_catalogue_it_says() -> None:
    cat = parse_catalogue(GOOD, "cat.toml")
    assert cat.county == "测试县"
    assert cat.departments == (Department("a", "甲局", "甲"),
                               Department("fb", "兜底办", "兜底办", True),
                               Department("b", "乙局", "乙局", False))
    assert cat.categories == (Category("c1", "一类", 1, ("噪音", "噪音扰民")),
                              Category("c2", "二类", 2, ("扰民",)))
    assert cat.regions == (Region("town", "城区"), Region("street", "某街道", "town"),
                           Region("lane", "某社区", "street"))
    assert cat.rules == (Rule("c1", "*", "a"), Rule("c2", "street", "b"))
    assert dict(cat.deadlines) == {"投诉": 5, "求助": 3, "咨询": 3, "建议": 10, "表扬": 5}
    assert list(cat.deadlines) == ["投诉", "求助", "咨询", "建议", "表扬"]
    assert cat.anonymous_kinds == {"建议", "咨询"}
    assert cat.route("c2", "lane").id == "b"
    assert cat.route("c2", "town").id == "fb"


def test_deadlines_read_in_the_kinds_order_whatever_the_file_order() -> None:
    text = GOOD.replace('"投诉" = 5\n', "").replace('"表扬" = 5\n', '"表扬" = 5\n"投诉" = 7\n')
    assert list(parse_catalogue(text, "cat.toml").deadlines.items()) == [
        ("投诉", 7), ("求助", 3), ("咨询", 3), ("建议", 10), ("表扬", 5)]


def test_without_intake_every_kind_needs_a_phone_number() -> None:
    text = GOOD.replace('[intake]\nanonymous_kinds = ["建议", "咨询"]\n', "")
    assert parse_catalogue(text, "cat.toml").anonymous_kinds == frozenset()
    text = GOOD.replace('anonymous_kinds = ["建议", "咨询"]\n', "")
    assert parse_catalogue(text, "cat.toml").anonymous_kinds == frozenset()


def without(table: str) -> str:
    """GOOD without its ``[[table]]`` entries."""
    return "\n\n".join(part for part in GOOD.split("\n\n") if f"[[{table}]]" not in part)


def test_inline_tables_are_read_too() -> None:
    text = 'rule = [\n  { category = "c1", region = "*", department = "a" },\n]\n' + without("rule")
    assert parse_catalogue(text, "cat.toml").rules == (Rule("c1", "*", "a"),)


# ---------------------------------------------------------------- the message's form
def test_an_error_is_one_line_naming_the_file_and_line() -> None:
    text = edited('department = "a"', 'department = "zz"')
    error = error_of(text, "config/catalogue.toml")
    line = line_of(text, 'department = "zz"')
    assert (error.source, error.line, error.problem) == (
        "config/catalogue.toml", line, "rule: unknown department 'zz'")
    assert str(error) == f"config/catalogue.toml:{line}: rule: unknown department 'zz'"
    assert isinstance(error, ValueError)


# ---------------------------------------------------------------- every fault, on its line
CASES = [
    # top level
    ('[county]', 'owner = "x"\n[county]', 0, "owner",
     "unknown key 'owner' (allowed: category, county, deadlines, department, intake, legal, "
     "legal_area, region, rule)"),
    ('[county]\nname = " 测试县 "\n', "", 0, None, "needs a [county] table with a name"),
    ('[county]\nname = " 测试县 "\n', 'county = "测试县"\n', 0, "county =",
     "needs a [county] table with a name"),
    ('name = " 测试县 "', 'name = " 测试县 "\nmayor = "x"', 0, "mayor",
     "county: unknown key 'mayor' (allowed: name)"),
    ('name = " 测试县 "', 'name = "  "', 0, 'name = "  "',
     "county: name must be a non-empty string"),
    ('name = " 测试县 "', "name = 3", 0, "name = 3", "county: name must be a non-empty string"),
    ('name = " 测试县 "\n', "", 0, "[county]", "county: name must be a non-empty string"),
    # deadlines
    ('[deadlines]\n"投诉" = 5\n"求助" = 3\n"咨询" = 3\n"建议" = 10\n"表扬" = 5\n', "", 0, None,
     f"needs a [deadlines] table: working days per ticket kind ({KINDS_LISTED})"),
    ('"表扬" = 5', '"表扬" = 5\n"催办" = 2', 0, '"催办"',
     f"deadlines: unknown ticket kind '催办' (kinds: {KINDS_LISTED})"),
    ('"建议" = 10', '"建议" = 0', 0, '"建议"',
     "deadlines: 建议 must be a whole number of working days above 0, not 0"),
    ('"求助" = 3', '"求助" = -1', 0, '"求助"',
     "deadlines: 求助 must be a whole number of working days above 0, not -1"),
    ('"投诉" = 5', '"投诉" = 5.5', 0, '"投诉"',
     "deadlines: 投诉 must be a whole number of working days above 0, not 5.5"),
    ('"投诉" = 5', '"投诉" = true', 0, '"投诉"',
     "deadlines: 投诉 must be a whole number of working days above 0, not True"),
    ('"表扬" = 5\n', "", 0, "[deadlines]", "deadlines: no deadline for 表扬"),
    ('"咨询" = 3\n"建议" = 10\n', "", 0, "[deadlines]", "deadlines: no deadline for 咨询, 建议"),
    # intake
    ('anonymous_kinds = ["建议", "咨询"]', 'anonymous_kinds = []\nphone = "no"', 0, "phone",
     "intake: unknown key 'phone' (allowed: anonymous_kinds)"),
    ('anonymous_kinds = ["建议", "咨询"]', 'anonymous_kinds = "咨询"', 0, "anonymous_kinds",
     f"intake: anonymous_kinds must be a list of ticket kinds ({KINDS_LISTED})"),
    ('anonymous_kinds = ["建议", "咨询"]', 'anonymous_kinds = ["咨询", "催办"]', 0,
     "anonymous_kinds", f"intake: anonymous_kinds: unknown ticket kind '催办' (kinds: "
     f"{KINDS_LISTED})"),
    ('anonymous_kinds = ["建议", "咨询"]', "anonymous_kinds = [1]", 0, "anonymous_kinds",
     f"intake: anonymous_kinds: unknown ticket kind 1 (kinds: {KINDS_LISTED})"),
    ('anonymous_kinds = ["建议", "咨询"]', 'anonymous_kinds = ["咨询", "建议", "咨询"]', 0,
     "anonymous_kinds", "intake: anonymous_kinds: 咨询 is listed twice"),
    # departments
    ('short_name = " 甲 "', 'short_name = " 甲 "\ncolour = "red"', 0, "colour",
     "department: unknown key 'colour' (allowed: id, name, short_name, fallback, review_answers)"),
    ('name = "兜底办"\n', "", 0, "[[department]]", "department: name is missing", 1),
    ('id = "a"', 'id = "A-1"', 0, 'id = "A-1"',
     "department: id 'A-1' must be lower-case letters, digits or _, starting with a letter"),
    ('id = "a"', 'id = "a' + "b" * 32 + '"', 0, 'id = "ab',
     "department: id '" + "a" + "b" * 32 + "' must be lower-case letters, digits or _, "
     "starting with a letter"),
    ('id = "a"', 'id = ""', 0, 'id = ""', "department: id must be a non-empty string"),
    ('short_name = " 甲 "', "short_name = 1", 0, "short_name",
     "department: short_name must be a non-empty string"),
    ('id = "b"', 'id = "fb"', 0, 'id = "fb"', "department: duplicate id 'fb'", 1),
    ('name = " 乙局 "', 'name = "甲局"', 0, 'name = "甲局"',
     "department: duplicate name '甲局'", 1),
    ('name = " 乙局 "', 'name = ""', 0, 'name = ""', "department: name must be a non-empty string"),
    ("fallback = false", 'fallback = "no"', 0, "fallback = \"no\"",
     "department: fallback must be true or false"),
    ("fallback = false", 'fallback = false\nreview_answers = "yes"', 0,
     'review_answers = "yes"', "department: review_answers must be true or false"),
    ("fallback = false", "fallback = true", 0, "fallback = true",
     "department 'b': a second fallback department ('fb' is one already)", 1),
    ("fallback = true\n", "", 0, "[[department]]",
     "no fallback department: mark one (兜底) with fallback = true"),
    # categories
    ('keywords = ["扰民"]', 'keywords = ["扰民"]\ncolour = 1', 0, "colour",
     "category: unknown key 'colour' (allowed: id, name, order, keywords)"),
    ("order = 2\n", "", 0, "[[category]]", "category: order is missing", 1),
    ('name = "二类"', "name = []", 0, "name = []", "category: name must be a non-empty string"),
    ('id = "c2"', 'id = "2c"', 0, 'id = "2c"',
     "category: id '2c' must be lower-case letters, digits or _, starting with a letter"),
    ("order = 2", "order = 0", 0, "order = 0",
     "category 'c2': order must be a whole number above 0, not 0"),
    ("order = 2", "order = true", 0, "order = true",
     "category 'c2': order must be a whole number above 0, not True"),
    ("order = 2", 'order = "2"', 0, "order = \"2\"",
     "category 'c2': order must be a whole number above 0, not '2'"),
    ("order = 2", "order = 1", 0, "order = 1", "category 'c2': order 1 is taken by 'c1'", 1),
    ('keywords = ["扰民"]', 'keywords = "扰民"', 0, 'keywords = "扰民"',
     "category 'c2': keywords must be a list of non-empty strings"),
    ('keywords = ["扰民"]', 'keywords = ["扰民", " "]', 0, "keywords",
     "category 'c2': keywords must be a list of non-empty strings", 1),
    ('keywords = ["扰民"]', 'keywords = ["扰民", 3]', 0, "keywords",
     "category 'c2': keywords must be a list of non-empty strings", 1),
    ('keywords = ["扰民"]', 'keywords = [" 噪音 "]', 0, "keywords = [\" 噪音",
     "category 'c2': keyword ' 噪音 ' is already 'c1''s"),
    ('keywords = ["扰民"]', 'keywords = ["扰民", "扰民"]', 0, "keywords",
     "category 'c2': keyword '扰民' is already 'c2''s", 1),
    # regions
    ('id = "lane"', 'id = "lane"\nmayor = "x"', 0, "mayor",
     "region: unknown key 'mayor' (allowed: id, name, parent, places)"),
    ('name = "某社区"\n', "", 0, "[[region]]", "region: name is missing", 2),
    ('parent = "street"', 'parent = "nowhere"', 0, 'parent = "nowhere"',
     "region 'lane': unknown parent 'nowhere'"),
    ('parent = "street"', 'parent = ""', 0, 'parent = ""',
     "region: parent must be a non-empty string"),
    ('id = "lane"', 'id = "town"', 0, 'id = "town"', "region: duplicate id 'town'", 1),
    ('name = "城区"\n', 'name = "城区"\nparent = "lane"\n', 0, 'parent = "lane"',
     "region 'town': parents go round in a cycle (town → lane → street → town)"),
    ('name = "某社区"\nparent = "street"', 'name = "某社区"\nparent = "lane"', 0,
     'parent = "lane"', "region 'lane': parents go round in a cycle (lane → lane)"),
    ('parent = "street"', 'parent = "street"\nplaces = "张家村"', 0, "places",
     "region 'lane': places must be a list of non-empty strings"),
    ('parent = "street"', 'parent = "street"\nplaces = ["张家村", " "]', 0, "places",
     "region 'lane': places must be a list of non-empty strings"),
    ('parent = "street"', 'parent = "street"\nplaces = ["张家村", 3]', 0, "places",
     "region 'lane': places must be a list of non-empty strings"),
    ('parent = "street"', 'parent = "street"\nplaces = ["张家村", " 张家村 "]', 0, "places",
     "region 'lane': place '张家村' is listed twice"),
    ('parent = "street"', 'parent = "street"\nplaces = ["人民广场", "城区"]', 0, "places",
     "region 'lane': place '城区' is the name of region 'town'"),
    ('name = "城区"\n', 'name = "城区"\nplaces = ["某社区"]\n', 0, "places",  # one named later
     "region 'town': place '某社区' is the name of region 'lane'"),
    ('parent = "street"', 'parent = "street"\nplaces = ["某社区"]', 0, "places",  # its own
     "region 'lane': place '某社区' is the name of region 'lane'"),
    # rules
    ('region = "*"', 'region = "*"\nwhy = "x"', 0, "why",
     "rule: unknown key 'why' (allowed: category, region, department)"),
    ('department = "b"\n', "", 0, "[[rule]]", "rule: department is missing", 1),
    ('category = "c2"', 'category = ""', 0, 'category = ""',
     "rule: category must be a non-empty string"),
    ('region = "street"\ndepartment', 'region = 5\ndepartment', 0, "region = 5",
     "rule: region must be a non-empty string"),
    ('department = "b"\n', 'department = " "\n', 0, 'department = " "',
     "rule: department must be a non-empty string"),
    ('category = "c1"\nregion', 'category = "c9"\nregion', 0, 'category = "c9"',
     "rule: unknown category 'c9'"),
    ('region = "street"\ndepartment', 'region = "mars"\ndepartment', 0, 'region = "mars"',
     'rule: unknown region \'mars\' (a region id or "*")'),
    ('department = "a"\n', 'department = "zz"\n', 0, 'department = "zz"',
     "rule: unknown department 'zz'"),
    ('category = "c2"\nregion = "street"', 'category = "c1"\nregion = "*"', 0, "[[rule]]",
     "rule: c1 × * is already routed by the rule on line {first}", 1),
]


@pytest.mark.parametrize(("old", "new", "nth", "needle", "problem", "needle_nth"),
                         [case if len(case) == 6 else (*case, 0) for case in CASES])
def test_every_fault_names_its_line_and_says_what_is_wrong(
    old: str, new: str, nth: int, needle: str | None, problem: str, needle_nth: int,
) -> None:
    text = edited(old, new, nth)
    error = error_of(text)
    problem = problem.format(first=line_of(text, "[[rule]]"))
    assert error.problem == problem
    assert error.line == (1 if needle is None else line_of(text, needle, needle_nth)), text
    assert str(error) == f"cat.toml:{error.line}: {problem}"


@pytest.mark.parametrize("table", ["department", "category", "region"])
def test_a_missing_table_is_named(table: str) -> None:
    # line 1: the rules' `department = …`, `category = …`, `region = …` are keys inside
    # [[rule]] tables, no place to point at
    error = error_of(without(table))
    assert (error.line, error.problem) == (1, f"needs [[{table}]] tables")


@pytest.mark.parametrize("table", ["department", "category", "region", "rule"])
def test_a_table_of_the_wrong_shape_names_its_line(table: str) -> None:
    error = error_of(f"{table} = 3\n" + without(table))
    assert (error.line, error.problem) == (1, f"{table} must be [[{table}]] tables")
    error = error_of(f"# first\n{table} = [1, 2]\n" + without(table))
    assert (error.line, error.problem) == (2, f"{table} must be [[{table}]] tables")


def test_intake_that_is_no_table_names_its_line() -> None:
    intake = '[intake]\nanonymous_kinds = ["建议", "咨询"]\n'
    text = '# first\nintake = ["咨询"]\n' + GOOD.replace(intake, "")
    error = error_of(text)
    assert (error.line, error.problem) == (2, "intake must be an [intake] table")


def test_deadlines_that_are_no_table_name_their_line() -> None:
    deadlines = GOOD[GOOD.index("[deadlines]"):GOOD.index("[intake]")]
    text = "# first\ndeadlines = 5\n" + GOOD.replace(deadlines, "")
    error = error_of(text)
    assert (error.line, error.problem) == (
        2, f"needs a [deadlines] table: working days per ticket kind ({KINDS_LISTED})")


@pytest.mark.parametrize("table", ["department", "category", "region"])
def test_an_empty_list_of_entries_names_its_line(table: str) -> None:
    error = error_of(f"# first\n{table} = []\n" + without(table))
    assert (error.line, error.problem) == (2, f"needs [[{table}]] tables")


def test_one_working_day_is_a_deadline_and_keywords_are_optional() -> None:
    text = GOOD.replace('"求助" = 3', '"求助" = 1').replace('keywords = ["扰民"]\n', "")
    cat = parse_catalogue(text, "cat.toml")
    assert cat.deadline_days("求助") == 1
    assert cat.category("c2").keywords == ()


def test_places_are_optional_read_without_spaces_in_file_order() -> None:
    text = GOOD.replace('name = "某社区"\n', 'name = "某社区"\nplaces = [" 张家村 ", "人民广场"]\n')
    cat = parse_catalogue(text, "cat.toml")
    assert cat.region("lane").places == ("张家村", "人民广场")
    assert cat.region("town").places == ()
    assert cat.region_for_text("张家村口") == cat.region("lane")
    empty = parse_catalogue(GOOD.replace('name = "某社区"\n', 'name = "某社区"\nplaces = []\n'),
                            "cat.toml")
    assert empty.region("lane").places == ()


def test_a_place_under_two_regions_is_named_on_the_second() -> None:
    text = (GOOD.replace('name = "某街道"\n', 'name = "某街道"\nplaces = ["张家村"]\n')
            .replace('name = "某社区"\n', 'name = "某社区"\nplaces = ["人民广场", " 张家村"]\n'))
    error = error_of(text)
    assert error.problem == "region 'lane': place '张家村' is already listed under region 'street'"
    assert error.line == line_of(text, "places", 1)


def test_a_cycle_above_a_region_is_named_from_a_region_in_it() -> None:
    text = GOOD.replace('[[region]]\nid = "town"\nname = "城区"\n',
                        '[[region]]\nid = "edge"\nname = "郊区"\nparent = "street"\n\n'
                        '[[region]]\nid = "town"\nname = "城区"\nparent = "street"\n')
    error = error_of(text)
    assert error.problem == "region 'town': parents go round in a cycle (town → street → town)"
    assert error.line == line_of(text, 'parent = "street"', 1)


def test_quoted_table_names_count_like_bare_ones() -> None:
    # a regression: the quoted header was not counted, and the fault was put on the
    # next entry's line
    text = GOOD.replace('[[region]]\nid = "street"\nname = "某街道"',
                        '[[ "region" ]]\nid = "street"')
    error = error_of(text)
    assert (error.line, error.problem) == (line_of(text, '[[ "region" ]]'),
                                           "region: name is missing")
    text = GOOD.replace("[deadlines]", "['deadlines']").replace('"表扬" = 5\n', "")
    error = error_of(text)
    assert (error.line, error.problem) == (line_of(text, "['deadlines']"),
                                           "deadlines: no deadline for 表扬")


def test_an_inline_entry_missing_a_key_is_found_by_its_id() -> None:
    text = 'region = [\n  { id = "town", name = "城区" },\n  { id = "street" },\n]\n'
    error = error_of(text + without("region"))
    assert (error.line, error.problem) == (3, "region: name is missing")
    text = 'region = [\n  { name = "城区", id = "town" },\n  { parent = "town",id="lane" },\n]\n'
    error = error_of(text + without("region"))
    assert (error.line, error.problem) == (3, "region: name is missing")


# ---------------------------------------------------------------- TOML that does not parse
def test_a_toml_syntax_error_names_its_line_and_column() -> None:
    text = GOOD.replace("order = 2", "order = = 2")
    error = error_of(text)
    assert (error.line, error.problem) == (line_of(text, "order = = 2"),
                                           "Invalid value (column 9)")
    assert str(error) == f"cat.toml:{error.line}: Invalid value (column 9)"


def test_a_key_given_twice_names_the_second_line() -> None:
    text = GOOD.replace('"咨询" = 3', '"咨询" = 3\n"咨询" = 4')
    error = error_of(text)
    assert (error.line, error.problem) == (line_of(text, '"咨询" = 4'),
                                           "Cannot overwrite a value (column 9)")


def test_a_file_cut_short_names_its_last_line() -> None:
    text = GOOD + 'extra = ["a",\n'
    error = error_of(text)
    assert error.line == len(text.splitlines())
    assert error.problem == "Invalid value (at end of file)"
    error = error_of('x = "abc')
    assert (error.source, error.line, error.problem) == (
        "cat.toml", 1, "Unterminated string (at end of file)")


# ---------------------------------------------------------------- finding lines
def test_entry_line_finds_tables_entries_and_keys() -> None:
    text = GOOD
    assert entry_line(text, "department", 0) == line_of(text, "[[department]]", 0)
    assert entry_line(text, "department", 2) == line_of(text, "[[department]]", 2)
    assert entry_line(text, "department", 1, "fallback") == line_of(text, "fallback = true")
    assert entry_line(text, "department", 0, "short_name") == line_of(text, "short_name")
    # a key the entry lacks: its header, never the next entry's key
    assert entry_line(text, "department", 0, "fallback") == line_of(text, "[[department]]")
    assert entry_line(text, "deadlines", None) == line_of(text, "[deadlines]")
    assert entry_line(text, "deadlines", None, "建议") == line_of(text, '"建议"')
    assert entry_line(text, "category", 1, "order") == line_of(text, "order = 2")
    assert entry_line(text, "rule", 1, "department") == line_of(text, 'department = "b"')


def test_entry_line_reads_keys_however_quoted_and_headers_however_spaced() -> None:
    text = '[ county ]\n"name" = "x"\n\n[[ region ]]\n  \'parent\'  = "y"\nid = "r"\n'
    assert entry_line(text, "county", None) == 1
    assert entry_line(text, "county", None, "name") == 2
    assert entry_line(text, "region", 0) == 4
    assert entry_line(text, "region", 0, "parent") == 5
    assert entry_line(text, "region", 0, "id") == 6
    # a key named like the table's start is not taken for it
    assert entry_line("[county]\nnames = 1\nname = 2\n", "county", None, "name") == 3


def test_entry_line_without_a_header_falls_back_to_the_id_line_then_line_1() -> None:
    inline = 'region = [\n  { id = "x" },\n]\n'
    assert entry_line(inline, "region", 0) == 1
    flat = 'x = 1\nid = "zz"\n  id = \'yy\'\n'
    assert entry_line(flat, "region", 0, ident="zz") == 2
    assert entry_line(flat, "region", 0, ident="yy") == 3
    assert entry_line(flat, "region", 0, ident="z") == 1
    assert entry_line(flat, "region", 3) == 1
    assert entry_line(GOOD, "region", 3, ident="town") == line_of(GOOD, 'id = "town"')


# ---------------------------------------------------------------- the legal consultation
LEGAL = """
[legal]
closed_on_holidays = false

[legal.hours]
mon = "09:00-12:00, 14:00-17:30"
tue = "09:00-17:30"
sun = ""

[[legal_area]]
id = "labour"
name = "劳动争议"
order = 2
keywords = ["欠薪", "工资"]

[[legal_area]]
id = "family"
name = "婚姻家庭"
order = 1
"""


def test_legal_areas_and_hours_are_read() -> None:
    catalogue = parse_catalogue(GOOD + LEGAL, "cat.toml")
    assert [a.name for a in catalogue.legal_areas_in_order()] == ["婚姻家庭", "劳动争议"]
    assert catalogue.legal_areas[0].keywords == ("欠薪", "工资")
    hours = catalogue.legal_hours
    assert hours is not None and not hours.closed_on_holidays
    assert hours.describe() == "周一 09:00-12:00、14:00-17:30；周二 09:00-17:30"


def test_without_legal_tables_the_consultation_is_not_offered() -> None:
    catalogue = parse_catalogue(GOOD, "cat.toml")
    assert (catalogue.legal_areas, catalogue.legal_hours) == ((), None)


LEGAL_CASES = [
    ('mon = "09:00-12:00, 14:00-17:30"', 'mon = "9-12"', 'mon = "9-12"',
     "legal.hours: mon: '9-12' is not a span like 09:00-17:30"),
    ('mon = "09:00-12:00, 14:00-17:30"', 'mon = "14:00-17:30, 09:00-12:00"', "mon =",
     "legal.hours: mon: '09:00-12:00' overlaps or comes before the span before it"),
    ('tue = "09:00-17:30"', 'tue = "17:30-09:00"', "tue =",
     "legal.hours: tue: '17:30-09:00' ends before it starts"),
    ('tue = "09:00-17:30"', 'tue = "09:00-24:30"', "tue =",
     "legal.hours: tue: '09:00-24:30': 24:00 is the latest end"),
    ('sun = ""', 'holiday = ""', 'holiday = ""',
     "legal.hours: unknown day 'holiday' (days: mon, tue, wed, thu, fri, sat, sun)"),
    ('sun = ""', "sun = 0", "sun = 0",
     'legal.hours: sun must be a string like "09:00-12:00, 14:00-17:30" ("": closed)'),
    ("closed_on_holidays = false", 'closed_on_holidays = "no"', "closed_on_holidays",
     "legal: closed_on_holidays must be true or false"),
    ("closed_on_holidays = false", "closed = false", "closed =",
     "legal: unknown key 'closed' (allowed: closed_on_holidays, hours)"),
    ('mon = "09:00-12:00, 14:00-17:30"\ntue = "09:00-17:30"', "", "[legal.hours]",
     "legal.hours: the service is open on no day"),
    ("order = 1\n", "order = 2\n", "order = 2",
     "legal_area 'family': order 2 is taken by 'labour'", 2),
    ("order = 1\n", 'order = 1\nkeywords = ["工资"]\n', 'keywords = ["工资"]',
     "legal_area 'family': keyword '工资' is already 'labour''s"),
]


@pytest.mark.parametrize(("old", "new", "needle", "problem", "needle_nth"),
                         [case if len(case) == 5 else (*case, 0) for case in LEGAL_CASES])
def test_every_legal_fault_names_its_line(old: str, new: str, needle: str, problem: str,
                                          needle_nth: int) -> None:
    text = GOOD + LEGAL.replace(old, new, 1)
    error = error_of(text)
    assert (error.problem, error.line) == (problem, line_of(text, needle, needle_nth))


def test_areas_without_hours_or_hours_without_areas_is_refused() -> None:
    areas_only = GOOD + LEGAL[LEGAL.index("[[legal_area]]"):]
    error = error_of(areas_only)
    assert (error.line, error.problem) == (
        line_of(areas_only, "[[legal_area]]"),
        "legal_area: the consultation needs a [legal] table with its hours ([legal.hours])")
    hours_only = GOOD + LEGAL[:LEGAL.index("[[legal_area]]")]
    error = error_of(hours_only)
    assert (error.line, error.problem) == (
        line_of(hours_only, "[legal]"), "legal: the consultation needs [[legal_area]] tables")
