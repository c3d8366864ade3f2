"""The reader: the archive as a reader wants it, a Datasette plugin (registered by the `datasette` entry
point in pyproject.toml; the hooks are in `reader.plugin`).

It reads SQL from `storage/` and never imports Scrapy, Twisted or the crawler's run (a test checks).
"""

# The hooks, on the package itself: Datasette finds a plugin's templates/ beside the module it registered.
from .plugin import (  # noqa: E402,F401
    canned_queries,
    extra_css_urls,
    extra_template_vars,
    get_metadata,
    handle_exception,
    register_facet_classes,
    register_routes,
    render_cell,
)
