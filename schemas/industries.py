"""GB/T 4754-2017 国民经济行业分类 for the sign-up picker: the 20 sections and 97 divisions by name.

A business picks by name (the datalist offers "C39 计算机、通信和其他电子设备制造业"; the no-JS search lists
matches); a finer 3- or 4-digit code typed in is accepted when its division exists. Targeting matches code
prefixes, so a division is as precise as most policies are.
"""

from __future__ import annotations

import functools
import re

SECTIONS = {
    "A": "农、林、牧、渔业", "B": "采矿业", "C": "制造业", "D": "电力、热力、燃气及水生产和供应业", "E": "建筑业",
    "F": "批发和零售业", "G": "交通运输、仓储和邮政业", "H": "住宿和餐饮业", "I": "信息传输、软件和信息技术服务业",
    "J": "金融业", "K": "房地产业", "L": "租赁和商务服务业", "M": "科学研究和技术服务业", "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业", "P": "教育", "Q": "卫生和社会工作", "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织", "T": "国际组织",
}
_DIVISIONS = """
A01 农业|A02 林业|A03 畜牧业|A04 渔业|A05 农、林、牧、渔专业及辅助性活动|B06 煤炭开采和洗选业|B07 石油和天然气开采业
B08 黑色金属矿采选业|B09 有色金属矿采选业|B10 非金属矿采选业|B11 开采专业及辅助性活动|B12 其他采矿业|C13 农副食品加工业
C14 食品制造业|C15 酒、饮料和精制茶制造业|C16 烟草制品业|C17 纺织业|C18 纺织服装、服饰业|C19 皮革、毛皮、羽毛及其制品和制鞋业
C20 木材加工和木、竹、藤、棕、草制品业|C21 家具制造业|C22 造纸和纸制品业|C23 印刷和记录媒介复制业
C24 文教、工美、体育和娱乐用品制造业|C25 石油、煤炭及其他燃料加工业|C26 化学原料和化学制品制造业|C27 医药制造业
C28 化学纤维制造业|C29 橡胶和塑料制品业|C30 非金属矿物制品业|C31 黑色金属冶炼和压延加工业|C32 有色金属冶炼和压延加工业
C33 金属制品业|C34 通用设备制造业|C35 专用设备制造业|C36 汽车制造业|C37 铁路、船舶、航空航天和其他运输设备制造业
C38 电气机械和器材制造业|C39 计算机、通信和其他电子设备制造业|C40 仪器仪表制造业|C41 其他制造业|C42 废弃资源综合利用业
C43 金属制品、机械和设备修理业|D44 电力、热力生产和供应业|D45 燃气生产和供应业|D46 水的生产和供应业|E47 房屋建筑业
E48 土木工程建筑业|E49 建筑安装业|E50 建筑装饰、装修和其他建筑业|F51 批发业|F52 零售业|G53 铁路运输业|G54 道路运输业
G55 水上运输业|G56 航空运输业|G57 管道运输业|G58 多式联运和运输代理业|G59 装卸搬运和仓储业|G60 邮政业|H61 住宿业|H62 餐饮业
I63 电信、广播电视和卫星传输服务|I64 互联网和相关服务|I65 软件和信息技术服务业|J66 货币金融服务|J67 资本市场服务|J68 保险业
J69 其他金融业|K70 房地产业|L71 租赁业|L72 商务服务业|M73 研究和试验发展|M74 专业技术服务业|M75 科技推广和应用服务业
N76 水利管理业|N77 生态保护和环境治理业|N78 公共设施管理业|N79 土地管理业|O80 居民服务业|O81 机动车、电子产品和日用产品修理业
O82 其他服务业|P83 教育|Q84 卫生|Q85 社会工作|R86 新闻和出版业|R87 广播、电视、电影和录音制作业|R88 文化艺术业|R89 体育
R90 娱乐业|S91 中国共产党机关|S92 国家机构|S93 人民政协、民主党派|S94 社会保障|S95 群众团体、社会团体和其他成员组织
S96 基层群众自治组织及其他组织|T97 国际组织
"""
DIVISIONS = dict(item.split(" ", 1) for item in _DIVISIONS.replace("\n", "|").split("|") if item.strip())
CODE_RE = re.compile(r"^([A-T])(\d{2}(?:\d{1,2})?)?$")


@functools.cache
def options() -> list[tuple[str, str]]:
    """(code, label) of every section and division, in code order (sections first within their letter)."""
    out: list[tuple[str, str]] = []
    for letter, name in SECTIONS.items():
        out.append((letter, f"{letter} {name}"))
        out += [(code, f"{code} {label}") for code, label in DIVISIONS.items() if code[0] == letter]
    return out


def label(code: str) -> str:
    """"C39 计算机、通信和其他电子设备制造业" for C39, C391 and C3911 alike; "" for an unknown code."""
    if not code:
        return ""
    if code in SECTIONS:
        return f"{code} {SECTIONS[code]}"
    division = DIVISIONS.get(code[:3])
    return f"{code} {division}" if division else ""


def search(text: str, limit: int = 30) -> list[tuple[str, str]]:
    """Options whose code or name contains every word of `text` (e.g. "软件", "电子 设备", "C39")."""
    words = text.replace("，", " ").replace(",", " ").upper().split()
    if not words:
        return []
    return [(code, lbl) for code, lbl in options() if all(w in lbl.upper() for w in words)][:limit]


def resolve(text: str) -> tuple[str | None, list[tuple[str, str]]]:
    """What the industry field holds -> (code, []) when it names exactly one industry, else (None, candidates).

    Accepts a code (C39, C3911), a datalist label ("C39 计算…") or a name or part of one ("软件和信息技术").
    """
    text = text.strip()
    if not text:
        return "", []
    head = text.split(" ", 1)[0].upper()
    if CODE_RE.match(head) and label(head):
        return head, []
    exact = [(c, lbl) for c, lbl in options() if lbl.split(" ", 1)[1] == text]
    if exact:
        return exact[0][0], []
    found = search(text)
    return (found[0][0], []) if len(found) == 1 else (None, found)
