// Minimal client for the built-in page: open the WebSocket, say hello, show `me`.
(function () {
  "use strict";
  function set(id, text) { document.getElementById(id).textContent = String(text); }
  function connect(delay) {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = function () { set("status", "connected"); ws.send(JSON.stringify({ cmd: "hello" })); };
    ws.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.cmd === "me") {
        set("name", msg.name); set("id", msg.id); set("fingerprint", msg.fingerprint); set("port", msg.port);
      } else if (msg.cmd === "peers") {
        set("peers", msg.peers.length === 0 ? "none yet" : msg.peers.map(function (p) {
          return p.name + (p.online ? " (online)" : " (offline)");
        }).join(", "));
      }
    };
    ws.onclose = function () {
      set("status", "reconnecting…");
      var next = Math.min((delay || 500) * 2, 10000);
      setTimeout(function () { connect(next); }, delay || 500);
    };
  }
  connect(500);
})();
