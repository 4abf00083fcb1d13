"""PDF downloads of pages (a kickoff briefing, the executive report), printed by WeasyPrint.

A PDF is the page's own HTML with its print rules (`@media print`, `@page` in web/static),
so it shows a viewer exactly what the page shows them. WeasyPrint is imported at the first
PDF, not at start-up: on a server without it or its system libraries (Pango) the app runs
and a PDF is answered with a 503 that says so. It reads only the app's static files: any
other address a page names is refused, so making a PDF never reaches the network.
"""

import logging
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Response, abort, current_app, request
from werkzeug.security import safe_join

from lessons.errors import ValidationError

# `?size=` of a PDF download: A4 unless the reader asks for Letter.
PAPER = {"a4": "A4", "letter": "letter"}


def pdf_download(html: str, filename: str) -> Response:
    """`html` printed on the paper `?size=` names, as an attachment called `filename`."""
    size = request.args.get("size", "a4").lower()
    if size not in PAPER:
        raise ValidationError({"size": "Choose a4 or letter."}, "The paper size is not known.")
    pdf = printed(html, PAPER[size])
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def printed(html: str, paper: str) -> bytes:
    """`html` (a page of this request's site) as PDF on `paper`."""
    weasyprint = library()
    fetcher = static_fetcher(weasyprint)
    document = weasyprint.HTML(string=html, base_url=site_url(), url_fetcher=fetcher)
    # A user stylesheet: the pages' own @page rules (margins) still apply over it.
    paper_rule = weasyprint.CSS(string=f"@page {{ size: {paper}; }}", url_fetcher=fetcher)
    return bytes(document.write_pdf(stylesheets=[paper_rule]))


def site_url() -> str:
    """The address the PDF's links lead to: `LESSONS_BASE_URL` when set, as in the other
    documents read outside the app (web.links), else the request's own."""
    return (current_app.config["BASE_URL"] or request.host_url).rstrip("/") + "/"


def library() -> Any:
    """The weasyprint module, or a 503 when it or its system libraries are missing."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: Pango or HarfBuzz did not load
        current_app.logger.warning("PDFs are unavailable: %s", error)
        abort(503, "PDFs cannot be made on this server: WeasyPrint or the Pango libraries it "
                   "needs are not installed. The Markdown and CSV downloads still work.")
    # The stylesheets are written for browsers: WeasyPrint would warn, on every PDF, of each
    # rule it skips (width media queries, SVG paint). A stylesheet it cannot load stays an error.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return weasyprint


def static_fetcher(weasyprint: Any) -> Any:
    """A WeasyPrint URL fetcher that answers from the app's static folder and refuses the
    rest (WeasyPrint then prints without that resource)."""
    folder = Path(current_app.static_folder or "")
    prefix = f"{current_app.static_url_path}/"
    host = urlsplit(site_url()).netloc

    # Defined here because its base class exists only once weasyprint is imported.
    class StaticFiles(weasyprint.URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            path = parts.path.removeprefix(prefix) if parts.path.startswith(prefix) else None
            name = safe_join(str(folder), path) if path and parts.netloc == host else None
            if name is None or not Path(name).is_file():
                raise ValueError(f"not one of the app's static files: {url}")
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return weasyprint.urls.URLFetcherResponse(
                url, Path(name).read_bytes(), headers={"Content-Type": mimetype})

    return StaticFiles()
