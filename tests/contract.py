"""Names fixed by ../shared/spec/CONTRACT.md, written out here so tests check the code
against the contract rather than against itself."""

LEAD_KEYS = frozenset(
    {
        "id", "created_at", "channel", "conversation_id", "status", "priority", "due_at",
        "assignee", "region", "contact", "household", "income_monthly", "current_assistance",
        "needs", "tier_3a", "target_class", "candidate_policies", "consent", "summary",
    }
)  # fmt: skip
POLICY_IDS = frozenset(
    {
        "dibao", "tekun", "dishouru", "zhichuxing", "yiliao", "jiaoyu", "zhufang", "jiuye",
        "shouzai", "linshi", "liulang", "canji", "ertong", "falv", "binzang", "xinli", "cishan",
    }
)  # fmt: skip
NEED_CATEGORIES = frozenset(
    {
        "basic_living", "medical", "education", "housing", "employment", "psychological",
        "care", "legal", "disaster", "funeral", "other",
    }
)  # fmt: skip
# One sentence for each intent of §1, saying what its examples say in other words: the
# contract's own examples are training lines, so parsing them would test memory, not
# understanding (tests/test_data checks these stay out of nlu/data).
INTENT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("哈喽 你好呀", "greet"),
    ("想问下低保要怎么去申请", "ask_policy"),
    ("老头子住了院 医药费我们家实在拿不出来", "report_need"),
    ("活着没意思 我真想死了算了", "crisis"),
    ("能不能让工作人员跟我说", "ask_human"),
    ("我们单位准备给困难户送些大米和面粉", "offer_help"),
    ("我要投诉街道工作人员", "complaint"),
    ("半个月前在这登记过 到现在也没人给我回电话", "check_status"),
    ("帮我查查明天的天气预报", "out_of_scope"),
    ("我要申請低保", "ask_policy"),
)
