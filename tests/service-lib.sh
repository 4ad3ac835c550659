# SPDX-License-Identifier: LGPL-2.1-or-later
# The real components around swupdated, started here on this machine and cleaned up by
# service_cleanup: a private dbus-daemon with the shipped bus policy, nginx on 127.0.0.1
# serving $T/repo, and swupdated itself with a readiness probe that needs only the bus.
# Used by the daemon tests (daemon-lib.sh), bench/daemon and scripts/demo. The caller sets
# $T (a directory) and $SWUPDATED; $SRCDIR is the source tree.

PIDS=()

service_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# start_bus [nopolicy]: a private system bus at $T/bus.sock with the shipped policy (without it:
# "nopolicy", to test the daemon's own checks); sets DBUS_SYSTEM_BUS_ADDRESS and BUS. With
# ACTIVATE=CONFIG the bus starts swupdated itself (bus activation, see activation_file).
start_bus() {
	local policy="<include>$SRCDIR/dbus/io.swupdated.Updater1.conf</include>" servicedir=""
	[ "${1:-}" = nopolicy ] && policy=""
	if [ -n "${ACTIVATE:-}" ]; then
		activation_file "$T/services" "$ACTIVATE"
		servicedir="<servicedir>$T/services</servicedir>"
	fi
	# The address is known before the bus listens: activated daemons inherit it.
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus.sock"
	cat >"$T/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$T/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
  $servicedir
  $policy
</busconfig>
CONF
	# It prints its address once it listens: the socket file alone exists from bind() on, and a
	# client that connects before listen() is refused.
	: >"$T/bus.address"
	dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile --print-address=3 \
		3>"$T/bus.address" &
	PIDS+=($!)
	for _ in $(seq 200); do [ -s "$T/bus.address" ] && break; sleep 0.05; done
	[ -s "$T/bus.address" ] || fail "the private bus did not come up"
	BUS="--address=$DBUS_SYSTEM_BUS_ADDRESS"
}

# activation_file DIR CONFIG: the shipped activation file in DIR, its Exec= running the swupdated
# under test on CONFIG (logging to $T/daemon.log; $ACTIVATE_PREFIX, a command such as GNU time,
# runs it); everything else as shipped. A private bus runs Exec= itself; SystemdService= is only
# used under systemd (the VM tests).
activation_file() {
	mkdir -p "$1"
	cat >"$T/swupdated-activated" <<SH
#!/bin/sh
exec ${ACTIVATE_PREFIX:-} "$SWUPDATED" --config "$2" >>"$T/daemon.log" 2>&1
SH
	chmod 755 "$T/swupdated-activated"
	sed "s|^Exec=.*|Exec=$T/swupdated-activated|" "$SRCDIR/dbus/io.swupdated.Updater1.service.in" \
		>"$1/io.swupdated.Updater1.service"
}

