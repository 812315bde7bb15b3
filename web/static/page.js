// The warehouse page: charts from /api/charts (drawn with plotly.js, served by the app), rows
// behind a chart's mark, table previews, SQL results and search result links as tables in the
// page. Every value is written with textContent: nothing from the warehouse becomes markup.
"use strict";

(function () {
  const QUAD_COLORS = {1: "#7fb77e", 2: "#2e7d32", 3: "#f0a04b", 4: "#c62828"};
  const PALETTE = ["#2456a6", "#e07b39", "#3b9c6e", "#b3261e", "#7b5ea7", "#8c6d31", "#d4579a", "#5d6675",
                   "#17a2b8", "#9aa31f"];

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  async function getJson(url, options) {
    const response = await fetch(url, {credentials: "same-origin", ...(options || {})});
    let answer;
    try { answer = await response.json(); } catch (err) { answer = {error: response.statusText || String(err)}; }
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  function cellText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  // A result ({columns, rows, truncated, note}) as a table in its own scrolling box.
  function resultTable(answer, caption) {
    const box = el("div", "result");
    const count = answer.rows.length;
    const line = [caption, count === 1 ? "1 row" : count.toLocaleString("en") + " rows"].filter(Boolean).join(": ");
    box.append(el("p", "muted result-caption", line + (answer.truncated ? " (" + (answer.note || "cut") + ")" : "")));
    const scroll = el("div", "scroll");
    const table = el("table", "data");
    const head = el("tr");
    for (const name of answer.columns) head.append(el("th", null, name));
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    for (const row of answer.rows) {
      const tr = el("tr");
      row.forEach(function (value) {
        const td = el("td", typeof value === "number" ? "num" : (value === null ? "null" : null), cellText(value));
        tr.append(td);
      });
      tbody.append(tr);
    }
    table.append(thead, tbody);
    scroll.append(table);
    box.append(scroll);
    return box;
  }

  function failed(text) { return el("p", "failed", text); }

  // --- the filter bar and the charts ---------------------------------------------------------

  const filterForm = document.getElementById("page-filters");
  const rowsBox = document.getElementById("chart-rows");
  let drawn = {};  // chart name -> its data, as last drawn

  function filterParams() {
    const params = new URLSearchParams();
    if (!filterForm) return params;
    for (const [name, value] of new FormData(filterForm)) { if (String(value).trim()) params.set(name, value); }
    return params;
  }

  function plot(name, traces, layout, keysOf) {
    const div = document.getElementById("chart-" + name);
    const base = {margin: {l: 50, r: 10, t: 10, b: 40}, height: 320, showlegend: true,
                  legend: {orientation: "h", y: -0.2}, font: {family: "system-ui, sans-serif", size: 12},
                  paper_bgcolor: "#fff", plot_bgcolor: "#fff"};
    window.Plotly.react(div, traces, {...base, ...layout},
                        {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]});
    if (!div.dataset.clickable) {
      div.dataset.clickable = "1";
      div.on("plotly_click", function (event) {
        const point = event.points && event.points[0];
        if (point && point.customdata) openRows(name, point.customdata);
      });
    }
  }

  // A date axis: one tick per day when the bars span a few weeks (else plotly ticks hours).
  function dayAxis(days) {
    const times = days.map(d => Date.parse(d)).filter(Number.isFinite);
    const span = times.length ? (Math.max(...times) - Math.min(...times)) / 86400000 : 0;
    return span <= 45 ? {type: "date", dtick: 86400000, tickformat: "%b %d\n%Y"} : {type: "date"};
  }

  function note(name, text) {
    const node = document.getElementById("note-" + name);
    if (node) node.textContent = text;
  }

  function drawEventsPerDay(chart) {
    const byQuad = new Map();
    for (const [day, quad, quadName, events] of chart.rows) {
      if (!byQuad.has(quad)) byQuad.set(quad, {name: quadName || "quad class " + quad, x: [], y: [], customdata: []});
      const trace = byQuad.get(quad);
      trace.x.push(day); trace.y.push(events); trace.customdata.push([day, String(quad)]);
    }
    const traces = [...byQuad.entries()].sort((a, b) => a[0] - b[0]).map(([quad, t]) => ({
      type: "bar", ...t, marker: {color: QUAD_COLORS[quad] || "#888"},
      hovertemplate: "%{x}<br>%{fullData.name}: %{y} events<extra></extra>"}));
    plot("events_per_day", traces, {barmode: "stack", xaxis: dayAxis(chart.rows.map(r => r[0])),
                                    yaxis: {title: {text: "events"}}});
  }

  function drawActorPairs(chart) {
    // A matrix: source actors down, target actors across, one square per pair (size and colour: events).
    const most = Math.max(1, ...chart.rows.map(r => r[2]));
    const trace = {
      type: "scatter", mode: "markers+text", name: "actor pairs",
      x: chart.rows.map(r => r[1]), y: chart.rows.map(r => r[0]), text: chart.rows.map(r => String(r[2])),
      customdata: chart.rows.map(r => [r[0], r[1]]), textfont: {color: "#fff", size: 11},
      marker: {symbol: "square", size: chart.rows.map(r => 16 + 16 * Math.sqrt(r[2] / most)),
               color: chart.rows.map(r => r[2]), colorscale: [[0, "#9ab8e0"], [1, "#0b2f6b"]], cmin: 0, cmax: most,
               showscale: false},
      hovertemplate: "%{y} → %{x}<br>%{text} events<extra></extra>",
    };
    const actors1 = new Set(trace.y), actors2 = new Set(trace.x);
    plot("actor_pairs", [trace], {
      showlegend: false, height: Math.max(260, 60 + 26 * actors1.size), margin: {l: 110, r: 10, t: 10, b: 90},
      xaxis: {type: "category", tickangle: -40, automargin: true, title: {text: "target actor"}},
      yaxis: {type: "category", autorange: "reversed", automargin: true, title: {text: "source actor"}},
    });
    return actors2;
  }

  function drawTopEntities(chart) {
    const byLabel = new Map();
    for (const [entityId, name, label, mentions] of chart.rows) {
      if (!byLabel.has(label)) byLabel.set(label, {name: label, x: [], y: [], customdata: []});
      const trace = byLabel.get(label);
      trace.y.push(name); trace.x.push(mentions); trace.customdata.push([entityId]);
    }
    const traces = [...byLabel.values()].map((t, i) => ({
      type: "bar", orientation: "h", ...t, marker: {color: PALETTE[i % PALETTE.length]},
      hovertemplate: "%{y} (%{fullData.name}): %{x} mentions<extra></extra>"}));
    plot("top_entities", traces, {
      barmode: "stack", height: Math.max(260, 80 + 22 * chart.rows.length), margin: {l: 10, r: 10, t: 10, b: 40},
      yaxis: {type: "category", autorange: "reversed", automargin: true,
              categoryorder: "array", categoryarray: chart.rows.map(r => r[1])},
      xaxis: {title: {text: "mentions"}},
    });
  }

  function drawArticlesPerSource(chart) {
    const bySource = new Map();
    for (const [day, source, articles] of chart.rows) {
      if (!bySource.has(source)) bySource.set(source, {name: source, x: [], y: [], customdata: []});
      const trace = bySource.get(source);
      trace.x.push(day); trace.y.push(articles); trace.customdata.push([day, source]);
    }
    const traces = [...bySource.values()].map((t, i) => ({
      type: "bar", ...t, marker: {color: PALETTE[i % PALETTE.length]},
      hovertemplate: "%{x}<br>%{fullData.name}: %{y} articles<extra></extra>"}));
    plot("articles_per_source", traces, {barmode: "stack", xaxis: dayAxis(chart.rows.map(r => r[0])),
                                         yaxis: {title: {text: "articles"}}});
  }

  function fillLabels(labels) {
    const select = document.getElementById("entity-label");
    if (!select) return;
    const chosen = select.value;
    const options = [el("option", null, "all labels")];
    options[0].value = "";
    for (const [label, mentions] of labels.rows) {
      const option = el("option", null, label + " (" + mentions.toLocaleString("en") + ")");
      option.value = label;
      options.push(option);
    }
    select.replaceChildren(...options);
    select.value = labels.rows.some(r => r[0] === chosen) ? chosen : "";
  }

  function plural(n, one, many) { return n.toLocaleString("en") + " " + (n === 1 ? one : many); }

  async function loadCharts() {
    const status = document.getElementById("charts-status");
    if (!status || !window.Plotly) {
      if (status) status.replaceChildren(failed("The charting library (plotly.js) did not load."));
      return;
    }
    const params = filterParams();
    const label = document.getElementById("entity-label");
    if (label && label.value) params.set("label", label.value);
    status.replaceChildren(el("span", "muted", "loading charts…"));
    let answer;
    try {
      answer = await getJson("/api/charts?" + params.toString());
    } catch (err) { status.replaceChildren(failed(err.message)); return; }
    status.replaceChildren();
    drawn = answer.charts;
    const scope = answer.events === "confident"
      ? "confident events (a mention coded with confidence ≥ " + answer.view_threshold + ")"
      : "every coded event, any confidence";
    const ev = answer.undated.events, art = answer.undated.articles;
    const c = answer.charts;
    drawEventsPerDay(c.events_per_day);
    note("events_per_day", plural(ev.total, "event", "events") + ": " + scope + "; negated and hypothetical ones left out"
         + (ev.undated ? "; " + plural(ev.undated, "event has", "events have") + " no date and " + (ev.undated === 1 ? "is" : "are") + " not drawn" : "")
         + (c.events_per_day.rows.length ? "." : ". Nothing to draw" + (answer.events === "confident" ? ": choose “every coded event” above." : ".")));
    drawActorPairs(c.actor_pairs);
    note("actor_pairs", c.actor_pairs.rows.length
      ? "The " + plural(c.actor_pairs.rows.length, "pair", "pairs") + " with most " + scope + " (actors by CAMEO code, else name). Click a square for its events."
      : "No event of the cut names both actors (" + scope + ").");
    fillLabels(answer.entity_labels);
    drawTopEntities(c.top_entities);
    note("top_entities", c.top_entities.rows.length
      ? "Mentions in the articles of the cut, coloured by entity label. Click a bar for its mentions."
      : "No entity is mentioned in the articles of the cut.");
    drawArticlesPerSource(c.articles_per_source);
    note("articles_per_source", plural(art.total, "article", "articles") + " by publication day (UTC)"
         + (art.undated ? "; " + plural(art.undated, "article has", "articles have") + " no date and " + (art.undated === 1 ? "is" : "are") + " not drawn" : "")
         + ". Click a bar for its articles.");
    document.body.dataset.chartsLoaded = String(Number(document.body.dataset.chartsLoaded || 0) + 1);
  }

  async function openRows(chart, keys) {
    if (!rowsBox) return;
    const params = filterParams();
    for (const key of keys) params.append("key", key);
    const title = (drawn[chart] ? drawn[chart].title : chart) + ": " + keys.join(" · ");
    rowsBox.replaceChildren(el("p", "muted", "loading rows…"));
    rowsBox.hidden = false;
    try {
      const answer = await getJson("/api/charts/" + encodeURIComponent(chart) + "/rows?" + params.toString());
      rowsBox.replaceChildren(el("h3", null, "Rows behind the mark"), resultTable(answer, title));
    } catch (err) { rowsBox.replaceChildren(failed(err.message)); }
    rowsBox.scrollIntoView({block: "nearest"});
  }

  if (filterForm) {
    filterForm.addEventListener("submit", function (event) { event.preventDefault(); loadCharts(); });
    const label = document.getElementById("entity-label");
    if (label) label.addEventListener("change", loadCharts);
    loadCharts();
  }

  // --- previews, SQL results and search links as tables in the page ---------------------------

  async function showQuery(target, url, caption, options) {
    target.replaceChildren(el("p", "muted", "running…"));
    target.hidden = false;
    try {
      const answer = await getJson(url, options);
      target.replaceChildren(resultTable(answer, caption));
      return answer;
    } catch (err) { target.replaceChildren(failed(err.message)); return null; }
  }

  const previewBox = document.getElementById("preview");
  for (const button of document.querySelectorAll("button.preview")) {
    button.addEventListener("click", function () {
      const name = button.dataset.relation;
      const sql = 'select * from "' + name.replaceAll('"', '""') + '" limit 50';
      showQuery(previewBox, "/api/sql?" + new URLSearchParams({sql}).toString(), "Preview of " + name + " (first 50 rows)");
    });
  }

  const sqlForm = document.getElementById("sql-form");
  if (sqlForm) {
    const out = document.getElementById("sql-result");
    const downloads = document.getElementById("sql-downloads");
    sqlForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const sql = sqlForm.elements.sql.value;
      downloads.hidden = true;
      const answer = await showQuery(out, "/api/sql", "Result", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({sql})});
      if (answer) {
        for (const format of ["csv", "parquet"]) {
          document.getElementById("sql-download-" + format).href =
            "/api/sql/export?" + new URLSearchParams({sql, format}).toString();
        }
        downloads.hidden = false;
      }
    });
  }

  // The search box: asks /api/search and lists the results (titles and snippets come escaped, with <mark>).
  const searchForm = document.getElementById("search-form");
  if (searchForm) {
    const out = document.getElementById("search-results");
    function inPageLink(href, text, target, caption) {
      const a = el("a", "in-page", text);
      a.href = href;
      a.addEventListener("click", function (event) {
        event.preventDefault();
        showQuery(target, href, caption);
      });
      return a;
    }
    searchForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(searchForm)) { if (String(value).trim()) params.set(name, value); }
      out.replaceChildren(el("p", "muted", "searching…"));
      let answer;
      try { answer = await getJson("/api/search?" + params.toString()); }
      catch (err) { out.replaceChildren(failed(err.message)); return; }
      const parts = [];
      if (answer.stale) parts.push(failed(answer.stale));
      if (answer.note) parts.push(el("p", "muted", answer.note));
      if (!answer.results.length) { parts.push(el("p", "muted", "No article matches.")); out.replaceChildren(...parts); return; }
      const list = el("ol");
      // BM25 scores mean little on their own (about 1e-6 on a small index): shown out of 100 for the best
      const best = Math.max(...answer.results.map(hit => Number(hit.score)));
      for (const hit of answer.results) {
        const item = el("li");
        item.id = "hit-" + hit.rank;
        const title = el("div", "title");
        title.innerHTML = hit.title || "(no title)";  // escaped by the server; only <mark> is markup
        const meta = el("div", "muted", [(hit.published_at || "undated").slice(0, 10), hit.source || "unknown source",
                                         "score " + (best > 0 ? Math.round(100 * Number(hit.score) / best) : 0), "article " + hit.article_id].join(" · "));
        const snippet = el("div", "snippet");
        snippet.innerHTML = hit.snippet;  // escaped by the server; only <mark> is markup
        const links = el("div", "links");
        const target = el("div", "hit-rows");
        target.hidden = true;
        if (hit.url && /^https?:/i.test(hit.url)) {
          const original = el("a", null, "original");
          original.href = hit.url;
          original.rel = "noopener noreferrer";
          links.append(original, " · ");
        }
        links.append(inPageLink(hit.links.article, "article row", target, "The article"), " · ",
                     inPageLink(hit.links.entities, "entities", target, "Entities it names"), " · ",
                     inPageLink(hit.links.events, "events", target, "Its coded events (any confidence)"));
        item.append(title, meta, snippet, links, target);
        list.append(item);
      }
      parts.push(list);
      out.replaceChildren(...parts);
    });
  }
})();
