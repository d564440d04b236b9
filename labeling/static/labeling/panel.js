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
    else if (key === "n") follow("next-ab-link");
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

  // Drafts: what the reviewer enters is kept in localStorage, per user and item, on every change, and
  // dropped only once a submit or skip is answered with the next item. A session expiry, a CSRF
  // "reload the page", back/forward or a reassignment therefore loses nothing.
  var SKIP = "__skip_reason";
  function draftKey(taskId) { return "zeke-draft:" + (document.body.getAttribute("data-user") || "") + ":" + taskId; }
  function readDraft(taskId) {
    try { return JSON.parse(window.localStorage.getItem(draftKey(taskId)) || "null"); } catch (e) { return null; }
  }
  function formFields() {
    var form = document.getElementById("score-form");
    var fields = {};
    if (!form) return fields;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrfmiddlewaretoken" || (el.type === "radio" && !el.checked)) return;
      fields[el.name] = el.value;
    });
    var skip = document.querySelector('#skip-form input[name="reason"]');
    if (skip && skip.value) fields[SKIP] = skip.value;
    return fields;
  }
  function saveDraft() {
    var item = root();
    if (!item || !item.getAttribute("data-task-id") || !document.getElementById("score-form")) return;
    try {
      window.localStorage.setItem(draftKey(item.getAttribute("data-task-id")),
        JSON.stringify({ saved: Date.now(), fields: formFields() }));
    } catch (e) { /* storage full or disabled: the panel still works, without drafts */ }
  }
  function dropDraft(taskId) { try { window.localStorage.removeItem(draftKey(taskId)); } catch (e) { /* ignore */ } }
  function setField(form, name, value) {
    if (name === SKIP) {
      var skip = document.querySelector('#skip-form input[name="reason"]');
      if (skip) skip.value = value;
      return;
    }
    Array.prototype.forEach.call(form.querySelectorAll('[name="' + name + '"]'), function (el) {
      if (el.type === "radio") el.checked = el.value === value; else el.value = value;
    });
  }
  function restoreDraft(item) {
    var form = document.getElementById("score-form");
    // A bound form (a 400) already shows exactly what was posted.
    if (!form || item.getAttribute("data-bound")) return;
    var draft = readDraft(item.getAttribute("data-task-id"));
    if (!draft || !draft.fields) return;
    Object.keys(draft.fields).forEach(function (name) { setField(form, name, draft.fields[name]); });
    var note = document.getElementById("draft-note");
    if (note) {
      note.querySelector("span").textContent = "Draft restored (saved " + new Date(draft.saved).toLocaleTimeString() + ").";
      note.hidden = false;
    }
  }
  function draftText(draft) {
    return Object.keys(draft.fields).map(function (name) {
      return (name === SKIP ? "skip reason" : name) + ": " + draft.fields[name];
    }).join("\n");
  }
  function offerDraft(item) {
    var draft = readDraft(item.getAttribute("data-task-id"));
    var offer = document.getElementById("draft-offer");
    if (!draft || !offer) return;
    document.getElementById("draft-offer-text").value = draftText(draft);
    offer.hidden = false;
  }
  document.addEventListener("input", function (event) { if (event.target.form) saveDraft(); });
  document.addEventListener("change", function (event) { if (event.target.form) saveDraft(); });
  document.addEventListener("click", function (event) {
    var id = event.target && event.target.id;
    if (id === "draft-discard") {
      dropDraft(root().getAttribute("data-task-id"));
      document.getElementById("draft-note").hidden = true;
    } else if (id === "draft-copy") {
      var text = document.getElementById("draft-offer-text");
      text.select();
      if (navigator.clipboard) navigator.clipboard.writeText(text.value); else document.execCommand("copy");
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt, xhr = event.detail.xhr;
    if (!elt || (elt.id !== "score-form" && elt.id !== "skip-form")) return;
    // Answered with the next item: the draft was stored. A redirect to the login (HX-Redirect) was not.
    if (xhr.status >= 200 && xhr.status < 300 && !xhr.getResponseHeader("HX-Redirect")) {
      var match = /\/item\/(\d+)\//.exec(elt.getAttribute("action") || "");
      if (match) dropDraft(match[1]);
    }
  });

  function start() {
    var item = root();
    if (!item) return;
    if (item.getAttribute("data-kind") === "error") { offerDraft(item); return; }
    restoreDraft(item);
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
