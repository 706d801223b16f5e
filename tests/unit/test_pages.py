"""Pages come from Jinja2 templates with autoescape: a value never becomes markup."""
from __future__ import annotations

import jinja2
import pytest

from shared.web.api_docs import docs_page
from shared.web.pages import render


def test_values_are_escaped_in_text_and_attributes():
    page = docs_page('/api/openapi.json"><script>alert(1)</script>', "/api/docs/assets/")
    assert "<script>alert(1)</script>" not in page
    assert 'data-url="/api/openapi.json&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert '<script src="/api/docs/assets/swagger-ui-bundle.js"></script>' in page  # the trailing slash dropped


def test_a_value_the_template_names_must_be_given():
    with pytest.raises(jinja2.UndefinedError):
        render("api_docs.html", document_url="/api/openapi.json")
