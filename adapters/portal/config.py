"""Typed configuration of the portal channel."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from adapters.base import AdapterConfig
from processors.render.views import SiteView
from schemas.vocab import DEFAULT_CATEGORIES

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class PortalConfig(AdapterConfig):
    root: Path = Field(description="output directory the web server publishes")
    base_url: str = Field(description="public URL of the portal root, e.g. http://127.0.0.1:8000/portal")
    site_name: str = Field(min_length=1, description="SiteName meta, header")
    site_domain: str = ""
    site_id_code: str = Field(default="", description="网站标识码 (10 chars)")
    site_sponsor: str = Field(default="", description="主办单位")
    site_phone: str = Field(default="", description="联系电话")
    icp: str = Field(default="", description="ICP备案号")
    police_beian: str = Field(default="", description="公安机关备案号")
    conac_url: str = Field(default="", description="党政机关网站标识 link (conac.cn); empty: not shown")
    error_report_url: str = Field(default="", description="我为政府网站找错 link; siteCode=<网站标识码> is appended")
    categories: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CATEGORIES),
                                       description="组配分类 -> column slug; unknown categories go to column 'other'")
    page_size: int = Field(default=20, ge=1, le=200)
    refresh_seconds: float = Field(default=1.0, ge=0, le=300,
                                   description="home, feed, sitemap and JSON index are rewritten at most this often")
    index_path: Path | None = Field(default=None, description="the portal's SQLite index (default: <root>.db beside it)")

    def site_view(self) -> SiteView:
        """What every page shows about the site (header, meta tags, footer, columns)."""
        return SiteView.build(
            name=self.site_name, base_url=self.base_url, categories=self.categories, domain=self.site_domain,
            id_code=self.site_id_code, sponsor=self.site_sponsor, phone=self.site_phone, icp=self.icp,
            police_beian=self.police_beian, conac_url=self.conac_url, error_report_url=self.error_report_url,
            sandbox=self.sandbox,
        )

    @property
    def store_path(self) -> Path:
        """Next to the published tree, never inside it: a copy of the tree to web servers leaves it behind."""
        return self.index_path or self.root.with_name(self.root.name + ".db")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("base_url must be an absolute http(s) URL, e.g. http://127.0.0.1:8000/portal")
        return value.rstrip("/")

    @field_validator("categories")
    @classmethod
    def _slugs(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(slug for slug in value.values() if not _SLUG.match(slug))
        if bad:
            raise ValueError(f"column slugs must be lowercase letters, digits, '-' or '_' (not {', '.join(bad)})")
        return value
