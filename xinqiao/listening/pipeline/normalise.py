"""Stage 1: text normalisation for matching, clustering and classification.

What the public writes is folded to one comparable form:

* width: NFKC folds full-width Latin/digits/punctuation (ＡＢＣ１２３，！) to their ASCII forms;
* script: traditional characters are converted to simplified (OpenCC ``t2s``), so 醫院 and 医院 match;
* URLs are removed from the text (kept in ``urls``) — they carry no wording and would dominate shingles;
* emoji are removed from the text (kept in ``emoji``, a sentiment cue) — reposts differ mostly in them;
* HTML tags are dropped and entities decoded (the stored mention text is untouched and always shown escaped);
* Latin letters are lower-cased and runs of whitespace collapse to one space.

The batch form (:func:`normalise_batch`) joins the texts and runs NFKC and OpenCC once over the whole batch, which
is several times faster than one call per text; it returns exactly what :func:`normalise_text` returns per text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u3000-\u303f\uff00-\uffef\u4e00-\u9fff<>\"']+", re.IGNORECASE)
TAG_RE = re.compile(r"<[^>\n]{0,200}>")
# Pictographs, dingbats, flags, variation selectors and joiners (the parts of an emoji sequence).
EMOJI_RE = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong … symbols and pictographs extended-A
    "\U00002600-\U000027bf"  # misc symbols, dingbats
    "\U0001f1e6-\U0001f1ff"  # regional indicators (flags)
    "\u2b00-\u2bff"  # arrows, stars
    "\ufe0f\ufe0e\u200d\u20e3"  # variation selectors, ZWJ, keycap
    "]+"
)
# Weibo/Douyin bracket emoticons such as [微笑] [怒] [泪] are treated like emoji.
BRACKET_EMOTICON_RE = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,4}\]")
SPACE_RE = re.compile(r"\s+")
SEPARATOR = "\n"


@dataclass(frozen=True, slots=True)
class Normalised:
    text: str
    urls: tuple[str, ...] = ()
    emoji: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def _converter():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _converter().convert(text)


def _pre(text: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Steps that must see the raw text: HTML, URLs and emoji are taken out before width folding."""
    if "<" in text:
        text = TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    urls: tuple[str, ...] = ()
    if "http" in text or "www." in text or "HTTP" in text or "WWW." in text:
        urls = tuple(URL_RE.findall(text))
        if urls:
            text = URL_RE.sub(" ", text)
    emoji = tuple(EMOJI_RE.findall(text))
    if emoji:
        text = EMOJI_RE.sub(" ", text)
    if "[" in text:
        found = BRACKET_EMOTICON_RE.findall(text)
        if found:
            emoji = emoji + tuple(found)
            text = BRACKET_EMOTICON_RE.sub(" ", text)
    return text, urls, emoji


def _post(text: str) -> str:
    return SPACE_RE.sub(" ", text).strip().lower()


def normalise_text(text: str) -> Normalised:
    """Normalise one text (see the module docstring for the steps)."""
    stripped, urls, emoji = _pre(text or "")
    folded = unicodedata.normalize("NFKC", stripped)
    return Normalised(_post(to_simplified(folded)), urls, emoji)


def normalise_batch(texts: list[str]) -> list[Normalised]:
    """Normalise many texts with one NFKC pass and one OpenCC pass over the joined batch."""
    if not texts:
        return []
    prepared = [_pre(text or "") for text in texts]
    # Newlines inside a text are whitespace anyway (collapsed by _post), so they can separate texts.
    joined = SEPARATOR.join(part[0].replace("\r", " ").replace("\n", " ") for part in prepared)
    converted = to_simplified(unicodedata.normalize("NFKC", joined)).split(SEPARATOR)
    if len(converted) != len(texts):  # a character folded into a line break: fall back to one text at a time
        return [normalise_text(text) for text in texts]
    return [Normalised(_post(body), urls, emoji) for body, (_raw, urls, emoji) in zip(converted, prepared, strict=True)]
