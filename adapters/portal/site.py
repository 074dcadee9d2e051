"""The portal's site index: live entries, tombstones of withdrawn ones, and the links between them.

Pure data and pure queries over the entries it holds; adapters.portal.store fills one with the
neighbourhood of the entries a delivery changes (never the whole site).
Links are two-way: a page shows what it references (`related`) and every live page that references it,
by `id` or by `index_no`, so a policy lists every interpretation of it whatever order they arrived in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.common.views import (
    ArticleView,
    EntryRef,
    PortalEntry,
    RefLink,
    RelationGroup,
    SiteView,
    Tombstone,
)
from schemas.publication import Publication, Relation, Validity

# A reference seen from the page it points at.
INVERSE: dict[Relation, str] = {
    Relation.interprets: Relation.interpreted_by.value,
    Relation.interpreted_by: Relation.interprets.value,
    Relation.amends: "amended_by",
    Relation.repeals: "repealed_by",
    Relation.replaces: "replaced_by",
    Relation.related: Relation.related.value,
}
# Sections of 关联文件 / 关联解读, in page order.
GROUP_LABELS: dict[str, str] = {
    "interprets": "解读的政策文件",
    "interpreted_by": "关联解读",
    "amends": "本文件修改的文件",
    "amended_by": "修改本文件的文件",
    "repeals": "本文件废止的文件",
    "repealed_by": "废止本文件的文件",
    "replaces": "本文件替代的文件",
    "replaced_by": "替代本文件的文件",
    "related": "关联文件",
}

Target = PortalEntry | Tombstone | EntryRef  # live page, withdrawn page, or not (yet) on the portal


@dataclass
class SiteIndex:
    entries: dict[str, PortalEntry] = field(default_factory=dict)
    withdrawn: dict[str, Tombstone] = field(default_factory=dict)
    _cache: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    # -- changes -----------------------------------------------------------------------------

    def put(self, entry: PortalEntry) -> None:
        self.entries[entry.id] = entry
        self._cache.clear()

    def withdraw(self, tomb: Tombstone) -> None:
        self.entries.pop(tomb.id, None)
        self.withdrawn[tomb.id] = tomb
        self._cache.clear()

    # -- queries -----------------------------------------------------------------------------

    def ordered(self) -> list[PortalEntry]:
        """Live entries, newest first (publish date, then submission time)."""
        if "ordered" not in self._cache:
            self._cache["ordered"] = sorted(self.entries.values(), key=lambda e: e.sort_key, reverse=True)
        return self._cache["ordered"]  # type: ignore[return-value]

    def in_column(self, slug: str) -> list[PortalEntry]:
        return [e for e in self.ordered() if e.column == slug]

    def resolve(self, ref: EntryRef) -> PortalEntry | Tombstone | None:
        """The page a reference names: by id first, else by 索引号; live pages before withdrawn ones."""
        if ref.id and (found := self.entries.get(ref.id) or self.withdrawn.get(ref.id)):
            return found
        if ref.index_no:
            return self._by_index_no().get(ref.index_no)
        return None

    def edges(self, entry: PortalEntry) -> list[tuple[str, Target]]:
        """(relation as seen from `entry`, the other end) for its own references, then for pages referencing it."""
        out: list[tuple[str, Target]] = []
        for ref in entry.related:
            target = self.resolve(ref)
            if target is None or target.id != entry.id:
                out.append((ref.relation.value, target or ref))
        return out + self._backlinks(entry)

    def neighbours(self, entry: PortalEntry) -> set[str]:
        """Live pages that show a link to or from `entry` (re-rendered when it changes or goes)."""
        return {t.id for _, t in self.edges(entry) if isinstance(t, PortalEntry)} - {entry.id}

    def interpreted_by(self, entry: PortalEntry) -> list[str]:
        ids = [t.id for key, t in self.edges(entry) if key == "interpreted_by" and isinstance(t, PortalEntry)]
        return list(dict.fromkeys(ids))

    def relation_groups(self, entry: PortalEntry) -> tuple[RelationGroup, ...]:
        groups: dict[str, dict[tuple[str, str, str], RefLink]] = {key: {} for key in GROUP_LABELS}
        for key, target in self.edges(entry):
            link = _link(target)
            groups[key].setdefault((link.url or "", link.title, link.index_no), link)
        return tuple(RelationGroup(key, GROUP_LABELS[key], tuple(links.values())) for key, links in groups.items() if links)

    def article_view(self, pub: Publication, site: SiteView) -> ArticleView:
        entry = self.entries[pub.id]
        return ArticleView(pub, entry.url, site.column(entry.column), self.relation_groups(entry))

    # -- internals ---------------------------------------------------------------------------

    def _by_index_no(self) -> dict[str, PortalEntry | Tombstone]:
        if "by_index_no" not in self._cache:
            found: dict[str, PortalEntry | Tombstone] = {t.index_no: t for t in self.withdrawn.values()}
            found.update({e.index_no: e for e in self.entries.values()})
            self._cache["by_index_no"] = found
        return self._cache["by_index_no"]  # type: ignore[return-value]

    def _referrers(self) -> dict[str, list[PortalEntry]]:
        """id or 索引号 -> live entries whose references mention it (newest first)."""
        if "referrers" not in self._cache:
            found: dict[str, list[PortalEntry]] = {}
            for source in self.ordered():
                for key in {k for ref in source.related for k in (ref.id, ref.index_no) if k}:
                    found.setdefault(key, []).append(source)
            self._cache["referrers"] = found
        return self._cache["referrers"]  # type: ignore[return-value]

    def _backlinks(self, entry: PortalEntry) -> list[tuple[str, Target]]:
        referrers = self._referrers()
        candidates = {s.id: s for s in referrers.get(entry.id, []) + referrers.get(entry.index_no, []) if s.id != entry.id}
        out: list[tuple[str, Target]] = []
        for source in sorted(candidates.values(), key=lambda e: e.sort_key, reverse=True):
            for ref in source.related:
                target = self.resolve(ref)
                if isinstance(target, PortalEntry) and target.id == entry.id:
                    out.append((INVERSE[ref.relation], source))
        return out


def _link(target: Target) -> RefLink:
    if isinstance(target, PortalEntry):
        note = "" if target.validity is Validity.valid else target.validity.phrase
        return RefLink(target.title, target.index_no, target.url, note)
    if isinstance(target, Tombstone):
        return RefLink(target.title, target.index_no, None, "已撤回")
    title = target.title or target.index_no or target.id or ""
    return RefLink(title, (target.index_no or "") if target.title else "", None, "暂未在本站发布")
