import pytest

from bot.assembly import Brain
from nlu.entities import valid_id_number


def found(brain: Brain, text: str) -> dict[str, list[object]]:
    result = brain.nlu.parse(text)
    out: dict[str, list[object]] = {}
    for entity in result.entities:
        out.setdefault(entity.entity, []).append(entity.value)
    return out


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("每月退休金三千五", "money", 3500),
        ("一个月收入两千多块", "money", 2000),
        ("月入1.2万", "money", 12000),
        ("工资2k左右", "money", 2000),
        ("老人七十多岁了", "age", 70),
        ("我今年68岁", "age", 68),
        ("一家三口", "household_size", 3),
        ("我和老伴两个人", "household_size", 2),
        ("就我一个人住", "household_size", 1),
        ("电话13812345678", "phone", "13812345678"),
        ("打021-62345678找我", "phone", "021-62345678"),
        ("住在长宁区新华路", "district", "长宁区"),
        ("住在长宁区新华路", "street", "新华路街道"),
        ("我住长宁", "district", "长宁区"),
        ("浦东新区花木街道", "street", "花木街道"),
        ("船山区的", "district", "船山区"),
        ("老伴住院了", "relation", "spouse"),
        ("他有残疾证", "condition", "disability"),
        ("低保怎么申请", "policy", "dibao"),
        ("申請醫療救助", "policy", "yiliao"),
        ("廉租房要什么条件", "policy", "zhufang"),
        ("低保怎么申请", "aspect", "process"),
        ("要带什么材料", "aspect", "materials"),
    ],
)
def test_entity_found_with_canonical_value(
    brain: Brain, text: str, entity: str, value: object
) -> None:
    assert value in found(brain, text).get(entity, []), found(brain, text)


def test_entity_offsets_point_at_the_surface_in_the_original_text(brain: Brain) -> None:
    text = "我想申請醫療救助，電話１３８１２３４５６７８"
    result = brain.nlu.parse(text)
    by_entity = {e.entity: text[e.start : e.end] for e in result.entities}
    assert by_entity["policy"] == "醫療救助"
    assert by_entity["phone"] == "１３８１２３４５６７８"


def test_id_number_needs_a_valid_check_digit(brain: Brain) -> None:
    assert valid_id_number("11010519491231002X")
    assert not valid_id_number("110105194912310021")
    assert found(brain, "身份证11010519491231002X")["id_number"] == ["11010519491231002X"]
    assert "id_number" not in found(brain, "身份证110105194912310021")


def test_money_in_a_medical_bill_is_not_mistaken_for_a_phone_or_age(brain: Brain) -> None:
    values = found(brain, "住院花了三万块")
    assert values.get("money") == [30000]
    assert "age" not in values and "phone" not in values
