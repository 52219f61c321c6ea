#!/bin/sh
# Docker health check of a gateway container: healthy when every connection of
# the running vgwd is Connected (`vgw status --json`). A lab cold standby
# (gateway-entrypoint.sh, until HA lands) is healthy while it waits; so is an
# HA standby (status .ha.role) while its link to the active partner is up.
[ "$(cat /run/vgw/lab-role 2>/dev/null)" = standby ] && exit 0
vgw status --json | node -e '
let text = "";
process.stdin.on("data", (d) => { text += d; });
process.stdin.on("end", () => {
  let st;
  try { st = JSON.parse(text); } catch { console.log("no status"); process.exit(1); }
  // HA pair (issue 3): the standby carries no tunnels; it is healthy while its partner link is up.
  if (st.ha && st.ha.role === "standby") {
    console.log(`standby (partner ${st.ha.partner.name} ${st.ha.partner.role}, link ${st.ha.partner.linkUp ? "up" : "down"})`);
    process.exit(st.ha.partner.linkUp ? 0 : 1);
  }
  const conns = st.connections ?? [];
  const down = conns.filter((c) => c.state !== "Connected").map((c) => `${c.name}=${c.state}`);
  console.log(down.length ? `not connected: ${down.join(" ")}` : `connected: ${conns.map((c) => c.name).join(" ")}`);
  process.exit(conns.length > 0 && down.length === 0 ? 0 : 1);
});'
