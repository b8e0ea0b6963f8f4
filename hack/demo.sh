#!/usr/bin/env bash
# kiln's first run, end to end (`make demo` runs `make deps build` first):
#   1. kiln build a sample app with no --builder: the first time this makes
#      kiln's default builder in the local store (the debian-bookworm stack
#      with mmdebstrap, then kiln's buildpacks) and reuses it afterwards;
#   2. kiln run the app in the background, on the host network;
#   3. curl it on $PORT and print the answer;
#   4. stop it.
#
# Environment: KILN (default bin/kiln), SAMPLE (a directory; default the
# first of samples/go, samples/static, samples/python, samples/node),
# PORT (default 8080), IMAGE (default kiln-demo/app).
set -euo pipefail

cd "$(dirname "$0")/.."
KILN=${KILN:-bin/kiln}
PORT=${PORT:-8080}
IMAGE=${IMAGE:-kiln-demo/app}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

[ -x "$KILN" ] || die "$KILN is missing: run make build (or make demo) first"
command -v curl >/dev/null || die 'curl is missing: run make deps (or apt-get install curl)'

if [ -z "${SAMPLE:-}" ]; then
  for s in samples/go samples/static samples/python samples/node; do
    if [ -d "$s" ]; then SAMPLE=$s; break; fi
  done
fi
[ -n "${SAMPLE:-}" ] && [ -d "$SAMPLE" ] || die "no sample app found under samples/ (set SAMPLE=DIR)"

# kiln run uses the host network: the port must be free.
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
  die "something already answers on port $PORT; stop it or set PORT"
fi

step "kiln build $IMAGE --path $SAMPLE   (no --builder: kiln's default builder)"
"$KILN" build "$IMAGE" --path "$SAMPLE"

step "kiln images"
"$KILN" images

step "kiln run -e PORT=$PORT $IMAGE   (in the background)"
log=$(mktemp /tmp/kiln-demo-run.XXXXXX)
"$KILN" run -e "PORT=$PORT" "$IMAGE" >"$log" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop EXIT

answer=""
for _ in $(seq 120); do
  if answer=$(curl -fsS --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null); then
    break
  fi
  answer=""
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "the app exited before answering on port $PORT"; }
  sleep 0.5
done
if [ -z "$answer" ]; then
  cat "$log" >&2
  die "no answer on port $PORT after 60 seconds"
fi

step "curl http://127.0.0.1:$PORT/"
printf '%s\n' "$answer"

step "stopping the app"
stop
trap - EXIT
printf '\ndemo: done. Try: %s run %s, %s images, %s stack build stacks/debian-bookworm\n' "$KILN" "$IMAGE" "$KILN" "$KILN"
