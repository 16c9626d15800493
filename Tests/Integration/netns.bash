# Hosts as network namespaces, for the multihost integration tests (sourced after common.bash, not run).
#
# One "switch" namespace holds two bridges; every host is a namespace with a veth per network it is
# on. Nothing is created in the root namespace; everything made here is removed on exit (also on
# failure), after every process started in these namespaces has been stopped.
#
#   front 10.201.1.0/24 (eth0): decode .3, gateway .4, client .5            — what clients reach
#   back  10.201.2.0/24 (eth1): prefill-a .1, prefill-b .2, decode .3, router .9 — MPI + KV transfer
#
# Interfaces are named as in deploy/: the MPI/KV network is eth1 on every host that has it.
# Shaping: tc tbf at 10 Gbit/s on every host port of the switch (plus netem delay 0.2 ms where the
# kernel has sch_netem; many container kernels do not — the test prints which it used).

ns_tag="ls$$"            # namespace names: ls<PID>-<host>, unique per test process
ns_made=()               # namespaces created, removed by netns_cleanup
front_net=10.201.1 back_net=10.201.2
declare -A host_ns=()    # host name → namespace
declare -A back_ip=([prefill-a]=$back_net.1 [prefill-b]=$back_net.2 [decode]=$back_net.3 [router]=$back_net.9)
declare -A front_ip=([decode]=$front_net.3 [gateway]=$front_net.4 [client]=$front_net.5)
link_shaping=""          # what netns_shape_port applied, for the test's summary line

# Root and `ip netns` are required: the test fails (it does not skip) without them.
netns_require() {
  [ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces, veth, tc): run as root or under sudo"
  command -v ip >/dev/null && command -v tc >/dev/null || fail "needs iproute2 (ip, tc): scripts/setup installs it"
  local probe="$ns_tag-probe"
  ip netns add "$probe" 2>"$work/netns-probe.err" || fail "ip netns add does not work here: $(cat "$work/netns-probe.err")"
  ip netns del "$probe"
}

# Stops every process still running in one of our namespaces (each by its pid: only processes this
# test started live there), then removes the namespaces, which removes every veth and bridge in them.
netns_cleanup() {
  local ns pid round
  for round in 1 2; do
    for ns in "${ns_made[@]}"; do
      for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill "-$([ $round -eq 1 ] && echo TERM || echo KILL)" "$pid" 2>/dev/null || true
      done
    done
    [ $round -eq 1 ] && for _ in $(seq 25); do
      local left=0
      for ns in "${ns_made[@]}"; do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1; done
      [ $left -eq 0 ] && break
      sleep 0.2
    done
  done
  for ns in "${ns_made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap 'cleanup; netns_cleanup' EXIT

# in_host HOST COMMAND...: runs COMMAND in HOST's namespace. (Daemons started in the background call
# `ip netns exec` directly, so that $! is the daemon's own pid, not a subshell's.)
in_host() { local h=$1; shift; ip netns exec "${host_ns[$h]}" "$@"; }

# netns_new HOST: HOST's namespace (named in host_ns), loopback up.
netns_new() {
  local ns="$ns_tag-$1"
  ip netns add "$ns" || fail "ip netns add $ns failed"
  ns_made+=("$ns")
  host_ns[$1]=$ns
  ip -n "$ns" link set lo up
}

# netns_switch: the switch namespace and its two bridges.
netns_switch() {
  netns_new switch
  local br
  for br in front back; do
    ip -n "${host_ns[switch]}" link add "br-$br" type bridge
    ip -n "${host_ns[switch]}" link set "br-$br" up
  done
}

# netns_shape_port PORT [RATE]: the switch port's egress (traffic towards the host) shaped to RATE
# (default 10gbit) — netem (rate + 0.2 ms) where the kernel has it, tbf (rate only) otherwise.
netns_shape_port() {
  local port=$1 rate=${2:-10gbit} sw=${host_ns[switch]}
  tc -n "$sw" qdisc del dev "$port" root 2>/dev/null || true
  if tc -n "$sw" qdisc add dev "$port" root netem rate "$rate" delay 0.2ms 2>/dev/null; then
    link_shaping="netem rate $rate delay 0.2ms"
  else
    tc -n "$sw" qdisc add dev "$port" root tbf rate "$rate" burst 256kb latency 50ms \
      || fail "tc cannot shape $port (neither netem nor tbf)"
    link_shaping="tbf rate $rate (no sch_netem in this kernel: no added delay)"
  fi
}

# switch_port HOST NET: the name of HOST's port on bridge br-NET (in the switch namespace;
# interface names have at most 15 characters).
switch_port() { local port="$1-$2"; echo "${port:0:15}"; }

# netns_attach HOST NET IFACE ADDRESS: a veth from HOST's IFACE to a port of bridge br-NET.
netns_attach() {
  local host=$1 net=$2 iface=$3 addr=$4 sw=${host_ns[switch]} port
  port=$(switch_port "$host" "$net")
  ip -n "$sw" link add "$port" type veth peer name "$iface" netns "${host_ns[$host]}" || fail "veth $port failed"
  ip -n "$sw" link set "$port" master "br-$net" up
  ip -n "${host_ns[$host]}" addr add "$addr/24" dev "$iface"
  ip -n "${host_ns[$host]}" link set "$iface" up
  netns_shape_port "$port"
}

# port_bytes PORT: bytes the switch has sent out of PORT towards its host so far (its qdisc's count).
port_bytes() { tc -s -n "${host_ns[switch]}" qdisc show dev "$1" | awk '/Sent/ { print $2; exit }'; }

# netns_hosts HOST...: the switch, then each host with its networks (see the table above).
netns_hosts() {
  netns_switch
  local h
  for h in "$@"; do
    netns_new "$h"
    [ -n "${front_ip[$h]:-}" ] && netns_attach "$h" front eth0 "${front_ip[$h]}"
    [ -n "${back_ip[$h]:-}" ] && netns_attach "$h" back eth1 "${back_ip[$h]}"
  done
  # Every link up and reachable before anything starts (bounded: 5 s per pair).
  for h in "$@"; do
    [ -n "${back_ip[$h]:-}" ] && [ "$h" != prefill-a ] && netns_reach "$h" "${back_ip[prefill-a]}"
    [ -n "${front_ip[$h]:-}" ] && [ "$h" != decode ] && netns_reach "$h" "${front_ip[decode]}"
  done
  netns_tls
}

# netns_reach HOST ADDRESS: a TCP connect from HOST to ADDRESS reaches its kernel (answered, even by
# a refusal) within 5 s. Port 9 (discard): nobody listens, so "refused" is the answer expected.
netns_reach() {
  local host=$1 addr=$2
  for _ in $(seq 25); do
    case $(in_host "$host" timeout 1 bash -c "exec 3<>/dev/tcp/$addr/9" 2>&1) in *refused*) return 0 ;; esac
    sleep 0.2
  done
  fail "$host cannot reach $addr"
}

