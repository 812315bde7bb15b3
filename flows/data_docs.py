"""Great Expectations Data Docs that work with no network, and one index over every validation run.

GE's pages load Bootstrap, jQuery, Popper, bootstrap-table (+ filter control and datepicker),
bootstrap-dark, Vega and Font Awesome from CDNs, and GE has no setting for local assets (its view
templates come first in its template loader; upstream declined offline docs in issue #994). So the
published pages are rewritten: each CDN tag points at a copy taken from an installed package and
written under `docs/static/vendor/`, or is dropped where nothing on the page needs it:

- Bootstrap 4 CSS and JS (the bundle, which includes Popper): XStatic-Bootstrap;
- jQuery: XStatic-jQuery;
- Font Awesome Free (its CSS and webfonts; the pass/fail icons are its glyphs): fontawesomefree;
- bootstrap-table: no package ships it, so a small script of ours (`_TABLE_JS`) draws the index's
  tables from the same column and row data (sorting, a search box, rows that open their page; no
  pagination nor per-column filters). Its filter-control extension and bootstrap-datepicker (used
  only by those filters) are dropped;
- bootstrap-dark (a dark theme when the system prefers one): dropped, the pages stay light;
- Vega, Vega-Lite, Vega-Embed: dropped; pages of these suites draw no chart (no `vegaEmbed` call).

The index: GE's site builder indexes only the validation results of its own context, and a run's
context is ephemeral, so each run used to publish an index of its own validations only (and the
index drew its rows with bootstrap-table, which never loaded offline). Each run now keeps an index
entry per validation (GE's validation result without its per-expectation rows) in
`docs/index-entries/`, and the index is rebuilt from every entry kept when a run publishes.
"""

from __future__ import annotations

import logging
import re
import shutil
from importlib import metadata
from pathlib import Path

RESULTS_FOLDER = "index-entries"  # under docs/: one JSON per validation, as GE's filesystem store lays them out
VENDOR = "static/vendor"
TABLE_SCRIPT = "static/newsflow/table.js"
_SITE = "newsflow"


def _packaged_assets() -> dict[str, Path]:
    """Where each local asset comes from: its path under docs/ -> the installed package's file."""
    import fontawesomefree
    import xstatic.pkg.bootstrap as bootstrap
    import xstatic.pkg.jquery as jquery

    awesome = Path(fontawesomefree.__file__).parent / "static" / "fontawesomefree"
    awesome_dir = f"{VENDOR}/fontawesome-{metadata.version('fontawesomefree')}"
    assets = {
        f"{VENDOR}/bootstrap-{bootstrap.VERSION}/css/bootstrap.min.css":
            Path(bootstrap.BASE_DIR) / "css" / "bootstrap.min.css",
        f"{VENDOR}/bootstrap-{bootstrap.VERSION}/js/bootstrap.bundle.min.js":
            Path(bootstrap.BASE_DIR) / "js" / "bootstrap.bundle.min.js",
        f"{VENDOR}/jquery-{jquery.VERSION}/jquery.min.js": Path(jquery.BASE_DIR) / "jquery.min.js",
        f"{awesome_dir}/css/all.min.css": awesome / "css" / "all.min.css",
        f"{awesome_dir}/LICENSE.txt": awesome / "LICENSE.txt",
    }
    for font in sorted((awesome / "webfonts").iterdir()):
        assets[f"{awesome_dir}/webfonts/{font.name}"] = font
    return assets


def _asset(assets: dict[str, Path], suffix: str) -> str:
    (path,) = [p for p in assets if p.endswith(suffix)]
    return path


