// Pickers, so that nobody types a code: province → city → county (GB/T 2260, static/regions.json),
// and branches and members by name with Tom Select's type-ahead over the console's own search
// endpoints (which call the APIs with the signed-in user's token).
(function () {
  "use strict";

  function fill(select, entries, placeholder) {
    select.innerHTML = "";
    var first = document.createElement("option");
    first.value = "";
    first.textContent = placeholder;
    select.appendChild(first);
    (entries || []).forEach(function (entry) {
      var option = document.createElement("option");
      option.value = entry[0];
      option.textContent = entry[1];
      select.appendChild(option);
    });
    select.disabled = !entries || entries.length === 0;
  }

  function find(entries, code) {
    return (entries || []).filter(function (entry) { return entry[0] === code; })[0];
  }

  function regionPicker(fieldset, regions) {
    var selects = fieldset.querySelectorAll("select[data-level]");
    var hidden = fieldset.querySelector("input[type=hidden]");
    var labels = Array.prototype.map.call(selects, function (s) { return s.options[0].textContent; });

    function chosen() {
      // The deepest level chosen is the region (a city without counties stands for itself).
      var value = "";
      selects.forEach(function (select) { if (select.value) { value = select.value; } });
      hidden.value = value;
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }

    fill(selects[0], regions, labels[0]);
    selects[0].addEventListener("change", function () {
      var province = find(regions, selects[0].value);
      fill(selects[1], province ? province[2] : null, labels[1]);
      fill(selects[2], null, labels[2]);
      chosen();
    });
    selects[1].addEventListener("change", function () {
      var province = find(regions, selects[0].value);
      var city = province ? find(province[2], selects[1].value) : null;
      fill(selects[2], city ? city[2] : null, labels[2]);
      chosen();
    });
    selects[2].addEventListener("change", chosen);

    var current = fieldset.dataset.value || "";
    if (current.length >= 6) {
      var province = find(regions, current.slice(0, 2) + "0000");
      if (province) {
        selects[0].value = province[0];
        fill(selects[1], province[2], labels[1]);
        var city = find(province[2], current.slice(0, 4) + "00");
        if (city) {
          selects[1].value = city[0];
          fill(selects[2], city[2], labels[2]);
          if (find(city[2], current)) { selects[2].value = current; }
        }
      }
    }
  }

  function regionPickers() {
    var fieldsets = document.querySelectorAll("fieldset.region-picker");
    if (fieldsets.length === 0) { return; }
    fetch(fieldsets[0].dataset.regions, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (regions) { fieldsets.forEach(function (f) { regionPicker(f, regions); }); });
  }

  function typeAhead(select) {
    if (typeof window.TomSelect === "undefined") { return; }
    new window.TomSelect(select, {
      valueField: "value",
      labelField: "text",
      searchField: ["text"],
      maxOptions: 20,
      loadThrottle: 250,
      placeholder: select.dataset.placeholder,
      shouldLoad: function (query) { return query.length >= 1; },
      load: function (query, callback) {
        var url = select.dataset.search + (select.dataset.search.indexOf("?") < 0 ? "?" : "&") +
          "q=" + encodeURIComponent(query);
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.json(); })
          .then(function (data) { callback(data.items || []); })
          .catch(function () { callback(); });
      },
      render: {
        no_results: function () { return '<div class="no-results">' + (select.dataset.none || "没有找到") + "</div>"; },
      },
    });
  }

  function sortable(table) {
    table.querySelectorAll("th[data-sort] button.sort").forEach(function (button) {
      button.addEventListener("click", function () {
        var th = button.closest("th");
        var index = Array.prototype.indexOf.call(th.parentNode.children, th);
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (row) { return row.cells.length > 1; });
        rows.sort(function (a, b) {
          var x = a.cells[index].textContent.trim(), y = b.cells[index].textContent.trim();
          return (ascending ? 1 : -1) * x.localeCompare(y, "zh-CN");
        });
        rows.forEach(function (row) { body.appendChild(row); });
        // The export follows the order shown: its link carries the column and direction.
        if (th.dataset.key) {
          document.querySelectorAll("a[data-export]").forEach(function (link) {
            var url = new URL(link.href, window.location.href);
            url.searchParams.set("sort", th.dataset.key);
            url.searchParams.set("dir", ascending ? "asc" : "desc");
            link.href = url.pathname + url.search;
          });
        }
      });
    });
  }

  // Destructive forms (reject, return, cancel, act for a stage) ask once more before they go.
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  }

  function start() {
    confirmations();
    regionPickers();
    document.querySelectorAll("select.pick-member, select.pick-branch").forEach(typeAhead);
    document.querySelectorAll("table.sortable").forEach(sortable);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
