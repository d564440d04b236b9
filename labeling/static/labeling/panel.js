// Keyboard driving for the review panel. One delegated keydown listener on the document, so the item
// partial HTMX swaps in needs no re-binding; after each swap the first dimension gets the focus.
(function () {
  "use strict";

  var current = 0;

  function root() { return document.getElementById("review-item"); }
  function dimensions() {
    var item = root();
    return item ? Array.prototype.slice.call(item.querySelectorAll("fieldset.dimension")) : [];
  }
  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) return true;
    return tag === "INPUT" && ["radio", "checkbox", "submit", "button", "hidden"].indexOf(el.type) < 0;
  }
  function showAnchor(fieldset) {
    var checked = fieldset.querySelector("input:checked");
    var anchor = fieldset.querySelector(".anchor");
    if (anchor) anchor.textContent = checked ? checked.parentNode.getAttribute("data-anchor") || "" : "";
  }
  function focusDimension(index) {
    var all = dimensions();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (fieldset, i) { fieldset.classList.toggle("focused", i === current); });
    var target = all[current].querySelector("input:checked") || all[current].querySelector("input");
    if (target) target.focus({ preventScroll: false });
  }
  function syncFromFocus() {
    var all = dimensions();
    for (var i = 0; i < all.length; i++) {
      if (all[i].contains(document.activeElement)) {
        current = i;
        all.forEach(function (fieldset, j) { fieldset.classList.toggle("focused", j === i); });
        return true;
      }
    }
    return false;
  }
  function score(value) {
    var all = dimensions();
    if (!all.length) return;
    var input = all[current].querySelector('input[value="' + value + '"]');
    if (!input) return;
    input.checked = true;
    showAnchor(all[current]);
    if (current < all.length - 1) focusDimension(current + 1);
    else input.focus();
  }
  function choose(value) {
    var input = root() && root().querySelector('fieldset.choice input[value="' + value + '"]');
    if (input) { input.checked = true; input.focus(); }
  }
  function submit(form) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }
  function toggleHelp(force) {
    var help = document.getElementById("key-help");
    if (!help) return;
    help.hidden = force === undefined ? !help.hidden : !force;
  }
  function follow(id) {
    var link = document.getElementById(id);
    if (link) link.click();
  }
  function focusField(selector) {
    var field = root() && root().querySelector(selector);
    if (field) { field.focus(); return true; }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    var el = document.activeElement;
    if (event.key === "Escape") {
      toggleHelp(false);
      if (isTyping(el)) { el.blur(); focusDimension(current); }
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && isTyping(el) && el.form) {
      event.preventDefault();
      submit(el.form);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(el) || !root()) return;
    syncFromFocus();
    var kind = root().getAttribute("data-kind");
    var key = event.key;
    var handled = true;
    if (kind === "score" && key >= "1" && key <= "5") score(key);
    else if (kind === "preference" && (key === "a" || key === "b")) choose(key);
    else if (kind === "preference" && key === "t") choose("tie");
    else if (key === "ArrowDown" || key === "ArrowRight") focusDimension(current + 1);
    else if (key === "ArrowUp" || key === "ArrowLeft") focusDimension(current - 1);
    else if (key === "c") handled = focusField('textarea[name="correction"]') || focusField('textarea[name="rationale"]');
    else if (key === "s") handled = focusField('#skip-form input[name="reason"]');
    else if (key === "j") follow("next-link");
    else if (key === "k") follow("prev-link");
    else if (key === "?") toggleHelp();
    else if (key === "Enter" && !(el && (el.tagName === "A" || el.tagName === "BUTTON"))) submit(document.getElementById("score-form"));
    else handled = false;
    if (handled) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    var fieldset = event.target.closest && event.target.closest("fieldset.dimension");
    if (fieldset) showAnchor(fieldset);
  });
  document.addEventListener("focusin", syncFromFocus);

  function start() {
    var item = root();
    if (!item) return;
    dimensions().forEach(showAnchor);
    var firstError = item.querySelector(".error");
    if (firstError && item.querySelector("#tool-calls-errors")) { focusField('textarea[name="corrected_tool_calls"]'); return; }
    if (item.getAttribute("data-kind") === "preference") {
      var choice = item.querySelector("fieldset.choice input:checked") || item.querySelector("fieldset.choice input");
      if (choice) choice.focus();
      return;
    }
    var all = dimensions();
    var firstEmpty = all.findIndex(function (fieldset) { return !fieldset.querySelector("input:checked"); });
    focusDimension(firstEmpty < 0 ? 0 : firstEmpty);
  }

  // Only the panel's own partials (one root <div id="review-item">) may replace the item: a page that is
  // not one (a CSRF failure, a proxy's error page) would wipe the form and the keys with it.
  function problem(text) {
    var box = document.getElementById("panel-problem");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (!detail.target || detail.target.id !== "review-item") return;
    problem("");
    if (!detail.shouldSwap || /^\s*<div id="review-item"/.test(detail.serverResponse || "")) return;
    detail.shouldSwap = false;
    problem("The server answered " + detail.xhr.status + " with something other than a review item; " +
      "reload the page (this item was not saved).");
  });
  document.addEventListener("htmx:responseError", function (event) {
    problem("The server failed (" + event.detail.xhr.status + "); this item was not saved. Try again or reload.");
  });
  document.addEventListener("htmx:sendError", function () {
    problem("The server cannot be reached; this item was not saved.");
  });

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);
})();
