"""Self-built mall pages: the decoded page, what a response means, tolerant text out of markup
(``data-*`` attributes only, on an lxml tree), the pager and the CSRF token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import lxml.etree  # type: ignore[import-untyped]  # no stubs installed
from bs4 import BeautifulSoup, Tag

from connectors.errors import ErrorResolution, TransientError, parse_ban_hint
from connectors.selfmall.tables import AUTH, BAD, LIMIT, PAGE_ERRORS, PLATFORM, REDIRECTS, SESSION_ERROR, TRANSIENT


@dataclass
class HtmlPage:
    """A decoded response: status, text, headers (attached by ``resolve``) and a lazy soup."""

    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)
    _soup: BeautifulSoup | None = field(default=None, repr=False)
    _tree: Any = field(default=None, repr=False)

    @property
    def soup(self) -> BeautifulSoup:
        if self._soup is None:
            self._soup = BeautifulSoup(self.text, "lxml")
        return self._soup

    @property
    def tree(self) -> Any:
        """The page as an lxml element tree (what the scraping helpers read)."""
        if self._tree is None:
            self._tree = lxml.etree.fromstring(self.text if self.text.strip() else "<html></html>", _HTML_PARSER)
        return self._tree

    def first(self, xpath: str) -> Any:
        """The first element matching ``xpath`` (absolute, e.g. ``//*[@data-pager]``), or None."""
        found = _xpath(xpath)(self.tree)
        return found[0] if found else None

    @property
    def page_name(self) -> str | None:
        body = self.tree.find("body")  # a child of the root: no search through the page
        return attr(body if body is not None else self.first("//body"), "data-page")

    @property
    def error_code(self) -> str | None:
        return attr(self.first("//*[@data-error]"), "data-error")

    @property
    def complete(self) -> bool:
        """A whole HTML document (a cut connection leaves a page without its end)."""
        return "</html>" in self.text[-200:].lower()

    @property
    def location_path(self) -> str:
        return urlsplit(self.headers.get("Location", "")).path

    def cookie(self, name: str) -> str | None:
        header = self.headers.get("Set-Cookie", "")
        if not header:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None and morsel.value else None


def classify_page(status: int, page: Any) -> ErrorResolution | None:
    """What a response means; ``None`` for success (redirects elsewhere than the login page
    included: the login form answers with one)."""
    if not isinstance(page, HtmlPage):
        return TRANSIENT.with_details(code=status, message="empty or undecodable response")
    if status in REDIRECTS:
        if page.location_path == "/login":
            return SESSION_ERROR.with_details(code="login_redirect")
        return None
    if status == 429:
        return LIMIT.with_details(code=429, retry_after=parse_ban_hint(page.text, pad=0.0))
    if status >= 500:
        return TRANSIENT.with_details(code=status, message=f"HTTP {status}")
    if status >= 400:
        code = page.error_code or str(status)
        row = PAGE_ERRORS.get(code, AUTH if status in (401, 403) else BAD)
        return row.with_details(code=code, message=f"HTTP {status} {code}")
    if status >= 300:
        return BAD.with_details(code=status, message=f"unexpected HTTP {status}")
    if not page.complete:
        return TRANSIENT.with_details(code="truncated", message="truncated HTML page")
    return None


# -- scraping (tolerant: text out of markup) ---------------------------------------------------------------


# Plain elements (no per-element class lookup); whitespace-only text nodes are left out of the
# tree (a third less parsing on list pages): every text we read is stripped, piece by piece.
_HTML_PARSER = lxml.etree.HTMLParser(remove_blank_text=True)


@lru_cache(maxsize=64)
def _xpath(expression: str) -> Any:
    return lxml.etree.XPath(expression)


def _get_text(tag: Any) -> str:
    """The element's text, each piece stripped (BeautifulSoup's ``get_text(strip=True)``)."""
    if isinstance(tag, Tag):
        return tag.get_text(strip=True)
    if not len(tag):  # a leaf, the usual data-field
        text: str = tag.text or ""
        return text.strip()
    return "".join(piece.strip() for piece in tag.itertext())


def attr(tag: Any, name: str) -> str | None:
    """An attribute of a BeautifulSoup ``Tag`` or an lxml element (None if absent)."""
    if tag is None:
        return None
    value = tag.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


def text_of(tag: Any, field_name: str) -> str | None:
    """The stripped text of the first ``[data-field=...]`` inside ``tag`` (None if absent)."""
    for found in having(tag, "data-field"):
        if attr(found, "data-field") == field_name:
            return _get_text(found)
    return None


def having(tag: Any, attribute: str, name: str | None = None) -> list[Any]:
    """Descendants of ``tag`` (optionally of one element name) that carry ``attribute``."""
    if not isinstance(tag, Tag):  # lxml
        # ``descendant::`` is ``.//`` in one step: libxml2 builds no node set of every node on
        # the way (a list page's cards: 0.55 against 0.75 ms a page here).
        found: list[Any] = _xpath(f"descendant::{name or '*'}[@{attribute}]")(tag)
        return found
    wanted: dict[str, Any] = {attribute: True}
    tags = tag.find_all(name, wanted) if name else tag.find_all(None, wanted)
    return [item for item in tags if isinstance(item, Tag)]


def marked(tree: Any, attribute: str) -> list[Any]:
    """The elements of an lxml tree (or below an element) that carry ``attribute``, in document
    order: :func:`having` for an attribute few elements carry (a list page's cards, its pager).
    Reached through the attribute axis (``descendant::*/@a/..``, the same nodes as
    ``descendant::*[@a]``), which libxml2 answers in about 0.4 against 0.55 ms on a list page;
    for an attribute most elements carry (``data-field``) the predicate is the faster form."""
    found: list[Any] = _xpath(f"descendant::*/@{attribute}/..")(tree)
    return found


def fields_of(tag: Any) -> dict[str, Any]:
    """Every ``data-field`` inside ``tag``, first occurrence wins (one pass over the tree;
    far cheaper than one CSS query per field on pages with a hundred cards)."""
    out: dict[str, Any] = {}
    for found in having(tag, "data-field"):
        name = attr(found, "data-field")
        if name and name not in out:
            out[name] = found
    return out


def field_text(fields: Mapping[str, Any], name: str) -> str | None:
    found = fields.get(name)
    return _get_text(found) if found is not None else None


def rows_of(tag: Any, id_attr: str) -> list[Any]:
    return having(tag, id_attr, "tr")


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int


def read_pager(page: HtmlPage) -> Pager:
    nav = page.first("/descendant::*/@data-pager/..")  # ``//*[@data-pager]`` (see marked)
    if nav is None:
        raise TransientError(PLATFORM, "no_pager", "list page without its pager")
    try:
        return Pager(
            int(attr(nav, "data-page") or ""), int(attr(nav, "data-pages") or ""), int(attr(nav, "data-total") or "")
        )
    except ValueError:
        raise TransientError(PLATFORM, "bad_pager", "pager numbers are not integers") from None


def csrf_of(page: HtmlPage) -> str | None:
    """The CSRF token of an admin page (``<meta name="csrf-token">``) or of its form."""
    token = attr(page.first('//meta[@name="csrf-token"]'), "content")
    if token:
        return token
    return attr(page.first('//input[@name="csrf_token"]'), "value") or None
