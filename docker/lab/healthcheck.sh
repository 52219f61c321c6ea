#!/bin/sh
# Docker health check of a gateway container: healthy when every connection of
# the running vgwd is Connected (`vgw status --json`). A lab cold standby
# (gateway-entrypoint.sh, until HA lands) is healthy while it waits; so is an
# instance whose status says it is the standby.
[ "$(cat /run/vgw/lab-role 2>/dev/null)" = standby ] && exit 0
vgw status --json | node -e '
let text = "";
process.stdin.on("data", (d) => { text += d; });
process.stdin.on("end", () => {
  let st;
  try { st = JSON.parse(text); } catch { console.log("no status"); process.exit(1); }
  if (st.role === "standby") { console.log("standby"); process.exit(0); }
  const conns = st.connections ?? [];
  const down = conns.filter((c) => c.state !== "Connected").map((c) => `${c.name}=${c.state}`);
  console.log(down.length ? `not connected: ${down.join(" ")}` : `connected: ${conns.map((c) => c.name).join(" ")}`);
  process.exit(conns.length > 0 && down.length === 0 ? 0 : 1);
});'
