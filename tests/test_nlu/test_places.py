from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from nlu.places import (
    EVERYDAY_COUNTY_NAMES,
    EVERYDAY_PHRASES,
    EVERYDAY_SHORT_NAMES,
    Place,
    PlaceFinder,
    adcodes_path,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finder() -> PlaceFinder:
    return PlaceFinder.load()


def read(finder: PlaceFinder, text: str) -> tuple[str | None, ...] | None:
    place = finder.find(text)
    if place is None:
        return None
    return (place.province, place.city, place.district, place.street)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("河北省邯郸市丛台区", ("河北省", "邯郸市", "丛台区", None)),
        ("我是河北邯郸的", ("河北省", "邯郸市", None, None)),
        ("我是贵州毕节的", ("贵州省", "毕节市", None, None)),
        ("人在广州", ("广东省", "广州市", None, None)),
        ("四川凉山昭觉县", ("四川省", "凉山彝族自治州", "昭觉县", None)),
        ("黑龙江鹤岗", ("黑龙江省", "鹤岗市", None, None)),
        ("丛台区", ("河北省", "邯郸市", "丛台区", None)),
        ("朝阳区", (None, None, "朝阳区", None)),
        ("北京朝阳区", ("北京市", "北京市", "朝阳区", None)),
        ("长春朝阳区", ("吉林省", "长春市", "朝阳区", None)),
        ("上海市长宁区", ("上海市", "上海市", "长宁区", None)),
        ("遂宁市船山区", ("四川省", "遂宁市", "船山区", None)),
        ("济南", ("山东省", "济南市", None, None)),
        ("邯郸市丛台区中华街道", ("河北省", "邯郸市", "丛台区", "中华街道")),
        ("我想申请低保,我家在河北省邯郸市丛台区", ("河北省", "邯郸市", "丛台区", None)),
        ("我在长宁区新华路街道", ("上海市", "上海市", "长宁区", "新华路街道")),
    ],
)
def test_brief_examples(finder: PlaceFinder, text: str, expected: tuple[str | None, ...]) -> None:
    assert read(finder, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # provinces by their short names
        ("河北", ("河北省", None, None, None)),
        ("广西", ("广西壮族自治区", None, None, None)),
        ("内蒙古", ("内蒙古自治区", None, None, None)),
        ("内蒙", ("内蒙古自治区", None, None, None)),
        ("新疆", ("新疆维吾尔自治区", None, None, None)),
        ("宁夏", ("宁夏回族自治区", None, None, None)),
        ("西藏", ("西藏自治区", None, None, None)),
        ("黑龙江省", ("黑龙江省", None, None, None)),
        ("广西壮族自治区南宁市", ("广西壮族自治区", "南宁市", None, None)),
        # a short name shared by a province and a prefecture is the province; 吉林市 the city
        ("吉林", ("吉林省", None, None, None)),
        ("吉林市", ("吉林省", "吉林市", None, None)),
        ("吉林长春", ("吉林省", "长春市", None, None)),
        ("海南", ("海南省", None, None, None)),
        # the four municipalities are their own city
        ("北京", ("北京市", "北京市", None, None)),
        ("重庆", ("重庆市", "重庆市", None, None)),
        ("天津和平区", ("天津市", "天津市", "和平区", None)),
        ("重庆城口县", ("重庆市", "重庆市", "城口县", None)),
        ("上海市浦东新区", ("上海市", "上海市", "浦东新区", None)),
        # autonomous prefectures, leagues and areas
        ("凉山州", ("四川省", "凉山彝族自治州", None, None)),
        ("恩施", ("湖北省", "恩施土家族苗族自治州", None, None)),
        ("延边", ("吉林省", "延边朝鲜族自治州", None, None)),
        ("新疆喀什", ("新疆维吾尔自治区", "喀什地区", None, None)),
        ("锡林郭勒", ("内蒙古自治区", "锡林郭勒盟", None, None)),
        ("西双版纳", ("云南省", "西双版纳傣族自治州", None, None)),
        # county-level cities that report to their province have no city
        ("我在仙桃", ("湖北省", None, "仙桃市", None)),
        ("济源市", ("河南省", None, "济源市", None)),
        ("石河子", ("新疆维吾尔自治区", None, "石河子市", None)),
        # unique county-level names imply their parents
        ("昭觉县", ("四川省", "凉山彝族自治州", "昭觉县", None)),
        ("射洪市", ("四川省", "遂宁市", "射洪市", None)),
        ("浦东新区", ("上海市", "上海市", "浦东新区", None)),
        # separators between the names of one chain
        ("河北 邯郸", ("河北省", "邯郸市", None, None)),
        ("河北省,邯郸市,丛台区", ("河北省", "邯郸市", "丛台区", None)),
        ("湖南邵阳隆回县", ("湖南省", "邵阳市", "隆回县", None)),
        ("甘肃定西安定区", ("甘肃省", "定西市", "安定区", None)),
        # a suffix that begins the next word falls back to the short name
        ("邯郸市场监管局", ("河北省", "邯郸市", None, None)),
    ],
)
def test_names(finder: PlaceFinder, text: str, expected: tuple[str | None, ...]) -> None:
    assert read(finder, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # names changed since cpca's snapshot: both read, the current name reported
        ("射洪县", ("四川省", "遂宁市", "射洪市", None)),
        ("郫都区", ("四川省", "成都市", "郫都区", None)),
        ("我在郫县", ("四川省", "成都市", "郫都区", None)),
        ("那曲", ("西藏自治区", "那曲市", None, None)),
        ("大同市平城区", ("山西省", "大同市", "平城区", None)),
        ("长治郊区", ("山西省", "长治市", "潞州区", None)),
        ("济南市莱芜区", ("山东省", "济南市", "莱芜区", None)),
        ("莱芜", ("山东省", "济南市", "莱芜区", None)),
        ("莱芜市钢城区", ("山东省", "济南市", "钢城区", None)),
    ],
)
def test_names_changed_since_the_data(
    finder: PlaceFinder, text: str, expected: tuple[str | None, ...]
) -> None:
    assert read(finder, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "身体安康",
        "大同小异",
        "这是大同小异的",
        "东方红",
        "都是东方红",
        "东方人",
        "平安无事",
        "和平",
        "开心",
        "长春藤",
        "中山装",
        "我在中山路",
        "白山黑水",
        "黄山旅游",
        "长治久安",
        "四平八稳",
        "玉树临风",
        "阿里巴巴",
        "普洱茶",
        "哈密瓜很甜",
        "三明治",
        "大理石的地板",
        "长沙发坏了",
        "一路平安顺利",
        "我和田大爷说了",
        "东躲西藏",
        "药已经开封了",
        "日照充足",
        "来宾很多",
        "白银首饰",
        "朝阳很美",
        "他踢中卫",
        "我想申请低保",
        "我老伴住院了",
        "孩子上学学费交不起",
        "家里三口人",
        "临时救助怎么申请",
        "我交了学费县里不管",
        "他担任县人大代表",
        "我住在县城",
        "我住在郊区",
        "在城区上班",
        "我在市区",
        "新县城",
        "我家在农村乡下",
        "县民政局",
        "西湖区域",
        "合作市场",
        "比如县里的补助",
        "相应城市的标准",
        "复合肥涨价了",
        "",
        "a",
        "低保",
    ],
)
def test_no_place(finder: PlaceFinder, text: str) -> None:
    assert finder.find(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an everyday short name is a place after a cue, before a suffix or next to its own
        ("我是安康的", ("陕西省", "安康市", None, None)),
        ("安康人", ("陕西省", "安康市", None, None)),
        ("陕西安康", ("陕西省", "安康市", None, None)),
        ("老家在大同", ("山西省", "大同市", None, None)),
        ("大同那边", ("山西省", "大同市", None, None)),
        ("回大同", ("山西省", "大同市", None, None)),
        ("大同平城区", ("山西省", "大同市", "平城区", None)),
        ("我在中山", ("广东省", "中山市", None, None)),
        ("广东中山", ("广东省", "中山市", None, None)),
        ("我住东方", ("海南省", None, "东方市", None)),
        ("来自黄山", ("安徽省", "黄山市", None, None)),
        ("安徽黄山", ("安徽省", "黄山市", None, None)),
        ("户口在和田", ("新疆维吾尔自治区", "和田地区", None, None)),
        # a county of one character and a suffix needs the same
        ("我在和县", ("安徽省", "马鞍山市", "和县", None)),
        ("我是任县人", ("河北省", "邢台市", "任县", None)),
        ("菏泽曹县", ("山东省", "菏泽市", "曹县", None)),
        # so does a county whose stem is an everyday word (比如县里, 公安县局)
        ("我在比如县", ("西藏自治区", "那曲市", "比如县", None)),
        ("湖北荆州公安县", ("湖北省", "荆州市", "公安县", None)),
        # 城区, 郊区 … only right after their own city
        ("阳泉郊区", ("山西省", "阳泉市", "郊区", None)),
        ("攀枝花东区", ("四川省", "攀枝花市", "东区", None)),
        ("河南新县", ("河南省", "信阳市", "新县", None)),
    ],
)
def test_everyday_names_with_support(
    finder: PlaceFinder, text: str, expected: tuple[str | None, ...]
) -> None:
    assert read(finder, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("鼓楼区", (None, None, "鼓楼区", None)),
        ("南京鼓楼区", ("江苏省", "南京市", "鼓楼区", None)),
        ("福州市鼓楼区", ("福建省", "福州市", "鼓楼区", None)),
        ("江苏鼓楼区", ("江苏省", None, "鼓楼区", None)),
        ("吉林朝阳区", ("吉林省", "长春市", "朝阳区", None)),
        # a place said elsewhere in the message decides
        ("北京的朝阳区", ("北京市", "北京市", "朝阳区", None)),
        ("我从长春来,住在朝阳区", ("吉林省", "长春市", "朝阳区", None)),
        # a province that does not fit leaves the district undecided; the province is read
        ("河北朝阳区", ("河北省", None, None, None)),
    ],
)
def test_ambiguous_districts(
    finder: PlaceFinder, text: str, expected: tuple[str | None, ...]
) -> None:
    assert read(finder, text) == expected


