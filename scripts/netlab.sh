#!/usr/bin/env bash
# A slow-link lab on one Linux box: every peer in its own network namespace,
# behind its own 10 Mbit/s link, every peer-to-peer connection through a relay
# that adds the link's delay (docs/edge.md, "Slow links"). Needs root.
#
#   scripts/netlab.sh check                         can this machine do it? (exit 0, or 1 and why)
#   scripts/netlab.sh up NAME N [options]           build lab NAME with peers 0..N-1
#       --rate R        tc rate of each link, both directions (default 10mbit)
#       --delay-ms D    one-way delay of every peer-to-peer path (default 50)
#       --port P        the peers' port (default 7000): peer k is tcp://10.213.<k+1>.2:P
#       --relay BIN     start the delay relay (tests/support/delay_relay) in the background
#       --loss PCT      drop PCT% of the packets each peer sends and of those it receives (default 0)
#       --owner PID     the lab belongs to PID: `reap` removes it once PID is gone (default: the caller)
#   scripts/netlab.sh relay NAME BIN                run the relay in the foreground (for tests that reap it)
#   scripts/netlab.sh peers NAME                    the [[cluster.peers]] TOML of the lab
#   scripts/netlab.sh exec NAME K CMD...            run CMD as peer K (in its namespace)
#   scripts/netlab.sh drop NAME SECONDS [K]         pull peer K's cable (every cable without K) for SECONDS
#   scripts/netlab.sh loss NAME PCT [K]             set the packet loss of peer K (every peer without K) now
#   scripts/netlab.sh down NAME                     stop the relay, delete the namespaces
#   scripts/netlab.sh reap                          take down every lab whose owner process is gone
#
# Layout. Peer k lives in namespace NAME-pk with one interface, eth0 =
# 10.213.<k+1>.2/24; its other end, vhk = 10.213.<k+1>.1, is in the hub namespace
# NAME-h. tbf limits eth0's egress (the peer's upload) and vhk's egress (its
# download) to --rate. The hub does not forward IP: a packet arriving from any
# vhk for 10.213.0.0/16 is routed to the hub itself (policy rule -> table 100,
# "local 10.213.0.0/16"), where the relay listens transparently on every peer's
# endpoint (IP_TRANSPARENT) and opens its own connection to the real peer over
# that peer's link (the hub's main table, which knows 10.213.<k+1>.0/24 is on vhk).
# So a ZeroMQ peer binds and is reached at the same address, the one in the
# cluster config, and every byte between two peers crosses the sender's link,
# the relay (delay) and the receiver's link. Nothing touches the host's own
# interfaces; the addresses exist only inside these namespaces.
#
# State (relay pid, control pipe, relay log) is kept in $NETLAB_STATE/NAME
# (default /run/meshtrain-netlab). netem is not used (this CI kernel lacks it):
# loss is an nftables rule in each peer's namespace, on its way out and in,
# dropping a random share of packets (nft's numgen, per-mille steps).
set -uo pipefail

state_root="${NETLAB_STATE:-/run/meshtrain-netlab}"

die() { echo "netlab: $*" >&2; exit 1; }
bad_arg() { echo "netlab: $*" >&2; exit 2; }  # a user mistake in the arguments
help_text() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
usage() { help_text >&2; exit 2; }

valid_name() { [[ "$1" =~ ^[a-z][a-z0-9-]{0,20}$ ]] || die "lab name '$1' must match [a-z][a-z0-9-]{0,20}"; }
state_of() { echo "$state_root/$1"; }
peer_addr() { echo "10.213.$(($1 + 1)).2"; }
hub_addr() { echo "10.213.$(($1 + 1)).1"; }

check() {
  [ "$(id -u)" = 0 ] || { echo "not root (network namespaces and tc need CAP_NET_ADMIN)"; return 1; }
  command -v ip >/dev/null || { echo "no 'ip' command (iproute2)"; return 1; }
  command -v tc >/dev/null || { echo "no 'tc' command (iproute2)"; return 1; }
  local ns="mtcheck-$$" out
  out="$(ip netns add "$ns" 2>&1)" || { echo "cannot create a network namespace: $out"; return 1; }
  if ! out="$(ip -n "$ns" link add mtc0 type veth peer name mtc1 2>&1)"; then
    ip netns del "$ns"; echo "cannot create a veth pair: $out"; return 1
  fi
  if ! out="$(ip -n "$ns" link set mtc0 up 2>&1 && tc -n "$ns" qdisc add dev mtc0 root tbf rate 10mbit burst 16kb latency 100ms 2>&1)"; then
    ip netns del "$ns"; echo "cannot add a tbf qdisc: $out"; return 1
  fi
  ip netns del "$ns"
  return 0
}

