"""Typed configuration of the portal channel."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from adapters.base import AdapterConfig
from adapters.common import urls
from adapters.common.install import Installation
from adapters.common.settings import ChannelSettings
from adapters.common.views import SiteView
from schemas.vocab import DEFAULT_CATEGORIES

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class PortalSettings(ChannelSettings):
    """The site's facts (GOVCAST_SITE_*, GOVCAST_ICP, GOVCAST_PAGE_SIZE, GOVCAST_PORTAL_REFRESH_SECONDS: their names
    since the first release, hence the bare GOVCAST_ prefix). The column vocabulary (GOVCAST_CATEGORIES) is the
    installation's: every channel links to portal pages."""

    channel = "portal"
    model_config = SettingsConfigDict(env_prefix="GOVCAST_")

    site_name: str = Field(default="济南市人民政府（演示）", min_length=1, description="portal site name (SiteName meta)")
    site_domain: str = Field(default="www.jinan.gov.cn", description="SiteDomain meta")
    site_id_code: str = Field(default="3701000001", description="网站标识码 (10 chars)")
    site_sponsor: str = Field(default="济南市人民政府办公厅", description="主办单位 in the footer")
    site_phone: str = Field(default="0531-12345", description="联系电话 in the footer")
    icp: str = Field(default="鲁ICP备00000000号（演示）", description="ICP备案号")
    page_size: int = Field(default=20, ge=1, le=200, description="items per portal list page")
    portal_refresh_seconds: float = Field(default=1.0, ge=0, le=300,
                                          description="portal home/feed/sitemap/JSON index rewritten at most this often")
    site_police_beian: str = Field(default="", description="公安机关备案号 in the portal footer, e.g. 鲁公网安备 37010202000001号")
    site_conac_url: str = Field(default="", description="党政机关网站标识 link (conac.cn) in the portal footer; empty: not shown")
    site_error_report_url: str = Field(
        default="https://zfwzzc.www.gov.cn/check_web/errorInfo_querySiteId.action",
        description="我为政府网站找错 link in the portal footer (the site's 网站标识码 is appended as siteCode)")


def portal_env(install: Installation) -> PortalSettings:
    return install.channel_settings(PortalSettings)


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
    subscribe_url: str = Field(default="", description="the subscription center's sign-up page, linked from every page "
                                                        "and policy; empty: not linked")
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
            sandbox=self.sandbox, subscribe_url=self.subscribe_url,
        )

    @property
    def store_path(self) -> Path:
        """Next to the published tree, never inside it: a copy of the tree to web servers leaves it behind."""
        return self.index_path or self.root.with_name(self.root.name + ".db")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return urls.http_url(value, "http://127.0.0.1:8000/portal")

    @field_validator("categories")
    @classmethod
    def _slugs(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(slug for slug in value.values() if not _SLUG.match(slug))
        if bad:
            raise ValueError(f"column slugs must be lowercase letters, digits, '-' or '_' (not {', '.join(bad)})")
        return value


def portal_config(install: Installation) -> PortalConfig:
    site = portal_env(install)
    return PortalConfig(
        root=install.data_dir / "portal", base_url=f"{install.base_url}/portal", site_name=site.site_name,
        site_domain=site.site_domain, site_id_code=site.site_id_code, site_sponsor=site.site_sponsor,
        site_phone=site.site_phone, icp=site.icp, categories=install.categories, page_size=site.page_size,
        refresh_seconds=site.portal_refresh_seconds, police_beian=site.site_police_beian,
        conac_url=site.site_conac_url, error_report_url=site.site_error_report_url,
        # the subscription center signs businesses up for push: linked only where push is a configured channel
        subscribe_url=f"{install.base_url}/subscribe" if "push" in install.channels else "",
        sandbox=install.sandboxes,  # the 演示环境 banner and noindex: a demo must not pass for the real site
    )
