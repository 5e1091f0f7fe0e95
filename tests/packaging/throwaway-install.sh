#!/bin/sh
# Install, run, upgrade, remove and purge the meet-rs .deb for real, in a
# throwaway root: this machine's own root filesystem as the lower layer of
# an overlay whose upper layer is a tmpfs, inside private mount and network
# namespaces. dpkg, useradd, the maintainer scripts and the daemons all run
# as on a real Debian host, yet every change (users, /etc/meet-rs, the dpkg
# database) disappears with the namespace, and the daemons' ports (80, 443,
# 5222, ...) are the namespace's own.
#
# Usage: throwaway-install.sh OLD.deb NEW.deb   (NEW = a later version)
# Prints "throwaway-install: OK" at the end; any failed check exits non-zero.
# Needs root (CAP_SYS_ADMIN for the namespaces and mounts), unshare, setpriv.
set -eu

if [ "${MEET_RS_THROWAWAY:-}" != inside ]; then
    old="$(realpath "$1")" new="$(realpath "$2")"
    # The mount point lives in this machine's /tmp; everything mounted on
    # it exists only inside the namespace, so only the empty folder is
    # left to remove afterwards.
    base="$(mktemp -d /tmp/meet-rs-throwaway.XXXXXX)"
    rc=0
    MEET_RS_THROWAWAY=inside MEET_RS_THROWAWAY_BASE="$base" \
        unshare --mount --net --propagation private sh "$(realpath "$0")" "$old" "$new" || rc=$?
    rmdir "$base"
    exit "$rc"
fi

OLD="$1" NEW="$2"
fail() { echo "throwaway-install: FAILED: $*" >&2; exit 1; }
step() { echo "== $*"; }

base="$MEET_RS_THROWAWAY_BASE"
mount -t tmpfs tmpfs "$base"
mkdir -p "$base/upper" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
R="$base/root"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
# A fresh /run: no systemd runs in here, and the maintainer scripts must
# notice (they enable units but start nothing).
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
cp "$OLD" "$R/tmp/old.deb"
cp "$NEW" "$R/tmp/new.deb"
ip link set lo up

in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C "$@"; }
as_user() { user="$1"; shift; in_root setpriv --reuid "$user" --regid "$user" --init-groups "$@"; }
mode_of() { in_root stat -c '%a %U:%G' "$1"; }
expect_mode() {
    got="$(mode_of "$1")"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}

step "install $(basename "$OLD") (domain from /etc/meet-rs/domain)"
if in_root dpkg -s meet-rs >/dev/null 2>&1; then fail "meet-rs is installed on this machine already"; fi
mkdir -p "$R/etc/meet-rs"
echo meet.test > "$R/etc/meet-rs/domain"
in_root dpkg -i /tmp/old.deb || fail "dpkg -i"
in_root dpkg -s meet-rs | grep -q '^Status: install ok installed' || fail "not installed"

step "users, folders, modes"
for u in meet-xmpp meet-focus meet-jvb meet-web; do
    in_root getent passwd "$u" >/dev/null || fail "no user $u"
done
expect_mode /etc/meet-rs/xmpp-server.toml "640 root:meet-xmpp"
expect_mode /etc/meet-rs/focus.toml "640 root:meet-focus"
expect_mode /etc/meet-rs/videobridge.toml "640 root:meet-jvb"
expect_mode /etc/meet-rs/web.toml "644 root:root"
expect_mode /etc/meet-rs/certs/meet.test.key "640 root:meet-web"
expect_mode /etc/meet-rs/certs/meet-rs-ca.key "600 root:root"
expect_mode /var/lib/meet-rs/xmpp-server "750 meet-xmpp:meet-xmpp"
expect_mode /var/lib/meet-rs/xmpp-server/accounts.sqlite "644 meet-xmpp:meet-xmpp"
expect_mode /var/lib/meet-rs/xmpp-server/auth.meet.test.key "600 meet-xmpp:meet-xmpp"
grep -q 'domain = "meet.test"' "$R/etc/meet-rs/web.toml" || fail "web.toml domain"

step "units enabled (no systemd running: none started)"
for u in meet-rs-xmpp-server.service meet-rs-focus.service meet-rs-videobridge.service meet-rs-web.service; do
    [ -L "$R/etc/systemd/system/meet-rs.target.wants/$u" ] || fail "$u not enabled"
done
[ -L "$R/etc/systemd/system/multi-user.target.wants/meet-rs.target" ] || fail "meet-rs.target not enabled"

