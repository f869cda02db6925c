// Keyboard voting for the battle page. The page works without this file (plain forms and links);
// this adds the shortcuts listed on the page and shows server messages from htmx requests.
(function () {
  "use strict";

  var CHOICE_KEYS = { "1": "left", "2": "right", "3": "tie", "4": "both_bad", ArrowLeft: "left", ArrowRight: "right" };

  function panel() { return document.getElementById("vote-panel"); }
  function rows(form) { return Array.prototype.slice.call(form.querySelectorAll("[data-row]")); }

  function activeIndex(form) {
    var all = rows(form);
    for (var i = 0; i < all.length; i++) { if (all[i].classList.contains("active")) { return i; } }
    return 0;
  }

  function setActive(form, index) {
    var all = rows(form);
    if (!all.length) { return; }
    index = (index + all.length) % all.length;
    all.forEach(function (row, i) { row.classList.toggle("active", i === index); });
    // The optional rows fold away to keep the bar small: moving onto one unfolds them.
    var folded = all[index].closest("details");
    if (folded && !folded.open) { folded.open = true; }
    all[index].scrollIntoView({ block: "nearest" });
  }

  // A choice on the overall row is the vote (it submits the whole form, optional rows included);
  // on an optional row it ticks the radio and moves on, ending back on the overall row.
  function choose(form, choice) {
    var all = rows(form);
    var index = activeIndex(form);
    var row = all[index];
    if (row.dataset.row === "overall") {
      var button = row.querySelector('button[value="' + choice + '"]');
      if (button && !button.disabled) { button.click(); }
      return;
    }
    var input = row.querySelector('input[value="' + choice + '"]');
    if (input) { input.checked = true; }
    setActive(form, index + 1);
  }

  function isTyping(target) {
    if (!target || !target.tagName) { return false; }
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") { return true; }
    return target.tagName === "INPUT" && target.type !== "radio" && target.type !== "checkbox";
  }

  function toggleGuidelines() {
    var details = document.getElementById("guidelines");
    if (details) { details.open = !details.open; }
  }

  function clickIfPresent(id) {
    var element = document.getElementById(id);
    if (element) { element.click(); }
    return Boolean(element);
  }

  function onOpenPanel(event, form) {
    var key = event.key;
    // A vote or a skip is on its way: keys must not act on the battle being replaced.
    if (form.classList.contains("htmx-request") || form.querySelector(".htmx-request")) { event.preventDefault(); return; }
    if (Object.prototype.hasOwnProperty.call(CHOICE_KEYS, key)) {
      event.preventDefault();
      choose(form, CHOICE_KEYS[key]);
    } else if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      setActive(form, activeIndex(form) + (key === "ArrowDown" ? 1 : -1));
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      var skip = form.querySelector('[data-action="skip"]');
      if (skip && !skip.disabled) { skip.click(); }
    } else if (key === "Enter") {
      event.preventDefault();  // never vote by accident with a focused button
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) { return; }
    var key = event.key;
    if (key === "g" || key === "G") { toggleGuidelines(); return; }
    var form = panel();
    if (!form) {
      if (key === "Enter" && clickIfPresent("start-voting")) { event.preventDefault(); }
      return;
    }
    if (form.dataset.voteState === "revealed") {
      if (key === "Enter" || key === "n" || key === "N") { event.preventDefault(); clickIfPresent("next-battle"); }
      if (key === "u" || key === "U") { event.preventDefault(); clickIfPresent("undo-vote"); }
      return;
    }
    onOpenPanel(event, form);
  });

  function showError(message) {
    var box = document.getElementById("vote-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "vote-error";
      box.className = "error";
      box.setAttribute("role", "alert");
      document.querySelector("main").prepend(box);
    }
    box.textContent = message;  // text, never HTML: messages may quote what was posted
  }

  // Undo is offered for a short window after the vote; the server refuses it afterwards, so hide it then.
  function expireUndo(root) {
    var form = root && root.querySelector ? root.querySelector("form.undo[data-undo-seconds]") : null;
    if (!form) { return; }
    window.setTimeout(function () { form.hidden = true; }, 1000 * Number(form.dataset.undoSeconds));
  }
  document.addEventListener("DOMContentLoaded", function () { expireUndo(document); });
  document.addEventListener("htmx:afterSettle", function () { expireUndo(document); });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    showError(xhr.responseText || ("The server refused the request (HTTP " + xhr.status + ")."));
  });
  document.addEventListener("htmx:sendError", function () {
    showError("The vote did not reach the server: check your connection and press the key again.");
  });
})();
