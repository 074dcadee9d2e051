"""Controlled vocabularies of government disclosure (see shared/domain.md).

Pure data and pure checks: no I/O. Sites extend the configurable lists
(组配分类, regions) through settings; the State Council theme list is fixed.
"""

from __future__ import annotations

import operator
import re

# 主题分类 (State Council): top level -> known second-level names. An empty tuple
# means the standard publishes no second level we enforce; any 二级 is accepted.
THEMES: dict[str, tuple[str, ...]] = {
    "国务院组织机构": (),
    "综合政务": ("政务公开", "政务督查", "应急管理", "电子政务", "文秘工作", "保密工作", "信访", "参事、文史", "其他"),
    "国民经济管理、国有资产监管": (),
    "财政、金融、审计": (),
    "国土资源、能源": (),
    "农业、林业、水利": (),
    "工业、交通": (),
    "商贸、海关、旅游": (),
    "市场监管、安全生产监管": (),
    "城乡建设、环境保护": (),
    "科技、教育": (),
    "文化、广电、新闻出版": (),
    "卫生、体育": (),
    "人口与计划生育、妇女儿童工作": (),
    "劳动、人事、监察": (),
    "公安、安全、司法": (),
    "民政、扶贫、救灾": (),
    "民族、宗教": (),
    "对外事务": (),
    "港澳台侨工作": (),
    "国防": (),
    "其他": (),
}

# 组配分类: the default vocabulary with the URL slug of each portal column.
DEFAULT_CATEGORIES: dict[str, str] = {
    "政策文件": "zcwj",
    "文字解读": "wzjd",
    "图片解读": "tpjd",
    "视频解读": "spjd",
    "政务公开实施方案": "ssfa",
    "通知公告": "tzgg",
    "工作动态": "gzdt",
}

INTERPRETATION_FORMS = ("文字解读", "图片解读", "视频解读", "主要负责人解读", "专家解读", "媒体解读", "新闻发布会解读")

DOC_NO_RE = re.compile(r"^[\u4e00-\u9fa5]+〔\d{4}〕[1-9]\d*号$")
# 18-char unified social credit code, or the old 9-char organization code;
# some sites append a suffix such as "-A" to tell sub-units apart.
PUBLISHER_CODE_RE = re.compile(r"^(?:[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}|[0-9A-Z]{9})(?:-[A-Z0-9]{1,4})?$")
INDEX_NO_RE = re.compile(r"^(?P<code>[0-9A-Z]{9,18}(?:-[A-Z0-9]{1,4})?)/(?P<year>\d{4})-(?P<seq>\d{1,10})$")

_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


_CREDIT_VALUES = {c: n for n, c in enumerate(_CREDIT_CHARS)}


def credit_code_checksum_ok(code: str) -> bool:
    """GB 32100-2015 check character of an 18-char unified social credit code."""
    # (A dict lookup per character, not str.index in a generator: every stored business record is validated again
    # when it is read, 100,000 of them in a campaign, and this was a third of that validation's time.)
    if len(code) != 18:
        return False
    try:
        values = [_CREDIT_VALUES[c] for c in code]
    except KeyError:
        return False
    total = sum(map(operator.mul, values, _CREDIT_WEIGHTS))  # the 17 weights: the check character is left out
    return _CREDIT_CHARS[(31 - total % 31) % 31] == code[17]


def theme_problem(theme: str) -> str | None:
    """Why `theme` (`一级\\二级` or `一级`) is not a State Council theme, or None."""
    top, _, second = theme.partition("\\")
    if top not in THEMES:
        return f"unknown 主题分类 top level {top!r}; expected one of the 22 State Council themes"
    known = THEMES[top]
    if second and known and second not in known:
        return f"unknown 主题分类 second level {second!r} under {top!r}; expected one of {', '.join(known)}"
    return None
