"""The SMS text of a push, planned to fit one segment (70 characters with the 【signature】 and the link).

The approved templates (adapters/push/sms_client.py) hold everything fixed, the portal's short link
included (`<public URL>/s/${code}`, adapters/push/short_links.py); the variables are what the item is
(`${kind}`: 政策文件, 政策解读, …), the document's short name (`${title}`, adapters/common/wording.py) and
for lapse notices `${reason}` (已废止 / 已失效). Every text is planned the same way at two moments: when
the pipeline renders the push (so a text that cannot fit shows as a warning in the publication's
timeline before anyone is messaged) and when the SMS is sent:

- the title whole, when the text fits one segment;
- else the title whole in two segments (a long name is worth a second segment more than a cut one);
- else the title cut to fit two segments and Aliyun's 35 characters per variable, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.push.short_links import CODE_CHARS
from adapters.push.sms_client import PARAM_CHARS, PER_SEGMENT, clip, render, segments, sms_length, variables

TWO_SEGMENTS = 2 * PER_SEGMENT


@dataclass(frozen=True)
class SmsPlan:
    params: dict[str, str]  # TemplateParam: exactly the template's variables
    text: str  # what the phone shows after the 【signature】
    chars: int  # as the carrier counts them, signature included
    warning: str = ""

    @property
    def segments(self) -> int:
        return segments(self.chars)


def plan_sms(template: str, sign_name: str, values: dict[str, str]) -> SmsPlan:
    """The template's variables from `values` (title: the document's short name), the title cut only if two
    segments cannot hold it."""
    wanted = variables(template)
    params = {name: clip(values.get(name, "")) for name in wanted}
    title = " ".join(values.get("title", "").split())
    if "title" not in wanted:
        return _plan(template, sign_name, params)
    fixed = sms_length(sign_name, render(template, {**params, "title": ""}))
    room = min(PARAM_CHARS, TWO_SEGMENTS - fixed)
    if len(title) <= room:
        return _plan(template, sign_name, {**params, "title": title})
    cut = clip(title, max(room, 4))
    if room == PARAM_CHARS:  # Aliyun's limit per variable (isv.PARAM_LENGTH_LIMIT), not the segments, cuts it
        why = f"is longer than an SMS template variable may be ({PARAM_CHARS})"
    else:
        why = f"does not fit two segments (room for {max(room, 0)})"
    warning = f"SMS: the title ({len(title)} characters) {why}: sent as 《{cut}》"
    return _plan(template, sign_name, {**params, "title": cut}, warning)


def _plan(template: str, sign_name: str, params: dict[str, str], warning: str = "") -> SmsPlan:
    text = render(template, params)
    return SmsPlan(params, text, sms_length(sign_name, text), warning)


def placeholder_code() -> str:
    """A stand-in for the short-link code while planning (every code has the same length)."""
    return "x" * CODE_CHARS