down() {
  local name="$1" dir pid ns
  dir="$(state_of "$name")"
  if [ -f "$dir/relay.pid" ]; then
    pid="$(cat "$dir/relay.pid")"
    # Only the relay this lab started: its command line names the lab's control pipe.
    # A substring test, not `| grep -q`, which can cut the pipe (a failure under pipefail).
    if [ -n "$pid" ] && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$dir/control"* ]]; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${name}-(h|p[0-9]+)$"); do
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$dir"
}

# A loss percentage as per-mille ("2.5" -> 25), or exit 2 naming it.
loss_permille() {
  local pct="$1"
  [[ "$pct" =~ ^([0-9]{1,3})(\.([0-9]))?$ ]] || bad_arg "loss '$pct' must be a percentage 0..100 with at most one decimal"
  local permille=$((10#${BASH_REMATCH[1]} * 10 + 10#${BASH_REMATCH[3]:-0}))
  [ "$permille" -le 1000 ] || bad_arg "loss '$pct' is above 100%"
  echo "$permille"
}

# Replaces peer namespace NS's loss rules: PERMILLE of 1000 packets dropped each way.
set_loss() {
  local ns="$1" permille="$2"
  command -v nft >/dev/null || die "no 'nft' command (nftables; scripts/setup.sh installs it)"
  ip netns exec "$ns" nft delete table inet netlab 2>/dev/null || true  # none yet
  [ "$permille" -gt 0 ] || return 0
  ip netns exec "$ns" nft -f - <<EOF || die "cannot add the loss rules in $ns"
table inet netlab {
  chain out { type filter hook output priority 0; numgen random mod 1000 < $permille drop; }
  chain in { type filter hook input priority 0; numgen random mod 1000 < $permille drop; }
}
EOF
}

up() {
  local name="$1" n="$2"; shift 2
  local rate=10mbit delay=50 port=7000 relay="" owner="$PPID" loss=0
  while [ $# -gt 0 ]; do
    case "$1" in --rate | --delay-ms | --port | --relay | --owner | --loss) [ $# -ge 2 ] && [ -n "$2" ] || bad_arg "up: $1 needs a value" ;; esac
    case "$1" in
      --loss) loss="$(loss_permille "$2")" || exit 2; shift 2 ;;
      --rate) rate="$2"; shift 2 ;;
      --delay-ms) delay="$2"; shift 2 ;;
      --port) port="$2"; shift 2 ;;
      --relay) relay="$2"; shift 2 ;;
      --owner) owner="$2"; shift 2 ;;
      *) bad_arg "up: unknown option '$1'" ;;
    esac
  done
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 250 ] || bad_arg "up: N must be 1..250 (got '$n')"
  [[ "$delay" =~ ^[0-9]+$ ]] || bad_arg "up: --delay-ms must be a whole number of ms"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || bad_arg "up: --port must be 1..65535"
  local dir; dir="$(state_of "$name")"
  [ -e "$dir" ] && die "lab '$name' exists already ($dir); 'netlab.sh down $name' first"
  mkdir -p "$dir" || die "cannot create $dir"
  printf '%s\n' "$n" >"$dir/peers"
  printf '%s\n' "$port" >"$dir/port"
  printf '%s\n' "$delay" >"$dir/delay_ms"
  printf '%s\n' "$owner" >"$dir/owner"

  local hub="$name-h" k ns
  # Anything failing from here on leaves nothing behind.
  trap 'down "$name"; exit 1' ERR
  set -E
  ip netns add "$hub"
  ip -n "$hub" link set lo up
  ip -n "$hub" route add local 10.213.0.0/16 dev lo table 100
  ip netns exec "$hub" sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  for ((k = 0; k < n; k++)); do
    ns="$name-p$k"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$hub" link add "vh$k" type veth peer name eth0 netns "$ns"
    ip -n "$hub" addr add "$(hub_addr "$k")/24" dev "vh$k"
    ip -n "$ns" addr add "$(peer_addr "$k")/24" dev eth0
    ip -n "$hub" link set "vh$k" up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add 10.213.0.0/16 via "$(hub_addr "$k")"
    ip -n "$hub" rule add iif "vh$k" lookup 100 priority 100
    tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst 16kb latency 200ms
    tc -n "$hub" qdisc add dev "vh$k" root tbf rate "$rate" burst 16kb latency 200ms
    set_loss "$ns" "$loss"
  done
  trap - ERR
  set +E
  if [ -n "$relay" ]; then
    relay_background "$name" "$relay" || { down "$name"; exit 1; }
  fi
  echo "netlab: lab '$name' is up: $n peer(s), links $rate, $delay ms one way, loss $((loss / 10)).$((loss % 10))% each way, peers at tcp://10.213.<k+1>.2:$port"
}

