from knowledge.rules import Facts, load_rules


def test_medical_need_without_assistance_is_missing_class_with_reasons() -> None:
    rules = load_rules()
    result = rules.assess(
        Facts(
            needs=frozenset({"medical"}), conditions=frozenset({"serious_illness"}), urgency="soon"
        )
    )
    policies = [c.policy for c in result.candidates]
    assert policies[:2] == ["yiliao", "zhichuxing"]
    assert all(c.reason and c.section for c in result.candidates)
    assert result.target_class == "missing" and result.priority == 3
    assert [t for t, _ in result.tiers] == ["assistance"]


def test_receiving_dibao_makes_the_household_insufficient_not_missing() -> None:
    result = load_rules().assess(
        Facts(needs=frozenset({"education"}), receiving=frozenset({"dibao"}), urgency="soon")
    )
    assert result.target_class == "insufficient"
    assert "dibao" not in [c.policy for c in result.candidates]
    assert [t for t, _ in result.tiers] == ["advancement"]


def test_not_urgent_without_urgent_words_is_a_watch_list_lead() -> None:
    result = load_rules().assess(Facts(needs=frozenset({"employment"}), urgency="later"))
    assert result.target_class == "warning" and result.priority == 4


def test_urgent_words_raise_priority_whatever_the_resident_picked() -> None:
    rules = load_rules()
    assert rules.is_urgent("房东说下周就把我们赶出来,马上要搬")
    result = rules.assess(Facts(needs=frozenset({"housing"}), urgency="later", urgent_words=True))
    assert result.priority == 2 and result.target_class == "missing"


def test_crisis_is_priority_one_and_due_within_an_hour() -> None:
    rules = load_rules()
    result = rules.assess(Facts(urgency="crisis"))
    assert result.priority == 1 and rules.due_hours(1) == 1


def test_elderly_living_alone_is_a_tekun_candidate() -> None:
    result = load_rules().assess(Facts(ages=(78,), household_size=1, needs=frozenset({"care"})))
    assert "tekun" in [c.policy for c in result.candidates]


def test_need_words_are_read_from_plain_speech() -> None:
    rules = load_rules()
    assert rules.needs_in("老伴住院了医药费付不起") == ["medical"]
    assert set(rules.needs_in("房租交不上孩子学费也没着落")) == {"housing", "education"}
