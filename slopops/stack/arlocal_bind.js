// Preload for arlocal (`node -r arlocal_bind.js`): arlocal has no host option
// and listens on every interface, so bind each TCP server to ARLOCAL_HOST
// (127.0.0.1 unless set) instead.
"use strict";
const net = require("net");

const host = process.env.ARLOCAL_HOST || "127.0.0.1";
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  // listen(port[, host][, backlog][, callback]) and listen({port, host}).
  if (args.length > 0 && typeof args[0] === "object" && args[0] !== null) {
    if ("port" in args[0]) {
      args[0] = { ...args[0], host };
    }
    return listen.apply(this, args);
  }
  if (typeof args[0] === "number" || typeof args[0] === "string") {
    const port = args[0];
    const rest = args.slice(1).filter((arg) => typeof arg === "function");
    return listen.call(this, port, host, ...rest);
  }
  return listen.apply(this, args);
};
