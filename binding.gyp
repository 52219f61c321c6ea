{
  "targets": [
    {
      "target_name": "vgw_tun",
      "sources": ["dataplane/tun/tun_addon.c", "dataplane/tun/fastpath.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
