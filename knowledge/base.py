"""The loaded knowledge base and the questions the engine asks of it."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.schema import POLICY_IDS, Answer, Policy, Region, Source


@dataclass(frozen=True, slots=True)
class Place:
    """Where a resident lives, resolved against the regions."""

    region: Region
    district: str
    street: str | None = None


class KnowledgeBase:
    """Policies, sources and regional overlays, read-only after loading."""

    def __init__(
        self, sources: dict[str, Source], policies: dict[str, Policy], regions: list[Region]
    ):
        """Index the loaded content for lookups."""
        self.sources = sources
        self.policies = {p: policies[p] for p in POLICY_IDS if p in policies}
        self.regions = regions
        self._district_region: dict[str, Region] = {}
        self._street_district: dict[str, tuple[Region, str]] = {}
        for region in regions:
            for district in region.districts:
                self._district_region[district.name] = region
                for street in district.streets:
                    self._street_district[street] = (region, district.name)

    def policy(self, policy_id: str) -> Policy | None:
        """A policy by contract id."""
        return self.policies.get(policy_id)

    def answer(self, policy_id: str, aspect: str, region: Region | None = None) -> Answer | None:
        """The answer for one aspect, the region's own where it has one."""
        if region is not None:
            local = region.answers.get(policy_id, {}).get(aspect)
            if local is not None:
                return local
        policy = self.policies.get(policy_id)
        return policy.answers.get(aspect) if policy else None

    def place(self, district: str | None, street: str | None = None) -> Place | None:
        """Resolve a district and/or street to a region."""
        if street and street in self._street_district:
            region, district_name = self._street_district[street]
            return Place(region, district_name, street)
        if district and district in self._district_region:
            return Place(self._district_region[district], district, street)
        return None

    def region_by_id(self, region_id: str | None) -> Region | None:
        """A region by its id."""
        return next((r for r in self.regions if r.id == region_id), None)

    def district_terms(self) -> list[tuple[str, str, str]]:
        """(surface, entity, value) for every district and street, with short forms.

        Residents drop the suffix: 长宁 for 长宁区, 新华路 for 新华路街道.
        """
        terms: list[tuple[str, str, str]] = []
        for region in self.regions:
            for district in region.districts:
                terms.append((district.name, "district", district.name))
                short = district.name.rstrip("区县市")
                if len(short) >= 2 and short != district.name:
                    terms.append((short, "district", district.name))
                for street in district.streets:
                    terms.append((street, "street", street))
                    for suffix in ("街道", "新镇", "镇"):
                        if street.endswith(suffix) and len(street) - len(suffix) >= 2:
                            terms.append((street[: -len(suffix)], "street", street))
                            break
        return terms

    def policy_terms(self) -> list[tuple[str, str, str]]:
        """(surface, entity, value) for every policy name and alias."""
        terms = []
        for policy in self.policies.values():
            for surface in (policy.name, *policy.aliases):
                terms.append((surface, "policy", policy.id))
        return terms