# launch_agent FILE: OpenMPI's rsh launch agent for these hosts (`--mca plm_rsh_agent FILE`):
# mpirun calls `FILE HOST COMMAND...` for each remote host of the hostfile; HOST (a back-network
# address) names the namespace the command runs in — what `ssh HOST` does on real hosts.
launch_agent() {
  local file=$1
  {
    echo '#!/bin/sh'
    echo 'host=$1; shift'
    echo 'case $host in'
    local h
    for h in prefill-a prefill-b; do echo "  ${back_ip[$h]}) ns=${host_ns[$h]} ;;"; done
    echo '  *) echo "launch agent: no namespace host $host" >&2; exit 1 ;;'
    echo 'esac'
    echo 'exec ip netns exec "$ns" sh -c "$*"'
  } >"$file"
  chmod +x "$file"
}

# netns_tls: the deployment's security material in $work/tls, which the units read as
# LATENTSERVE_TLS_DIR: a test CA from deploy/tls/make-test-ca.sh whose server certificate names every
# address of every host (clients check the address they dial), the shared gRPC token, the gateway's
# API key. Every hop then runs as deploy/ ships it: mutual TLS plus the token. `client_tls` holds a
# client's flags; `gateway_curl` is curl with the CA and the API key.
netns_tls() {
  tls_dir=$work/tls
  "$root/deploy/tls/make-test-ca.sh" "$tls_dir" "${front_ip[@]}" "${back_ip[@]}" >"$work/make-test-ca.log" 2>&1 \
    || fail "make-test-ca.sh failed: $(tail -5 "$work/make-test-ca.log")"
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tls_dir/token"
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tls_dir/api-key"
  client_tls=(--tls-ca "$tls_dir/ca.pem" --tls-cert "$tls_dir/client.pem" --tls-key "$tls_dir/client.key"
              --auth-token-file "$tls_dir/token")
}

# gateway_curl HOST ARGS...: curl from HOST trusting the test CA, with the API key.
gateway_curl() {
  local h=$1; shift
  in_host "$h" curl --cacert "$tls_dir/ca.pem" -H "Authorization: Bearer $(cat "$tls_dir/api-key")" "$@"
}

