"""Export an executed report notebook to HTML (self-contained, our template) and Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ztbkit.core.fsio import atomic_write_bytes, atomic_write_text
from ztbkit.locale import current_language
from ztbkit.reports.webfont import with_page_font

TEMPLATES = Path(__file__).parent / "templates"


def _html_exporter(base: type) -> type:
    """nbconvert's HTMLExporter without its final BeautifulSoup pass over the whole page.

    That pass only adds default alt text (our template writes real alt text) and tabindex to code
    cells (reports show none); on a 1,000-session dashboard it costs about 0.4 s. If nbconvert's
    internals differ from what this relies on, the stock exporter runs instead.
    """

    class FastHTMLExporter(base):  # type: ignore[misc]
        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
            try:
                from nbconvert.exporters.templateexporter import TemplateExporter
                from nbconvert.filters.highlight import Highlight2HTML
                from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

                langinfo = nb.metadata.get("language_info", {})
                lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
                resources = self._init_resources(resources)
                self.register_filter(
                    "highlight_code",
                    self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)),
                )
                self.register_filter(
                    "filter_data_type",
                    WidgetsDataTypeFilter(
                        notebook_metadata=self._nb_metadata, parent=self, resources=resources
                    ),
                )
            except (ImportError, AttributeError, TypeError):
                return super().from_notebook_node(nb, resources, **kw)
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    return FastHTMLExporter


def export(nb_path: Path, out_dir: Path, stem: str, title: str, formats: Sequence[str]) -> list[str]:
    """Export an executed notebook to HTML and/or Markdown without code cells or prompts."""
    import nbformat
    from nbconvert import HTMLExporter, MarkdownExporter

    nb = nbformat.read(nb_path, as_version=4)
    # Reports show outputs only: no code, no prompts, and no Markdown cells (those are notes for
    # JupyterLab users; the outputs carry their own headings).
    common = {"exclude_input": True, "exclude_input_prompt": True, "exclude_output_prompt": True,
              "exclude_markdown": True}  # fmt: skip
    written = []
    if "html" in formats:
        exporter = _html_exporter(HTMLExporter)(
            template_name="ztb",
            extra_template_basedirs=[str(TEMPLATES)],
            language_code=current_language(),
            **common,
        )  # <html lang="ja"> for a Japanese report: browsers then pick Japanese glyph forms
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        body = with_page_font(body)  # the Japanese glyphs the page uses, embedded (no tofu anywhere)
        written.append(str(atomic_write_text(out_dir / f"{stem}.html", body)))
    if "md" in formats:
        from traitlets.config import Config

        # Our outputs carry a Markdown form; prefer it to raw HTML in a .md file. The priority is read
        # by nbconvert's data-type filter from config, so it must be set there, not on the exporter.
        config = Config()
        config.NbConvertBase.display_data_priority = [
            "text/markdown",
            "image/png",
            "image/svg+xml",
            "text/plain",
        ]
        md_exporter = MarkdownExporter(config=config, **common)
        body, resources = md_exporter.from_notebook_node(nb, resources={"output_files_dir": f"{stem}_files"})
        for rel, data in resources.get("outputs", {}).items():
            atomic_write_bytes(out_dir / rel, data)
        written.append(str(atomic_write_text(out_dir / f"{stem}.md", body)))
    return written
