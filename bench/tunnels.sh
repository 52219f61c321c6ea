# shellcheck shell=bash
# bench/tunnels.sh - one up/down pair per tunnel type. Sourced by dataplane.sh
# after lib.sh. Contract for tunnel X:
#   up_X    start daemons in $NS_GA / $NS_GB (PIDs appended to $ST/pids),
#           route $NET_B into the tunnel on gwA and $NET_A on gwB; return once
#           the SA / session is established.
#   down_X  stop what up_X started (by PID) and remove its interfaces.
# $ST is the tunnel's private state dir (configs, throw-away keys, logs).

PSK="vgw-bench-psk-not-secret-0123456789"

wait_file_grep() { # file pattern tries(0.1 s)
  local i
  for i in $(seq 1 "$3"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# ---- baseline: plain kernel forwarding over the veths ----
up_baseline() {
  ip -n $NS_GA route replace $NET_B via $GWB_PUB dev wan0
  ip -n $NS_GB route replace $NET_A via $GWA_PUB dev wan0
}
down_baseline() { :; }

# ---- vgwd: this repository's daemon (dist/ must be built) ----
vgwd_conf() { # name pub remote_pub local_net remote_net mode
  cat <<EOF
gateway:
  name: $1
  addressSpace: [$4]
  publicIpAddress: $2
  vpnType: RouteBased
localNetworkGateways:
  - name: peer
    gatewayIpAddress: $3
    addressPrefixes: [$5]
connections:
  - name: bench
    localNetworkGateway: peer
    sharedKey: "$PSK"
    connectionMode: $6
    dpdTimeoutSeconds: 45
    ipsecPolicies:
      - ikeEncryption: GCMAES256
        ikeIntegrity: SHA384
        dhGroup: ECP384
        ipsecEncryption: GCMAES256
        ipsecIntegrity: GCMAES256
        pfsGroup: None
        saLifeTimeSeconds: 27000
        saDataSizeKilobytes: 102400000
runtime:
  tunName: vgw0
  controlSocket: $ST/$1.sock
  logLevel: ${VGWD_LOG_LEVEL:-warn}
  mtu: ${VGWD_MTU:-1400}
EOF
}
up_vgwd() {
  [[ -f $VB_REPO/dist/daemon/main.js && -f $VB_REPO/build/Release/vgw_tun.node ]] ||
    vb_die "vgwd not built: run npx tsc -p tsconfig.json and node-gyp rebuild"
  vgwd_conf gwA $GWA_PUB $GWB_PUB $NET_A $NET_B ResponderOnly >"$ST/gwA.yaml"
  vgwd_conf gwB $GWB_PUB $GWA_PUB $NET_B $NET_A Default >"$ST/gwB.yaml"
  local ns gw
  for gw in gwA gwB; do
    ns=$NS_GA; [[ $gw == gwB ]] && ns=$NS_GB
    # shellcheck disable=SC2086
    ip netns exec "$ns" node ${VGWD_NODE_ARGS:-} "$VB_REPO/bin/vgwd.js" --config "$ST/$gw.yaml" >"$ST/$gw.log" 2>&1 &
    echo "$! $ns" >>"$ST/pids"
  done
  local i
  for i in $(seq 1 150); do
    if nsx $NS_GA ping -c1 -W1 -q $GWB_LAN >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  vb_die "vgwd tunnel did not come up (see $ST/gwA.log $ST/gwB.log)"
}
down_vgwd() { :; }
# The same daemon with the fast path off (node:crypto, node:dgram, no TUN
# coalescing): the "before" of bench/PROFILE.md, measured in the same run.
up_vgwd_nofast() { VGW_FASTPATH=0 VGW_TUN_VNET=0 up_vgwd; }
down_vgwd_nofast() { :; }

# ---- wireguard-go (ChaCha20-Poly1305, MTU 1420 = wg-quick default) ----
up_wireguard_go() {
  (umask 077; wg genkey >"$ST/a.key"; wg genkey >"$ST/b.key")
  local ns ifn
  for ifn in vbwgA vbwgB; do
    ns=$NS_GA; [[ $ifn == vbwgB ]] && ns=$NS_GB
    ip netns exec "$ns" wireguard-go -f "$ifn" >"$ST/$ifn.log" 2>&1 &
    echo "$! $ns" >>"$ST/pids"
  done
  local i
  for i in $(seq 1 50); do
    [[ -S /var/run/wireguard/vbwgA.sock && -S /var/run/wireguard/vbwgB.sock ]] && break
    sleep 0.1
  done
  nsx $NS_GA wg set vbwgA private-key "$ST/a.key" listen-port 51820 \
    peer "$(wg pubkey <"$ST/b.key")" endpoint $GWB_PUB:51820 allowed-ips $NET_B
  nsx $NS_GB wg set vbwgB private-key "$ST/b.key" listen-port 51820 \
    peer "$(wg pubkey <"$ST/a.key")" endpoint $GWA_PUB:51820 allowed-ips $NET_A
  ip -n $NS_GA link set vbwgA mtu 1420 up
  ip -n $NS_GB link set vbwgB mtu 1420 up
  ip -n $NS_GA route replace $NET_B dev vbwgA
  ip -n $NS_GB route replace $NET_A dev vbwgB
}
down_wireguard_go() { rm -f /var/run/wireguard/vbwgA.sock /var/run/wireguard/vbwgB.sock; }

# ---- OpenVPN 2.6, UDP, AES-256-GCM, P2P TLS; "tuned" adds --fast-io + 4 MB buffers ----
ovpn_pki() {
  local d=$VB_STATE/ovpn-pki who eku
  [[ -f $d/gwB.crt ]] && return 0
  mkdir -p "$d"
  (
    cd "$d" && umask 077
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=vb-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt 2>/dev/null
    for who in gwA gwB; do
      eku=clientAuth; [[ $who == gwB ]] && eku=serverAuth
      openssl ecparam -name prime256v1 -genkey -noout -out "$who.key" 2>/dev/null
      openssl req -new -key "$who.key" -subj "/CN=vb-$who" -out "$who.csr" 2>/dev/null
      printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' "$eku" >"$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 \
        -extfile "$who.ext" -out "$who.crt" 2>/dev/null
    done
  )
}
ovpn_start() { # extra-args...
  ovpn_pki
  local pki=$VB_STATE/ovpn-pki
  local common=(--dev-type tun --proto udp --data-ciphers AES-256-GCM --data-ciphers-fallback AES-256-GCM
    --tls-version-min 1.2 --ca "$pki/ca.crt" --persist-key --verb 3 --ping 10 --ping-restart 60 "$@")
  ip netns exec $NS_GB openvpn "${common[@]}" --dev vbovB --local $GWB_PUB --lport 1194 --remote $GWA_PUB 1194 \
    --tls-server --dh none --remote-cert-tls client --cert "$pki/gwB.crt" --key "$pki/gwB.key" \
    --ifconfig 10.99.0.2 10.99.0.1 --route 10.1.0.0 255.255.255.0 10.99.0.1 --log "$ST/B.log" &
  echo "$! $NS_GB" >>"$ST/pids"
  ip netns exec $NS_GA openvpn "${common[@]}" --dev vbovA --local $GWA_PUB --lport 1194 --remote $GWB_PUB 1194 \
    --tls-client --remote-cert-tls server --cert "$pki/gwA.crt" --key "$pki/gwA.key" \
    --ifconfig 10.99.0.1 10.99.0.2 --route 10.2.0.0 255.255.255.0 10.99.0.2 --log "$ST/A.log" &
  echo "$! $NS_GA" >>"$ST/pids"
  wait_file_grep "$ST/A.log" 'Initialization Sequence Completed' 200 &&
    wait_file_grep "$ST/B.log" 'Initialization Sequence Completed' 50 ||
    vb_die "openvpn did not initialize (see $ST/A.log $ST/B.log)"
}
up_openvpn() { ovpn_start; }
down_openvpn() { :; }
up_openvpn_tuned() { ovpn_start --fast-io --sndbuf 4194304 --rcvbuf 4194304 --txqueuelen 1000; }
down_openvpn_tuned() { :; }

# ---- strongSwan 5.9 charon + kernel-libipsec (ESP over TUN ipsec0, MTU 1400) ----
ss_conf() { # gw local_pub remote_pub local_net remote_net local_id remote_id
  local d=$ST/$1
  mkdir -p "$d/run"
  cat >"$d/strongswan.conf" <<EOF
charon {
  load_modular = no
  load = random nonce openssl aes sha1 sha2 hmac gcm kdf curve25519 x509 pubkey pem pkcs1 kernel-libipsec kernel-netlink socket-default vici updown
  threads = 16
  install_routes = yes
  install_virtual_ip = no
  filelog { vb { path = $d/charon.log
    default = 1
    flush_line = yes } }
  syslog { daemon { default = -1 } }
  plugins { vici { socket = unix://$d/run/charon.vici } }
}
EOF
  cat >"$d/swanctl.conf" <<EOF
connections { vb { version = 2
  local_addrs = $2
  remote_addrs = $3
  encap = yes
  mobike = no
  proposals = aes256gcm16-prfsha256-x25519
  local { auth = psk
    id = $6 }
  remote { auth = psk
    id = $7 }
  children { net { mode = tunnel
    local_ts = $4
    remote_ts = $5
    esp_proposals = aes256gcm16 } } } }
secrets { ike-vb { id-a = vb-gwa
  id-b = vb-gwb
  secret = "$PSK" } }
EOF
}
ss_swanctl() { # gw args...
  local gw=$1; shift
  STRONGSWAN_CONF=$ST/$gw/strongswan.conf swanctl "$@" --uri "unix://$ST/$gw/run/charon.vici"
}
up_strongswan() {
  ss_conf gwA $GWA_PUB $GWB_PUB $NET_A $NET_B vb-gwa vb-gwb
  ss_conf gwB $GWB_PUB $GWA_PUB $NET_B $NET_A vb-gwb vb-gwa
  local gw ns i
  for gw in gwB gwA; do
    ns=$NS_GA; [[ $gw == gwB ]] && ns=$NS_GB
    rm -f "$ST/$gw/run/charon.pid" "$ST/$gw/run/charon.vici"
    # charon hard-codes /var/run/charon.pid: give each one a private /run.
    STRONGSWAN_CONF=$ST/$gw/strongswan.conf ip netns exec "$ns" unshare --mount --propagation private \
      sh -c 'mount --bind "$1" /run && exec /usr/lib/ipsec/charon' sh "$ST/$gw/run" >"$ST/$gw/stdout" 2>&1 &
    echo "$! $ns" >>"$ST/pids"
    for i in $(seq 1 100); do [[ -S $ST/$gw/run/charon.vici ]] && break; sleep 0.1; done
    ss_swanctl $gw --load-all --file "$ST/$gw/swanctl.conf" >"$ST/$gw/load.out" 2>&1
  done
  ss_swanctl gwA --initiate --child net --timeout 15 >"$ST/gwA/initiate.out" 2>&1 ||
    vb_die "strongswan initiate failed (see $ST/gwA/initiate.out)"
  for i in $(seq 1 50); do
    ip -n $NS_GA route show table 220 2>/dev/null | grep -q ipsec0 &&
      ip -n $NS_GB route show table 220 2>/dev/null | grep -q ipsec0 && return 0
    sleep 0.1
  done
  vb_die "strongswan: no route via ipsec0"
}
down_strongswan() { :; }