@pytest.mark.parametrize(
    ("text", "street"),
    [
        ("邯郸市丛台区中华街道", "中华街道"),
        ("丛台区柏树街道办", "柏树街道"),
        ("射洪市太和镇", "太和镇"),
        ("昭觉县城关镇", "城关镇"),
        ("上海市周浦镇", "周浦镇"),
        ("仙桃市毛嘴镇", "毛嘴镇"),
        ("我住在北京市海淀区中关村街道", "中关村街道"),
        ("遂宁市船山区凯旋路街道", "凯旋路街道"),
        ("长宁区仙霞新村街道", "仙霞新村街道"),
        ("浦东新区潍坊新村街道", "潍坊新村街道"),
        ("丛台区的乡下", None),
        ("丛台区农村乡下", None),
        ("丛台区城乡", None),
        ("丛台区街道办", None),
        ("河北柏树街道", None),  # after a province: no street
        ("丛台区新华路", None),
    ],
)
def test_streets(finder: PlaceFinder, text: str, street: str | None) -> None:
    place = finder.find(text)
    assert place is not None
    assert place.street == street


def test_street_inside_a_chain_is_not_read_as_another_place(finder: PlaceFinder) -> None:
    place = finder.find("浦东新区潍坊新村街道")
    assert place == Place("上海市", "上海市", "浦东新区", "潍坊新村街道", 0, 10)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("河北省邯郸市丛台区", "河北省邯郸市丛台区"),
        ("我是河北邯郸的", "河北邯郸"),
        ("我想申请低保,我家在河北省邯郸市丛台区,老伴残疾", "河北省邯郸市丛台区"),
        ("我在长宁区新华路街道", "长宁区新华路街道"),
        ("河北 邯郸", "河北 邯郸"),
        ("上海市长宁区", "上海市长宁区"),
    ],
)
def test_span(finder: PlaceFinder, text: str, span: str) -> None:
    place = finder.find(text)
    assert place is not None
    assert text[place.start : place.end] == span


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the chain that says the most wins, the earliest on a tie
        ("我从北京回到河北省邯郸市丛台区", ("河北省", "邯郸市", "丛台区", None)),
        ("我是湖北人在广东打工", ("湖北省", None, None, None)),
        ("河北邯郸,不是河南", ("河北省", "邯郸市", None, None)),
    ],
)
def test_several_places(finder: PlaceFinder, text: str, expected: tuple[str | None, ...]) -> None:
    assert read(finder, text) == expected


