#!/usr/bin/env bash
# Time the `make run` flow of one checkout, step by step, without `make install`
# (which would sync the shared venv): migrate, seed_demo --if-empty, then honcho until
# /accounts/login/ answers 200. Run two of these AT THE SAME TIME (old and new clone,
# different ports) so both see the same machine load; compare them, not absolute times.
#
#   demo/tools/measure_make_run.sh /tmp/mr_old 8621 /path/to/.venv > old.log 2>&1 &
#   demo/tools/measure_make_run.sh /tmp/mr_new 8622 /path/to/.venv > new.log 2>&1 &
#
# Each clone gets its own var/ (SQLite DB and broker). The server's process group is
# killed at the end.
set -euo pipefail
dir=$1 port=$2 venv=$3
cd "$dir"
ln -sfn "$venv" .venv
rm -rf var && mkdir -p var
unset DATABASE_URL REDIS_URL || true
now() { date +%s.%N; }
t0=$(now)
/usr/bin/time -f "migrate: wall %e s, user %U s, sys %S s, maxrss %M KB" \
  .venv/bin/python manage.py migrate --noinput > var/migrate.log
t1=$(now)
# Older checkouts' seed_demo has no --url: pass it only where their Makefile does.
url_arg=()
if grep -q -- "seed_demo --if-empty --url" Makefile; then url_arg=(--url "http://127.0.0.1:$port/"); fi
/usr/bin/time -f "seed: wall %e s, user %U s, sys %S s, maxrss %M KB" \
  .venv/bin/python manage.py seed_demo --if-empty "${url_arg[@]}" > var/seed.log
t2=$(now)
PUMPTRACK_HOST=127.0.0.1 PUMPTRACK_PORT=$port setsid .venv/bin/honcho start -f Procfile \
  > var/honcho.log 2>&1 &
honcho_pid=$!
trap 'kill -TERM -- -"$honcho_pid" 2>/dev/null || true' EXIT
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/accounts/login/")" = 200 ]; do
  sleep 0.2
done
t3=$(now)
grep -h "Demo clinic ready" var/seed.log || true
python3 - "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:])
print(f"migrate {t1 - t0:.1f} s, seed {t2 - t1:.1f} s, serve {t3 - t2:.1f} s, "
      f"start to first 200 of /accounts/login/ {t3 - t0:.1f} s")
PY
