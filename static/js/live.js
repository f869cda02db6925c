// Live battle page: opens the turn's Server-Sent Events stream and writes both answers as they come.
// Pieces are added as text (never parsed as HTML); a finished answer is replaced by the server's sanitised
// rendering. Nothing received names a model.
(function () {
  "use strict";
  const section = document.getElementById("live-battle");
  if (!section || section.dataset.state !== "pending") return;
  const status = document.getElementById("live-status");
  const panes = { left: document.getElementById("live-left"), right: document.getElementById("live-right") };
  const show = (id, visible) => { const el = document.getElementById(id); if (el) el.hidden = !visible; };
  const source = new EventSource(section.dataset.streamUrl);
  let ended = false;

  source.addEventListener("start", function () { section.dataset.state = "streaming"; });
  source.addEventListener("delta", function (event) {
    const data = JSON.parse(event.data);
    const pane = panes[data.side];
    let text = pane.querySelector(".stream-text");
    if (!text) { text = document.createElement("span"); text.className = "stream-text"; pane.appendChild(text); }
    text.textContent += data.text;
    pane.dataset.streaming = "1";
  });
  source.addEventListener("side", function (event) {
    const data = JSON.parse(event.data);
    panes[data.side].innerHTML = data.html;  // rendered and sanitised by the server (arena.rendering)
    panes[data.side].dataset.done = "1";
  });
  source.addEventListener("failed-side", function (event) {
    const data = JSON.parse(event.data);
    const error = document.getElementById("live-" + data.side + "-error");
    error.textContent = data.message;
    error.hidden = false;
  });
  source.addEventListener("end", function (event) {
    ended = true;
    source.close();
    const data = JSON.parse(event.data);
    if (data.state === "reload") { window.location.reload(); return; }
    section.dataset.state = data.state;
    if (data.state === "ready") {
      status.textContent = data.message || "Both answers are in: vote, or ask a follow-up.";
      show("live-vote", true);
      const followUp = document.getElementById("live-follow-up");
      if (followUp && Number(followUp.dataset.turnsLeft) > 0) followUp.hidden = false;
    } else {
      status.textContent = data.message;
    }
    show("live-actions", true);
  });
  source.onerror = function () {
    if (ended) return;
    source.close();
    status.textContent = "The connection to the arena was lost; reload the page to see where the battle stands.";
  };
})();