def test_load_is_shared() -> None:
    assert PlaceFinder.load() is PlaceFinder.load()


def test_data_file_is_cpcas() -> None:
    path = adcodes_path()
    assert path.name == "adcodes.csv"
    assert path.parent.name == "resources"
    assert path.parent.parent.name == "cpca"


def test_cpca_and_pandas_are_not_imported() -> None:
    code = (
        "import sys\n"
        "from nlu.places import PlaceFinder\n"
        "assert PlaceFinder.load().find('河北邯郸') is not None\n"
        "assert 'cpca' not in sys.modules and 'pandas' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_stop_lists_are_place_names(finder: PlaceFinder) -> None:
    # each everyday short name must be a name the finder knows, or the entry is dead
    for name in EVERYDAY_SHORT_NAMES | EVERYDAY_COUNTY_NAMES:
        assert finder.find(f"我在{name}") is not None, name
        assert finder.find(f"{name}") is None, name
    for phrase in EVERYDAY_PHRASES:
        assert finder.find(phrase) is None, phrase


def test_long_text(finder: PlaceFinder) -> None:
    text = "我想申请低保,老伴住院了。" * 150 + "我家在河北省邯郸市丛台区中华街道"
    place = finder.find(text)
    assert place is not None
    assert place.district == "丛台区"
    assert place.street == "中华街道"
    assert text[place.start : place.end] == "河北省邯郸市丛台区中华街道"


_ALPHABET = "河北省邯郸市丛台区上海长宁朝阳北京吉林大同安康东方红在是人的街道镇乡 ,新华路中山装"


@hypothesis_settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=_ALPHABET, max_size=40))
def test_any_text_reads_a_span_inside_it(text: str) -> None:
    place = PlaceFinder.load().find(text)
    if place is not None:
        assert 0 <= place.start < place.end <= len(text)
        assert any(v is not None for v in (place.province, place.city, place.district))
        if place.street is not None:
            assert text[place.start : place.end].endswith(place.street)
