"""Redoc under the strict CSP, from the sidecar bundle served by this server.

Redoc's styled-components add <style> elements at run time: this one page lets style elements
carry the request's nonce (clinic/static/clinic/js/redoc_init.js hands it to Redoc). Two more
allowances, on this page only:
- the bundle's style-loader inserts the perfect-scrollbar stylesheet while the bundle loads,
  before any nonce can reach it: it is allowed by its hash (and the empty <style> it starts
  as). Upgrading drf-spectacular-sidecar may change the hash; the browser test
  (tests/browser/test_api_docs.py) then fails on the CSP violation it logs.
- the search index runs in a Web Worker built from a blob: URL by the bundle itself.
No 'unsafe-inline' anywhere."""

from __future__ import annotations

from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularRedocView

REDOC_STYLE_HASHES = [
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar's CSS
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # the empty <style> it starts as
]


@method_decorator(
    csp_update({"style-src": [NONCE, *REDOC_STYLE_HASHES], "worker-src": [SELF, "blob:"]}),
    name="dispatch",
)
class RedocView(SpectacularRedocView):
    """Redoc with our own template: no inline script, no web fonts from Google."""

    template_name = "clinic/api_redoc.html"