# start_prefill_hosts [extra pd-prefill args...]: deploy/'s pd-prefill unit (mpirun with its hostfile,
# interface and listen flags; port 50061) in prefill-a's namespace: rank 0 there, rank 1 in
# prefill-b's, started through the launch agent. Test-only, inserted after `mpirun`: the agent in
# place of ssh, and `--mca btl tcp,self` (the namespaces share one kernel, so without it the ranks
# could talk through shared memory; real hosts have no such path).
start_prefill_hosts() {
  printf '%s slots=1\n%s slots=1\n' "${back_ip[prefill-a]}" "${back_ip[prefill-b]}" >"$work/hostfile"
  launch_agent "$work/agent.sh"
  deploy_argv pd-prefill.service LATENTSERVE_MODEL="${MODEL:-tiny}" LATENTSERVE_HOSTFILE="$work/hostfile" \
    LATENTSERVE_TLS_DIR="$tls_dir" LATENTSERVE_PREFILL_RANKS=2 LATENTSERVE_LOG_LEVEL="${LOG_LEVEL:-info}"
  local i command=()
  for i in "${!argv[@]}"; do
    command+=("${argv[$i]}")
    [ "${argv[$i]##*/}" = mpirun ] && command+=(--mca plm_rsh_agent "$work/agent.sh" --mca btl tcp,self)
  done
  ip netns exec "${host_ns[prefill-a]}" "${command[@]}" "$@" >"$work/prefill.log" 2>&1 &
  pids+=($!)
  prefill_pid=$!
}

# start_decode_host [VAR=VALUE...]: deploy/'s pd-decode unit (listen 0.0.0.0:50051: the front
# network for clients and the gateway) reaching prefill-a over the back network. Overrides: the
# model, prefill-a's address, 4096 pages and 1 BLAS thread (a small shared test machine), then
# the caller's (variables of deploy/env/pd-decode.env).
start_decode_host() {
  deploy_argv pd-decode.service LATENTSERVE_MODEL="${MODEL:-tiny}" LATENTSERVE_PREFILL_TARGETS="${back_ip[prefill-a]}:50061" \
    LATENTSERVE_TLS_DIR="$tls_dir" LATENTSERVE_KV_PAGES=4096 OPENBLAS_NUM_THREADS=1 LATENTSERVE_LOG_LEVEL="${LOG_LEVEL:-info}" "$@"
  ip netns exec "${host_ns[decode]}" "${argv[@]}" >"$work/decode.log" 2>&1 &
  pids+=($!)
  decode_pid=$!
}

# start_gateway_host [extra pd-gateway args...]: deploy/'s pd-gateway unit (listen 0.0.0.0:8000)
# routing to decode's front address.
start_gateway_host() {
  deploy_argv pd-gateway.service LATENTSERVE_MODEL="${MODEL:-tiny}" LATENTSERVE_DECODE_TARGETS="${front_ip[decode]}:50051" \
    LATENTSERVE_TLS_DIR="$tls_dir" LATENTSERVE_LOG_LEVEL="${LOG_LEVEL:-info}"
  ip netns exec "${host_ns[gateway]}" "${argv[@]}" "$@" >"$work/gateway.log" 2>&1 &
  pids+=($!)
  gateway_pid=$!
}

# client_at COMMAND ARGS...: pd-client COMMAND on the client host, over mutual TLS with the token.
client_at() { local command=$1; shift; in_host client "$bin/pd-client" "$command" "${client_tls[@]}" "$@"; }

# wait_host_healthy HOST ADDRESS:PORT [SECONDS]: health check from HOST until SERVING.
wait_host_healthy() {
  local host=$1 target=$2 limit=${3:-60}
  for _ in $(seq $((limit * 2))); do
    in_host "$host" "$bin/pd-client" health "${client_tls[@]}" --target "$target" --timeout 1 >/dev/null 2>&1 && return 0
    [ -n "${prefill_pid:-}" ] && ! kill -0 "$prefill_pid" 2>/dev/null && fail "mpirun (prefill) exited"
    sleep 0.5
  done
  fail "$target not healthy from $host after ${limit}s"
}

# decode_pages_held PORT: "0" once decode (asked from the client host) holds no request and every KV
# page is free — polled up to 10 s, as pages go back a moment after the last token — else what it
# still holds ("N pages, M requests active"; a leaked page never comes back).
decode_pages_held() {
  local stats=$work/stats-$1.json
  for _ in $(seq 50); do
    client_at stats --target "${front_ip[decode]}:$1" >"$stats" 2>/dev/null \
      && [ "$(json_field "$stats" "j['free_kv_pages'] == j['total_kv_pages'] and j['active_requests'] == 0")" = True ] \
      && { echo 0; return; }
    sleep 0.2
  done
  json_field "$stats" "f\"{j['total_kv_pages'] - j['free_kv_pages']} pages, {j['active_requests']} requests active\"" 2>/dev/null \
    || echo "unknown (no Stats answer)"
}