step "each daemon user reads its own config, and no other daemon's secrets"
as_user meet-xmpp xmpp-server --config /etc/meet-rs/xmpp-server.toml check-config
as_user meet-focus focus --config /etc/meet-rs/focus.toml check-config
as_user meet-jvb videobridge --config /etc/meet-rs/videobridge.toml check-config
as_user meet-web meet-web --config /etc/meet-rs/web.toml check-config
if as_user meet-focus cat /etc/meet-rs/xmpp-server.toml >/dev/null 2>&1; then fail "meet-focus reads xmpp-server.toml"; fi
if as_user meet-web cat /etc/meet-rs/focus.toml >/dev/null 2>&1; then fail "meet-web reads focus.toml"; fi
if as_user meet-jvb cat /etc/meet-rs/certs/meet.test.key >/dev/null 2>&1; then fail "meet-jvb reads the web key"; fi

step "run the installed stack as the units do (users, meet-web's one capability)"
# Started without a wrapper function, so $! is the daemon itself (chroot,
# env and setpriv exec into it) and can be stopped by its pid.
ENV="/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C"
pids=""
start_as() {
    log="$1" user="$2"; shift 2
    # shellcheck disable=SC2086
    chroot "$R" $ENV setpriv --reuid "$user" --regid "$user" --init-groups "$@" >"$base/$log.log" 2>&1 &
    pids="$pids $!"
}
start_as xmpp meet-xmpp xmpp-server --config /etc/meet-rs/xmpp-server.toml
start_as jvb meet-jvb videobridge --config /etc/meet-rs/videobridge.toml
start_as focus meet-focus focus --config /etc/meet-rs/focus.toml
start_as web meet-web --inh-caps +net_bind_service --ambient-caps +net_bind_service \
    meet-web --config /etc/meet-rs/web.toml
healthy=no
for _ in $(seq 1 120); do
    if in_root meetctl status >"$base/status.txt" 2>&1; then healthy=yes; break; fi
    sleep 0.5
done
cat "$base/status.txt"
stop_all() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
}
if [ "$healthy" != yes ]; then
    stop_all
    for f in xmpp jvb focus web; do echo "--- $f log"; tail -n 20 "$base/$f.log"; done
    fail "the installed stack is not healthy"
fi
# Stopped before dpkg removes the binaries they run.
stop_all

step "upgrade to $(basename "$NEW") keeps an edited config and the secrets"
secret_before="$(grep '^secret' "$R/etc/meet-rs/focus.toml")"
sed -i 's/^enable_health_checks = true/enable_health_checks = false # edited by the operator/' "$R/etc/meet-rs/focus.toml"
in_root dpkg -i /tmp/new.deb || fail "upgrade"
grep -q '^enable_health_checks = false # edited by the operator' "$R/etc/meet-rs/focus.toml" || fail "edit lost on upgrade"
[ "$(grep '^secret' "$R/etc/meet-rs/focus.toml")" = "$secret_before" ] || fail "secret changed on upgrade"
expect_mode /etc/meet-rs/focus.toml "640 root:meet-focus"
in_root dpkg -s meet-rs | grep -q "^Version: $(dpkg-deb -f "$NEW" Version)" || fail "not upgraded"

step "remove: binaries go, configs, data and users stay"
in_root dpkg -r meet-rs || fail "dpkg -r"
[ ! -e "$R/usr/bin/xmpp-server" ] || fail "binary left after remove"
[ ! -e "$R/usr/lib/systemd/system/meet-rs.target" ] || fail "unit left after remove"
[ -f "$R/etc/meet-rs/focus.toml" ] || fail "config removed by remove"
[ -f "$R/var/lib/meet-rs/xmpp-server/accounts.sqlite" ] || fail "data removed by remove"
in_root getent passwd meet-xmpp >/dev/null || fail "user removed by remove"

step "purge: configs, data, users and unit state go"
in_root dpkg -P meet-rs || fail "dpkg -P"
[ ! -e "$R/etc/meet-rs" ] || fail "/etc/meet-rs left after purge"
[ ! -e "$R/var/lib/meet-rs" ] || fail "/var/lib/meet-rs left after purge"
for u in meet-xmpp meet-focus meet-jvb meet-web; do
    if in_root getent passwd "$u" >/dev/null; then fail "user $u left after purge"; fi
    if in_root getent group "$u" >/dev/null; then fail "group $u left after purge"; fi
done
[ ! -e "$R/etc/systemd/system/meet-rs.target.wants" ] || fail "unit links left after purge"
[ ! -e "$R/etc/systemd/system/multi-user.target.wants/meet-rs.target" ] || fail "target link left after purge"
if in_root dpkg -s meet-rs >/dev/null 2>&1; then fail "dpkg still knows meet-rs"; fi

echo "throwaway-install: OK"