# daemon_gone [SECONDS]: waits until swupdated left the bus: the name has no owner and the
# process that owned it has exited. 1 when it still runs after SECONDS (default 5).
daemon_gone() {
	local pid n=$((${1:-5} * 20))
	pid=$(daemon_pid)
	for _ in $(seq "$n"); do
		if [ -z "$(daemon_pid)" ] && { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# daemon_pid: the running swupdated's PID, from the bus (empty when none owns the name).
daemon_pid() {
	busctl "$BUS" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
		GetConnectionUnixProcessID s io.swupdated.Updater1 2>/dev/null | awk '{ print $2 }' ||
		true
}

# make_pki DIR: a test CA, and a server and a device certificate for 127.0.0.1 signed by it
# (P-256, two days): DIR/ca.crt, DIR/{server,device}.{crt,key}.
make_pki() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test CA" \
		-keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null
	for name in server device; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
			-keyout "$1/$name.key" -out "$1/$name.csr" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1\n' >"$1/$name.ext"
		openssl x509 -req -in "$1/$name.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
			-days 2 -extfile "$1/$name.ext" -out "$1/$name.crt" 2>/dev/null
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nginx [SERVER-DIRECTIVES [HTTP-DIRECTIVES]]: serves $T/repo on 127.0.0.1:$PORT, logs to
# $T/access.log (HTTP-DIRECTIVES may add logs: a log_format is only allowed there); sets SERVER
# to the channel URL .../stable.
start_nginx() {
	PORT=$(free_port)
	mkdir -p "$T/repo" "$T/nginx-tmp"
	cat >"$T/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 64; }
http {
  access_log $T/access.log;
  ${2:-}
  client_body_temp_path $T/nginx-tmp;
  proxy_temp_path $T/nginx-tmp;
  fastcgi_temp_path $T/nginx-tmp;
  uwsgi_temp_path $T/nginx-tmp;
  scgi_temp_path $T/nginx-tmp;
  server {
    listen 127.0.0.1:$PORT;
    root $T/repo;
    ${1:-}
  }
}
CONF
	nginx -c "$T/nginx.conf" -e "$T/nginx-error.log"
	for _ in $(seq 50); do [ -f "$T/nginx.pid" ] && break; sleep 0.1; done
	SERVER="http://127.0.0.1:$PORT/stable"
}

# nginx_workers: the PIDs of the nginx master's worker processes, from /proc.
nginx_workers() {
	local master file stat fields
	read -r master <"$T/nginx.pid"
	for file in /proc/[0-9]*/stat; do
		read -r stat 2>/dev/null <"$file" || continue
		read -ra fields <<<"${stat##*) }" # after "PID (COMM) ": state, parent PID, ...
		[ "${fields[1]}" != "$master" ] || echo "${stat%% *}"
	done
}

# nginx_reloaded OLD-WORKERS: workers run, and none of OLD-WORKERS is among them any more.
nginx_reloaded() {
	local now
	now=$(nginx_workers)
	[ -n "$now" ] && [ -z "$(comm -12 <(sort <<<"$1") <(sort <<<"$now"))" ]
}

# nginx_reload: nginx reads $T/nginx.conf again; returns once workers with the new configuration
# serve (the old ones are gone), 1 after 10 s.
nginx_reload() {
	local old
	old=$(nginx_workers)
	nginx -c "$T/nginx.conf" -s reload
	wait_until 10 nginx_reloaded "$old"
}

# daemon_ready: the daemon answers a property read on the bus. Only the bus is needed: no
# cgroup filesystem (busctl status needs one, and chroots or package-build sandboxes have none).
daemon_ready() {
	busctl "$BUS" get-property io.swupdated.Updater1 /io/swupdated/Updater1 \
		io.swupdated.Updater1 Version >/dev/null 2>&1
}

# daemon_start CONFIG: starts swupdated (log in $T/daemon.log), sets DAEMON_PID, and waits
# until it answers on the bus; 1 (with the log's tail on stderr) when it does not.
daemon_start() {
	"$SWUPDATED" --config "$1" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=($DAEMON_PID)
	for _ in $(seq 100); do
		daemon_ready && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "swupdated did not come up:" >&2
	tail -n 20 "$T/daemon.log" >&2
	return 1
}

# sample_latency OUT: reads the State property every 0.1 s until the daemon is finished or
# verified (two minutes at most); writes "SLOWEST-READ-SECONDS READS SECONDS" into OUT.
sample_latency() {
	python3 - "$BUS" "$1" <<'PY'
import subprocess, sys, time
bus, out = sys.argv[1], sys.argv[2]
worst, reads, start = 0.0, 0, time.monotonic()
while time.monotonic() - start < 120:
    t0 = time.monotonic()
    state = subprocess.run(["busctl", bus, "get-property", "io.swupdated.Updater1",
                            "/io/swupdated/Updater1", "io.swupdated.Updater1", "State"],
                           capture_output=True, text=True, timeout=60).stdout.split()[-1].strip('"')
    worst = max(worst, time.monotonic() - t0)
    reads += 1
    if state in ("finished", "verified") and reads > 1:
        break
    time.sleep(0.1)
open(out, "w").write("%.3f %d %.1f\n" % (worst, reads, time.monotonic() - start))
PY
}