relay_args() {
  local name="$1" dir n port delay k
  dir="$(state_of "$name")"
  [ -f "$dir/peers" ] || die "no lab '$name' (no $dir/peers)"
  n="$(cat "$dir/peers")"; port="$(cat "$dir/port")"; delay="$(cat "$dir/delay_ms")"
  printf '%s\n' --transparent --delay-ms "$delay" --control "$dir/control"
  for ((k = 0; k < n; k++)); do printf '%s\n' "$(peer_addr "$k"):$port=$(peer_addr "$k"):$port"; done
}

relay_foreground() {
  local name="$1" bin="$2" args
  mapfile -t args < <(relay_args "$name") || exit 1
  [ ${#args[@]} -gt 0 ] || exit 1
  echo "$$" >"$(state_of "$name")/relay.pid"
  exec ip netns exec "$name-h" "$bin" "${args[@]}"
}

relay_background() {
  local name="$1" bin="$2" dir args pid
  dir="$(state_of "$name")"
  [ -x "$bin" ] || { echo "netlab: relay '$bin' is not an executable (build it: cmake --build build --target delay_relay)" >&2; return 1; }
  mapfile -t args < <(relay_args "$name")
  ip netns exec "$name-h" "$bin" "${args[@]}" >"$dir/relay.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/relay.pid"
  for _ in $(seq 100); do
    grep -q 'delay_relay: ready' "$dir/relay.log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "netlab: the relay did not start:" >&2
  cat "$dir/relay.log" >&2
  return 1
}

peers_toml() {
  local name="$1" dir n port k
  dir="$(state_of "$name")"
  [ -f "$dir/peers" ] || die "no lab '$name'"
  n="$(cat "$dir/peers")"; port="$(cat "$dir/port")"
  for ((k = 0; k < n; k++)); do
    printf '[[cluster.peers]]\nid = "p%d"\nendpoint = "tcp://%s:%s"\n\n' "$k" "$(peer_addr "$k")" "$port"
  done
}

drop() {
  local name="$1" seconds="$2" k="${3:-}" dir line
  dir="$(state_of "$name")"
  [ -p "$dir/control" ] || die "lab '$name' has no running relay (no $dir/control)"
  line="drop $seconds"
  [ -n "$k" ] && line="$line $(peer_addr "$k")"
  # O_RDWR open of a FIFO never blocks, and the relay holds the pipe open.
  printf '%s\n' "$line" 1<>"$dir/control"
}

loss() {
  local name="$1" permille k="${3:-}" dir n
  permille="$(loss_permille "$2")" || exit 2
  dir="$(state_of "$name")"
  [ -f "$dir/peers" ] || die "no lab '$name' (no $dir/peers)"
  n="$(cat "$dir/peers")"
  if [ -n "$k" ]; then
    [[ "$k" =~ ^[0-9]+$ ]] && [ "$k" -lt "$n" ] || bad_arg "loss: peer '$k' is not one of 0..$((n - 1))"
    set_loss "$name-p$k" "$permille"
  else
    for ((k = 0; k < n; k++)); do set_loss "$name-p$k" "$permille"; done
  fi
}

reap() {
  local dir owner
  [ -d "$state_root" ] || return 0
  for dir in "$state_root"/*/; do
    [ -f "$dir/owner" ] || continue
    owner="$(cat "$dir/owner")"
    if ! kill -0 "$owner" 2>/dev/null; then
      echo "netlab: taking down $(basename "$dir") (owner $owner is gone)" >&2
      down "$(basename "$dir")"
    fi
  done
}

[ $# -ge 1 ] || usage
cmd="$1"; shift
case "$cmd" in
  -h | --help | help) help_text; exit 0 ;;
  check) out="$(check)" || { echo "netlab: $out" >&2; exit 1; } ;;
  up) [ $# -ge 2 ] || usage; valid_name "$1"; up "$@" ;;
  down) [ $# -eq 1 ] || usage; valid_name "$1"; down "$1" ;;
  relay) [ $# -eq 2 ] || usage; valid_name "$1"; relay_foreground "$1" "$2" ;;
  peers) [ $# -eq 1 ] || usage; valid_name "$1"; peers_toml "$1" ;;
  exec) [ $# -ge 3 ] || usage; valid_name "$1"; name="$1"; k="$2"; shift 2; exec ip netns exec "$name-p$k" "$@" ;;
  drop) [ $# -ge 2 ] || usage; valid_name "$1"; drop "$@" ;;
  loss) [ $# -ge 2 ] && [ $# -le 3 ] || usage; valid_name "$1"; loss "$@" ;;
  reap) reap ;;
  *) usage ;;
esac
