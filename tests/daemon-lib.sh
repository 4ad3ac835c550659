# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon under test, with real components started here and always cleaned up: a private
# dbus-daemon (with the shipped bus policy), nginx on 127.0.0.1 serving a `swu publish`
# repository, and swupdated on a simulated gateway (device-lib.sh).
. "${SRCDIR:-.}/tests/device-lib.sh"

for tool in dbus-daemon busctl nginx; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
PIDS=()
daemon_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap daemon_cleanup EXIT
chmod 755 "$T" # unprivileged callers reach the bus socket

start_bus() {
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
  <include>$SRCDIR/dbus/io.swupdated.Updater1.conf</include>
</busconfig>
CONF
	dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile &
	PIDS+=($!)
	for _ in $(seq 50); do [ -S "$T/bus.sock" ] && break; sleep 0.1; done
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus.sock"
	BUS="--address=$DBUS_SYSTEM_BUS_ADDRESS"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nginx [extra server directives]: serves $T/repo on 127.0.0.1:$PORT, logs to access.log.
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

# start_daemon [extra [Update] lines]: swupdated on the device with Server=$SERVER.
start_daemon() {
	sed -i "s|^Compatible=.*|Compatible=acme-gw-v2\nServer=$SERVER\nPollIntervalSec=3600\nPollJitterSec=0\nAutoInstall=${AUTO_INSTALL:-no}\nStagingDirectory=$DEV/staging\n[Network]\nRetries=3\nConnectTimeoutSec=5\nLowSpeedTimeoutSec=5|" "$DEV/swupdated.conf"
	launch_daemon
}

# launch_daemon: starts swupdated and waits until it owns its bus name.
launch_daemon() {
	"$SWUPDATED" --config "$DEV/swupdated.conf" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=($DAEMON_PID)
	for _ in $(seq 100); do
		busctl "$BUS" status io.swupdated.Updater1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "the daemon did not come up: $(tail "$T/daemon.log")"
	return 1
}

prop() { # prop NAME: the property's value, unquoted
	busctl "$BUS" get-property io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 "$1" |
		sed 's/^[a-z] //; s/^"//; s/"$//'
}

call() { # call METHOD [SIGNATURE ARGS...]
	busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 "$@"
}

# wait_state STATE [SECONDS]
wait_state() {
	local want=$1 n=$((${2:-30} * 10))
	for _ in $(seq "$n"); do
		[ "$(prop State)" = "$want" ] && return 0
		sleep 0.1
	done
	fail "state stayed '$(prop State)' instead of '$want' (note: $(prop Note))"
	return 1
}

# stop_daemon: SIGTERM, and the daemon must exit 0.
stop_daemon() {
	local rc=0
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || rc=$?
	expect_eq "daemon exit status after SIGTERM" "$rc" 0
}

# restart_daemon: after a simulated reboot the daemon reads the new boot ID and slot.
restart_daemon() {
	stop_daemon
	launch_daemon
}

ctl() {
	"$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}

publish() { # publish BUNDLE
	"$SWU" publish --bundle "$1" --dir "$T/repo/stable" >/dev/null
}

blob_requests() { # blob_requests HEX: how often nginx served that blob
	grep -c "GET /stable/blobs/$1 " "$T/access.log" || true
}

# start_fake_server MODE: tests/fake-server.py on 127.0.0.1 serving $T/repo; sets SERVER.
start_fake_server() {
	mkdir -p "$T/repo"
	rm -f "$T/fake.port"
	python3 "$SRCDIR/tests/fake-server.py" "$T/repo" "$T/fake.port" "$1" >"$T/fake.log" 2>&1 &
	FAKE_PID=$!
	PIDS+=($FAKE_PID)
	for _ in $(seq 50); do [ -s "$T/fake.port" ] && break; sleep 0.1; done
	SERVER="http://127.0.0.1:$(cat "$T/fake.port")/stable"
}

# fake_mode MODE: restarts the fake server on the same port... a new port: callers restart the daemon.
stop_fake_server() {
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
}

# use_server URL: points the daemon's configuration at another server (restart to apply).
use_server() {
	sed -i "s|^Server=.*|Server=$1|" "$DEV/swupdated.conf"
}
