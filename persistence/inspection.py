"""The inspection watch: what a 国办秘函〔2019〕19号-style inspection fails a site for, from govcast's own records.

- stale columns: a column (组配分类) with no new item for warn / alarm days (an empty column is an alarm);
  columns that are legitimately rare are exempt, and days are configurable per column;
- silent new-media accounts: WeChat / Weibo with nothing delivered for warn / alarm days;
- 三同步: policies published more than 3 working days ago with no interpretation;
- back-dating: 发布日期 more than a day before the item was submitted;
- interpretations whose policy is no longer valid (失效 / 废止).

Reads are bounded (per-column maxima through an index; the last RECENT_DAYS for back-dating and 三同步;
interpretations only, for their policies), so the
console home and /metrics stay cheap at 100,000 publications.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from persistence.engine import reading
from persistence.tables import delivery_outcomes, publications

CST = dt.timezone(dt.timedelta(hours=8), "CST")
RECENT_DAYS = 90
INTERPRETATION_WORKING_DAYS = 3
NEW_MEDIA = ("wechat", "weibo")


@dataclass(frozen=True)
class Watch:
    warn_days: int = 10
    alarm_days: int = 14
    column_days: dict[str, int] = field(default_factory=dict)  # column -> alarm days
    rare_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stale:
    name: str
    days: int | None  # None: never had an item
    level: str  # ok | warn | alarm
    last: dt.date | None


@dataclass(frozen=True)
class Finding:
    publication_id: str
    title: str
    note: str


@dataclass(frozen=True)
class Report:
    columns: list[Stale]
    accounts: list[Stale]
    missing_interpretations: list[Finding]
    backdated: list[Finding]
    invalid_policy_interpretations: list[Finding]

    @property
    def alarms(self) -> int:
        return sum(s.level == "alarm" for s in self.columns + self.accounts)

    @property
    def warnings(self) -> int:
        return sum(s.level == "warn" for s in self.columns + self.accounts)


def _level(days: int | None, alarm: int, warn: int) -> str:
    if days is None or days >= alarm:
        return "alarm"
    return "warn" if days >= warn else "ok"


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Monday-to-Friday days after `start` up to and including `end` (public holidays not known here)."""
    days, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        days += day.weekday() < 5
    return days


def inspect(engine: Engine, columns: list[str], channels: list[str], watch: Watch, now: dt.datetime) -> Report:
    today = now.astimezone(CST).date()
    p = publications.c
    with reading(engine) as conn:
        latest = dict(conn.execute(select(p.category, func.max(p.publish_date)).where(p.retracted.is_(False))
                                   .group_by(p.category)).all())
        heard = dict(conn.execute(select(delivery_outcomes.c.channel, func.max(delivery_outcomes.c.at)).where(
            delivery_outcomes.c.outcome == "delivered", delivery_outcomes.c.channel.in_(NEW_MEDIA))
            .group_by(delivery_outcomes.c.channel)).all())
        recent = conn.execute(select(p.id, p.title, p.kind, p.publish_date, p.created_at, p.validity, p.related_ids)
                              .where(p.retracted.is_(False), p.created_at >= now - dt.timedelta(days=RECENT_DAYS))).all()
        every_interpretation = conn.execute(select(p.id, p.title, p.validity, p.related_ids).where(
            p.retracted.is_(False), p.kind == "interpretation")).all()
        interpreted = _interpreted_policies(conn, every_interpretation)
    stale_columns = []
    for name in columns:
        if name in watch.rare_columns:
            continue
        alarm = watch.column_days.get(name, watch.alarm_days)
        warn = min(watch.warn_days, alarm)
        last = latest.get(name)
        days = (today - last).days if last else None
        stale_columns.append(Stale(name, days, _level(days, alarm, warn), last))
    accounts = []
    for channel in (c for c in NEW_MEDIA if c in channels):
        last_at = heard.get(channel)
        last_day = last_at.astimezone(CST).date() if last_at else None
        days = (today - last_day).days if last_day else None
        accounts.append(Stale(channel, days, _level(days, watch.alarm_days, watch.warn_days), last_day))
    interpretations = {pid for r in every_interpretation for pid in json.loads(r.related_ids or "[]")}
    missing, backdated = [], []
    for r in recent:
        submitted = r.created_at.astimezone(CST).date()
        if r.publish_date and (submitted - r.publish_date).days > 1:
            backdated.append(Finding(r.id, r.title, f"发布日期 {r.publish_date} 早于报送日 {submitted}"))
        if r.kind == "policy" and r.id not in interpretations and r.publish_date:
            late = working_days_between(r.publish_date, today)
            if late > INTERPRETATION_WORKING_DAYS:
                missing.append(Finding(r.id, r.title, f"发布已 {late} 个工作日，尚无解读"))
    return Report(stale_columns, accounts, missing, backdated, interpreted)


def _interpreted_policies(conn: Any, interpretations: Sequence[Any]) -> list[Finding]:
    """Interpretations (still valid) whose policy is 失效 or 废止."""
    wanted = {pid: r for r in interpretations if r.validity in (None, "有效")
              for pid in json.loads(r.related_ids or "[]")}
    if not wanted:
        return []
    p = publications.c
    lost = conn.execute(select(p.id, p.title, p.validity).where(p.id.in_(list(wanted)), p.validity.in_(("失效", "废止")))
                        ).all()
    return [Finding(wanted[row.id].id, wanted[row.id].title, f"所解读的《{row.title}》已{row.validity}") for row in lost]