# (pattern of a CDN URL in a <link> or <script> tag, suffix of the local asset that replaces the
# tag, or None: the tag is dropped). Patterns match the GE 1.x templates' URLs.
_CDN_TAGS: list[tuple[str, str | None]] = [
    (r"https://maxcdn\.bootstrapcdn\.com/bootstrap/4\.[^\"]*/css/bootstrap\.min\.css", "css/bootstrap.min.css"),
    (r"https://stackpath\.bootstrapcdn\.com/bootstrap/4\.[^\"]*/js/bootstrap\.min\.js", "js/bootstrap.bundle.min.js"),
    (r"https://cdnjs\.cloudflare\.com/ajax/libs/popper\.js/[^\"]*", None),  # inside the Bootstrap bundle
    (r"https://code\.jquery\.com/jquery-3\.[^\"]*\.min\.js", "jquery.min.js"),
    (r"https://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/6\.[^\"]*/css/all\.min\.css", "css/all.min.css"),
    (r"https://unpkg\.com/bootstrap-table@[^\"]*/dist/bootstrap-table\.min\.js", TABLE_SCRIPT),
    (r"https://unpkg\.com/bootstrap-table@[^\"]*", None),
    (r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/[^\"]*", None),
    (r"https://cdn\.jsdelivr\.net/npm/@forevolve/bootstrap-dark@[^\"]*", None),
    (r"https://cdn\.jsdelivr\.net/npm/vega(-lite|-embed)?@[^\"]*", None),
]
_TAG = re.compile(r'<script\s+src="(?P<script>https?://[^"]+)"[^>]*>\s*</script>'
                  r'|<link\b[^>]*\bhref="(?P<link>https?://[^"]+)"[^>]*>')
_GE_IMAGES = re.compile(r"https://great-expectations-web-assets\.s3\.[^/]+\.amazonaws\.com/[^\"')]*")
_LOCAL_STATIC = re.compile(r"(?<![\w/.])(?:\./|(?:\.\./)+)static/")


def offline_page(text: str, depth: int, assets: dict[str, Path]) -> str:
    """`text` (a Data Docs HTML or CSS file `depth` folders below docs/) with every CDN asset
    replaced by its local copy or dropped, GE's logo taken from docs/static/images, and every
    `static/` path made relative to the file (GE's validation pages point one folder too high)."""
    up = "../" * depth

    def tag(match: re.Match) -> str:
        url = match["script"] or match["link"]
        for pattern, local in _CDN_TAGS:
            if re.fullmatch(pattern, url):
                if local is None:
                    return ""
                path = local if local.startswith("static/") else _asset(assets, local)
                if match["script"]:
                    return f'<script src="{up}{path}"></script>'
                return f'<link rel="stylesheet" href="{up}{path}">'
        return match[0]  # a link to a page, not an asset (or an asset unknown here: the browser test sees it)

    text = _LOCAL_STATIC.sub(lambda _: f"{up}static/", text)
    text = _TAG.sub(tag, text)
    # The top bar's logo and the dark theme's logo; GE copies logo-long.png into static/images.
    return _GE_IMAGES.sub(f"{up}static/images/logo-long.png", text)


def _offline_files(docs: Path, files: list[Path], assets: dict[str, Path]) -> None:
    for file in files:
        depth = len(file.relative_to(docs).parts) - 1
        text = file.read_text(encoding="utf-8")
        done = offline_page(text, depth, assets)
        if done != text:
            file.write_text(done, encoding="utf-8")


def _write_assets(docs: Path, assets: dict[str, Path]) -> None:
    for target, source in assets.items():
        path = docs / target
        if not path.is_file() or path.stat().st_size != source.stat().st_size:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
    script = docs / TABLE_SCRIPT
    if not script.is_file() or script.read_text(encoding="utf-8") != _TABLE_JS:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(_TABLE_JS, encoding="utf-8")


def _entries_store(folder: Path):
    from great_expectations.data_context.store import ValidationResultsStore

    return ValidationResultsStore(store_backend={"class_name": "TupleFilesystemStoreBackend",
                                                 "base_directory": str(folder.resolve())})


def copy_ge_static(docs: Path) -> None:
    """Great Expectations' own static files (styles, fonts, images) into `docs/static/`, from the
    installed package, as its site builder copies them. A run's chunks render their pages apart
    (each in its own context, maybe on another machine) and send them without these 4 MB."""
    from importlib.util import find_spec

    package = Path(next(iter(find_spec("great_expectations").submodule_search_locations)))
    shutil.copytree(package / "render" / "view" / "static", docs / "static", dirs_exist_ok=True)


def keep_index_entries(context, docs: Path) -> None:
    """Write an index entry (the validation result without its per-expectation rows, which its
    page shows) for every validation `context` ran, under `docs`/index-entries/."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

    results = context.validation_results_store
    entries = _entries_store(docs / RESULTS_FOLDER)
    for key in results.list_keys():
        result = results.get(key)
        entries.set(key, ExpectationSuiteValidationResult(
            success=result.success, results=[], suite_name=result.suite_name, meta=result.meta,
            statistics=result.statistics, batch_id=result.batch_id))


def _write_index(docs: Path) -> None:
    """docs/index.html, GE's index page over every index entry kept in `docs` (every run's)."""
    import great_expectations as gx
    from great_expectations.render.renderer.site_builder import SiteBuilder

    context = gx.get_context(mode="ephemeral")
    kept = _entries_store(docs / RESULTS_FOLDER)
    for key in kept.list_keys():
        context.validation_results_store.set(key, kept.get(key))
    site = SiteBuilder(
        data_context=context, site_name=_SITE, show_how_to_buttons=False,
        store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs.resolve())},
        site_index_builder={"class_name": "DefaultSiteIndexBuilder"},
    )
    # Not "clean missing": that would delete the pages of other runs' suites and of runs from
    # before index entries were kept (a page without an entry is left out of the index).
    site.site_index_builder.build(skip_and_clean_missing=False)


def publish_docs(staging: Path, docs: Path) -> None:
    """Copy a run's rendered Data Docs from `staging` into the warehouse's `docs` folder, made to
    work offline, and rebuild the index over every run's validations. A run that validated
    nothing staged nothing, and leaves the published docs as they are."""
    if not staging.is_dir() or not any(staging.iterdir()):
        return
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.ERROR)
    assets = _packaged_assets()
    _offline_files(staging, [*staging.rglob("*.html"), *staging.rglob("*.css")], assets)
    first = not (docs / VENDOR).is_dir()
    shutil.copytree(staging, docs, dirs_exist_ok=True)
    _write_assets(docs, assets)
    if first:  # pages published before the docs worked offline: made so once
        _offline_files(docs, [*docs.rglob("*.html"), *(docs / "static").rglob("*.css")], assets)
    _write_index(docs)
    _offline_files(docs, [docs / "index.html"], assets)


# bootstrap-table's part that GE's index uses, for jQuery: $(table).bootstrapTable({columns, data,
# toolbar, search, sortName, sortOrder, rowStyle, rowAttributes}) draws the rows (HTML cells, as
# GE renders them), sorts on a header click, filters with a search box in the toolbar, and
# triggers "click-row.bs.table" (row, $tr) on a row click; methods ("resetSearch", ...) clear the search.
_TABLE_JS = r"""/* newsflow: a small stand-in for bootstrap-table (no package ships it), for the Data Docs index. */
(function ($) {
  "use strict";
  function named(fn) { return typeof fn === "string" ? window[fn] : fn; }
  function key(row, column) {
    var value = row[column.sortName || column.field];
    return value === undefined || value === null ? "" : value;
  }
  function text(html) { return $("<div>").html(html === undefined ? "" : String(html)).text(); }
  $.fn.bootstrapTable = function (options) {
    return this.each(function () {
      var $table = $(this);
      if (typeof options === "string") {  // "clearFilterControl", "resetSearch": clear the search
        var state = $table.data("nf-table");
        if (state) { state.search.val(""); state.draw(); }
        return;
      }
      var columns = options.columns || [], data = (options.data || []).slice();
      var sortName = options.sortName, order = options.sortOrder === "desc" ? -1 : 1;
      var rowStyle = named(options.rowStyle), rowAttributes = named(options.rowAttributes);
      var $search = $('<input type="search" class="form-control form-control-sm d-inline-block w-auto ml-1" placeholder="Search">');
      $(options.toolbar || null).append($search);
      $table.addClass("table table-hover table-bordered");
      var $head = $("<tr>");
      columns.forEach(function (column) {
        var $th = $("<th>").text(column.title || column.field).attr("data-field", column.field);
        if (column.align) { $th.css("text-align", column.align); }
        if (column.sortable) {
          $th.css("cursor", "pointer").on("click", function () {
            var name = column.field;
            order = sortName === name ? -order : 1;
            sortName = name;
            draw();
          });
        }
        $head.append($th);
      });
      var $body = $("<tbody>");
      $table.empty().append($("<thead>").append($head), $body);
      function draw() {
        var sortColumn = columns.filter(function (c) { return c.field === sortName; })[0];
        var words = $search.val().toLowerCase().trim();
        var rows = data.slice();
        if (sortColumn) {
          rows.sort(function (a, b) {
            var x = key(a, sortColumn), y = key(b, sortColumn);
            return (x < y ? -1 : x > y ? 1 : 0) * order;
          });
        }
        $body.empty();
        rows.forEach(function (row, index) {
          var cells = columns.map(function (c) { return text(row[c.field]); }).join(" ").toLowerCase();
          if (words && cells.indexOf(words) < 0) { return; }
          var $tr = $("<tr>");
          if (rowStyle) { $tr.css((rowStyle(row, index) || {}).css || {}); }
          if (rowAttributes) { $tr.attr(rowAttributes(row, index) || {}); }
          columns.forEach(function (c) {
            var $td = $("<td>").html(row[c.field] === undefined ? "" : row[c.field]);
            if (c.align) { $td.css("text-align", c.align); }
            $tr.append($td);
          });
          $tr.on("click", function (event) {
            if ($(event.target).closest("a").length) { return; }  // a link in the row opens itself
            $table.trigger("click-row.bs.table", [row, $tr]);
          });
          $body.append($tr);
        });
      }
      $search.on("input", draw);
      $table.data("nf-table", {search: $search, draw: draw});
      draw();
    });
  };
})(jQuery);
"""