# wan_start DELAY_SECONDS LOSS_FRACTION: the router host (on the back network) forwards every packet
# between decode and prefill-a through Tests/Integration/wan_delay.py (a user-space netem: constant
# delay, seeded loss) — once wan_route_through_router sends that traffic its way.
wan_start() {
  local delay=$1 loss=$2 r=${host_ns[router]}
  ip netns exec "$r" python3 -u "$root/Tests/Integration/wan_delay.py" wan-in wan-out "$delay" "$loss" 7 \
    >"$work/wan.out" 2>"$work/wan.log" &
  pids+=($!)
  wan_pid=$!
  for _ in $(seq 50); do grep -q ready "$work/wan.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$work/wan.out" || fail "wan_delay.py did not start: $(cat "$work/wan.log")"
  local k
  for k in net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
           net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth1.send_redirects=0 net.ipv4.conf.eth1.rp_filter=0; do
    in_host router sysctl -qw "$k"
  done
  ip -n "$r" link set wan-in up; ip -n "$r" link set wan-out up
  in_host router sysctl -qw net.ipv4.conf.wan-out.rp_filter=0
  # Packets towards decode or prefill-a enter the WAN; what leaves it goes out on eth1 (table 100).
  ip -n "$r" route add "${back_ip[decode]}/32" dev wan-in
  ip -n "$r" route add "${back_ip[prefill-a]}/32" dev wan-in
  ip -n "$r" rule add iif wan-out lookup 100
  ip -n "$r" route add "$back_net.0/24" dev eth1 table 100
}

# wan_route_through_router on|off: decode ↔ prefill-a traffic goes via the router's WAN, or direct.
wan_route_through_router() {
  local verb=$([ "$1" = on ] && echo replace || echo del)
  local via=$([ "$1" = on ] && echo "via ${back_ip[router]}")
  ip -n "${host_ns[decode]}" route "$verb" "${back_ip[prefill-a]}/32" $via
  ip -n "${host_ns[prefill-a]}" route "$verb" "${back_ip[decode]}/32" $via
}

# deploy_command UNIT [VAR=VALUE...]: the command line deploy/systemd/UNIT runs (its ExecStart, with
# ${VAR} taken from deploy/env/<unit name>.env, then the overrides given, and a word $VAR split at
# spaces into words, none when empty, as systemd does), NUL-separated, as
# `env VAR=VALUE... COMMAND...`: the environment file's variables for the process too, as systemd
# passes them. /usr/local/bin/ (the walkthrough's install path) becomes $bin/. The tests start the
# daemons with exactly these flags, so a flag the walkthrough gets wrong fails them.
deploy_command() {
  python3 - "$root/deploy" "$bin" "$@" <<'PY'
import re, shlex, sys
deploy, bin, unit, overrides = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
env = {}
for line in open(f"{deploy}/env/{unit.removesuffix('.service')}.env"):
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = line.split("=", 1); env[k] = v
env.update(o.split("=", 1) for o in overrides)
text = open(f"{deploy}/systemd/{unit}").read().replace("\\\n", " ")
exec_start = next(l for l in text.splitlines() if l.startswith("ExecStart="))[len("ExecStart="):]
def expand(word):
    def value(m):
        if m.group(1) not in env: sys.exit(f"deploy_command: {unit} uses ${{{m.group(1)}}}, not in its env file")
        return env[m.group(1)]
    return re.sub(r"\$\{(\w+)\}", value, word).replace("/usr/local/bin/", bin + "/")
def words_of(word):
    whole = re.fullmatch(r"\$(\w+)", word)
    if not whole: return [expand(word)]
    if whole.group(1) not in env: sys.exit(f"deploy_command: {unit} uses ${whole.group(1)}, not in its env file")
    return env[whole.group(1)].split()
words = ["env"] + [f"{k}={v}" for k, v in env.items()] + [w for word in shlex.split(exec_start) for w in words_of(word)]
sys.stdout.write("\0".join(words))
PY
}

# deploy_argv UNIT [VAR=VALUE...]: deploy_command read into the array `argv`.
deploy_argv() {
  argv=()
  local word
  while IFS= read -r -d '' word; do argv+=("$word"); done < <(deploy_command "$@"; printf '\0')
  [ ${#argv[@]} -gt 1 ] || fail "cannot read deploy/systemd/$1"
}
