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
