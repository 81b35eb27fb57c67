#!/bin/bash
# The Debian package as an admin meets it, run by tests/package.rs inside a throwaway root
# (an overlay of / in a private mount namespace, chrooted: nothing here touches the real
# machine). $1 and $2 are version N and N+1 of the package. Each step prints "step: …" and
# checks what it must; the first failure stops the script with its reason.
set -euo pipefail
deb1=$1 deb2=$2
fail() { echo "FAILED: $*" >&2; exit 1; }
step() { echo "step: $*"; }
as_tapir() { runuser -u tapir -- "$@"; }
state_sums() { (cd /var/lib/tapir && find vtape catalog -type f -print0 | sort -z | xargs -0 sha256sum); }

step "install $deb1"
dpkg -i "$deb1" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i $deb1"; }
[ -x /usr/bin/tapir ] || fail "/usr/bin/tapir missing"
[ -x /usr/lib/tapir/tapir-cron ] || fail "/usr/lib/tapir/tapir-cron missing"
getent passwd tapir | grep -q ':/var/lib/tapir:/bin/sh$' || fail "tapir user: $(getent passwd tapir)"
getent group tapir >/dev/null || fail "no tapir group"
for d in /var/lib/tapir /var/lib/tapir/vtape /var/lib/tapir/catalog; do
  [ "$(stat -c '%a %U:%G' "$d")" = "750 tapir:tapir" ] || fail "$d: $(stat -c '%a %U:%G' "$d")"
done
[ "$(stat -c '%a %U' /var/lib/tapir/keys)" = "700 tapir" ] || fail "keys: $(stat -c '%a %U' /var/lib/tapir/keys)"
grep -qx /etc/tapir/tapir.toml /var/lib/dpkg/info/tapir.conffiles || fail "tapir.toml is not a conffile"
for f in /etc/systemd/system/timers.target.wants/tapir.timer /etc/systemd/system/multi-user.target.wants/tapir.service; do
  [ ! -e "$f" ] || fail "$f: the package enabled a unit"
done

step "man pages and completions"
[ "$(man -w tapir)" = /usr/share/man/man8/tapir.8.gz ] || fail "man -w tapir: $(man -w tapir)"
[ "$(man -w 5 tapir.toml)" = /usr/share/man/man5/tapir.toml.5.gz ] || fail "man -w 5 tapir.toml"
MANPAGER=cat MANWIDTH=80 man tapir 2>/dev/null | grep -q 'tapir recover' || fail "man tapir does not render"
[ -s /usr/share/bash-completion/completions/tapir ] || fail "bash completion"

step "systemd-analyze verify"
out=$(systemd-analyze verify /lib/systemd/system/tapir.service /lib/systemd/system/tapir.timer 2>&1) \
  || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify says: $out"
grep -qx 'ExecStart=/usr/lib/tapir/tapir-cron --config /etc/tapir/tapir.toml' /lib/systemd/system/tapir.service \
  || fail "tapir.service does not run the installed wrapper"

step "before any setup, tapir check says what is missing"
set +e
said=$(cd /var/lib/tapir && as_tapir tapir check 2>&1)
code=$?
set -e
[ "$code" = 1 ] || fail "tapir check on a fresh install: exit $code: $said"
echo "$said" | grep -q '^FAIL  recipients: .*/etc/tapir/recipients.txt does not exist' \
  || fail "tapir check does not name recipients.txt: $said"
echo "$said" | grep -q '^WARN  config: .*the disklist has no DLEs' || fail "no warning of an empty disklist: $said"

step "configure /etc/tapir as an admin would"
mkdir -p /srv/data/sub
printf 'hello from the package test\n' > /srv/data/sub/file.txt
head -c 300000 /dev/urandom > /srv/data/noise.bin
chmod -R a+rX /srv/data
tapir keygen -o /var/lib/tapir/restore-key.txt > /etc/tapir/recipients.txt
chown tapir:tapir /var/lib/tapir/restore-key.txt
echo 'localhost  /srv/data  local-fast' >> /etc/tapir/disklist
sed -i 's/^tape_size = "20G"/tape_size = "1G"/' /etc/tapir/tapir.toml

step "tapir check, dump and recover as the tapir user"
cd /var/lib/tapir
as_tapir tapir check || fail "tapir check exit $?"
as_tapir tapir dump || fail "tapir dump exit $?"
as_tapir tapir recover --host localhost --disk /srv/data -i /var/lib/tapir/restore-key.txt \
  --to /var/lib/tapir/restore sub/file.txt || fail "tapir recover exit $?"
cmp /srv/data/sub/file.txt /var/lib/tapir/restore/sub/file.txt || fail "restored file differs"
[ ! -e /var/lib/tapir/restore/noise.bin ] || fail "recover of one file restored more"
ls /var/lib/tapir/vtape/slot1/ | grep -q '^00001\.localhost\._srv_data\.0$' || fail "no tape file: $(ls -R /var/lib/tapir/vtape)"

step "upgrade to $deb2 keeps the admin's edits and the state"
sed -i 's/^org = "Example"/org = "Edited by the admin"/' /etc/tapir/tapir.toml
before=$(state_sums)
uid=$(id -u tapir)
dpkg -i "$deb2" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i $deb2"; }
[ "$(dpkg-query -W -f '${Version}' tapir)" = "$(dpkg-deb -f "$deb2" Version)" ] || fail "not upgraded"
grep -qx 'org = "Edited by the admin"' /etc/tapir/tapir.toml || fail "the edit of tapir.toml was lost"
grep -qx 'localhost  /srv/data  local-fast' /etc/tapir/disklist || fail "the disklist edit was lost"
[ "$(state_sums)" = "$before" ] || fail "the upgrade changed tapes or catalog"
[ "$(id -u tapir)" = "$uid" ] || fail "the upgrade changed the tapir uid"

step "remove keeps config, user and state"
dpkg -r tapir >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -r"; }
[ ! -e /usr/bin/tapir ] || fail "/usr/bin/tapir still there after remove"
[ -f /etc/tapir/tapir.toml ] || fail "remove deleted the config"
getent passwd tapir >/dev/null || fail "remove deleted the user"
[ "$(state_sums)" = "$before" ] || fail "remove changed tapes or catalog"

step "purge removes config and user, keeps tapes and catalog"
dpkg -P tapir >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -P"; }
[ ! -e /etc/tapir/tapir.toml ] || fail "purge kept the conffile"
! getent passwd tapir >/dev/null || fail "purge kept the user"
[ "$(state_sums)" = "$before" ] || fail "purge changed tapes or catalog"
grep -q 'kept' /tmp/dpkg.log || fail "purge did not say the state is kept: $(cat /tmp/dpkg.log)"

step "reinstall after purge: the old uid comes back and the old tapes restore"
dpkg -i "$deb2" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i after purge"; }
[ "$(id -u tapir)" = "$uid" ] || fail "tapir has uid $(id -u tapir), the state $uid"
[ "$(state_sums)" = "$before" ] || fail "reinstall changed tapes or catalog"
cd /var/lib/tapir
as_tapir tapir recover --host localhost --disk /srv/data -i /var/lib/tapir/restore-key.txt \
  --to /var/lib/tapir/restore2 || fail "recover after reinstall exit $?"
cmp /srv/data/noise.bin /var/lib/tapir/restore2/noise.bin || fail "restored noise.bin differs"
echo "ALL STEPS PASSED"
