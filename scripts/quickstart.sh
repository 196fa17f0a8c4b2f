#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, starts coffer-server on the
# embedded default (SQLite + local files) and walks through the main job:
#   1. create an account (the recovery key is written to demo/recovery-key.txt),
#   2. put a sample folder of photos and documents,
#   3. link a second device, approved by the first with a pairing code,
#   4. get the folder back on the second device and compare it byte for byte,
#   5. lose both devices and get everything back with the recovery key alone,
#   6. search the server's data directory for every name and marker: only ciphertext.
# The server is left running so you can try the CLI; the script prints how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DEMO="${COFFER_DEMO_DIR:-$ROOT/demo}"
PORT="${COFFER_PORT:-8750}"
export COFFER_PASSWORD="${COFFER_PASSWORD:-demo password, change me}"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing dependencies and building"
scripts/install-deps.sh
scripts/build.sh
COFFER="$ROOT/build/coffer"
SERVER="$ROOT/build/coffer-server"

if [ -f "$DEMO/server.pid" ] && kill -0 "$(cat "$DEMO/server.pid")" 2>/dev/null; then
  kill "$(cat "$DEMO/server.pid")"; sleep 1
fi
rm -rf "$DEMO"
mkdir -p "$DEMO"

say "Starting coffer-server on 127.0.0.1:$PORT (data in $DEMO/server-data)"
"$SERVER" --data "$DEMO/server-data" --listen "127.0.0.1:$PORT" >"$DEMO/server.log" 2>&1 &
echo $! >"$DEMO/server.pid"
for _ in $(seq 100); do grep -q "listening on" "$DEMO/server.log" && break; sleep 0.1; done
grep "listening on" "$DEMO/server.log" || { cat "$DEMO/server.log"; exit 1; }
URL="http://127.0.0.1:$PORT"

say "Making a sample folder of photos and documents"
python3 - "$DEMO/My Files" <<'PY'
import os, struct, sys, zlib, random
root = sys.argv[1]
os.makedirs(f"{root}/Photos/Holiday 2026", exist_ok=True)
os.makedirs(f"{root}/Documents/Taxes", exist_ok=True)
def png(path, w, h, seed):
    rnd = random.Random(seed)
    rows = b"".join(b"\0" + bytes((x * 255 // w, y * 255 // h, rnd.randrange(256)) * 1)[:3] * 1 for y in range(h) for x in [0])
    raw = b"".join(b"\0" + b"".join(bytes(((x + seed) % 256, (y * 3) % 256, (x * y) % 256)) for x in range(w)) for y in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)
for i, name in enumerate(["beach-sunset.png", "mountain-lake.png", "family-dinner.png"]):
    png(f"{root}/Photos/Holiday 2026/{name}", 640, 480, i)
open(f"{root}/Photos/Holiday 2026/camera-raw-IMG_0042.dng", "wb").write(os.urandom(3 << 20))
open(f"{root}/Documents/passport-scan-notes.txt", "w").write("Passport number X1234567, expires 2031-05-01\n")
open(f"{root}/Documents/Taxes/tax-return-2025.csv", "w").write("income,42000\ndeductions,3100\n")
open(f"{root}/Documents/empty-note.txt", "w").close()
os.makedirs(f"{root}/Documents/Empty folder", exist_ok=True)
PY
find "$DEMO/My Files" | sed "s|$DEMO/||"

LAPTOP=(--home "$DEMO/laptop" --server "$URL")
PHONE=(--home "$DEMO/phone" --server "$URL")

say "Creating an account on device 'laptop'"
"$COFFER" "${LAPTOP[@]}" account create --email demo@example.org --device-name laptop \
  --recovery-key-file "$DEMO/recovery-key.txt"

say "Putting the folder (encrypted and chunked on the laptop before it leaves)"
"$COFFER" "${LAPTOP[@]}" put "$DEMO/My Files" /
"$COFFER" "${LAPTOP[@]}" ls -l "/My Files/Photos/Holiday 2026"

say "Linking a second device 'phone': it shows a code, the laptop approves it"
"$COFFER" "${PHONE[@]}" --json device link --email demo@example.org --name phone >"$DEMO/link.out" 2>&1 &
LINK_PID=$!
CODE=""
for _ in $(seq 200); do
  CODE=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    try: print(json.loads(l).get("pairing_code","")); break
    except Exception: pass' "$DEMO/link.out" 2>/dev/null || true)
  [ -n "$CODE" ] && break; sleep 0.1
done
echo "phone shows pairing code: $CODE"
"$COFFER" "${LAPTOP[@]}" device approve "$CODE"
wait "$LINK_PID"
"$COFFER" "${LAPTOP[@]}" device list

say "Getting the folder back on the phone"
"$COFFER" "${PHONE[@]}" get "/My Files" "$DEMO/on-phone"
diff -r "$DEMO/My Files" "$DEMO/on-phone" && echo "identical: every byte, name and empty folder"

say "Losing both devices, then recovering with the recovery key alone"
rm -rf "$DEMO/laptop" "$DEMO/phone"
"$COFFER" --home "$DEMO/new-laptop" --server "$URL" recover --email demo@example.org \
  --recovery-key-file "$DEMO/recovery-key.txt" --name new-laptop
"$COFFER" --home "$DEMO/new-laptop" --server "$URL" get "/My Files" "$DEMO/recovered"
diff -r "$DEMO/My Files" "$DEMO/recovered" && echo "recovered everything"
"$COFFER" --home "$DEMO/new-laptop" --server "$URL" verify

say "What the server holds: searching $DEMO/server-data for names and contents"
kill -STOP "$(cat "$DEMO/server.pid")"  # a still moment for the search
found=0
for marker in "Holiday" "beach-sunset" "passport" "X1234567" "tax-return" "income,42000" "My Files" "laptop" "phone" "IHDR"; do
  if grep -rqa -- "$marker" "$DEMO/server-data"; then echo "FOUND '$marker' on the server"; found=1
  else echo "  '$marker': not on the server"; fi
done
kill -CONT "$(cat "$DEMO/server.pid")"
ls -R "$DEMO/server-data" | head -12
[ "$found" -eq 0 ] && echo "The server's data directory holds only ciphertext."

say "Your turn"
cat <<EOT
The server is still running (pid $(cat "$DEMO/server.pid")). Try the CLI as the recovered device:

  export COFFER_HOME="$DEMO/new-laptop" COFFER_SERVER="$URL" COFFER_PASSWORD="$COFFER_PASSWORD"
  $COFFER ls -l "/My Files/Documents"
  $COFFER versions "/My Files/Documents/passport-scan-notes.txt"
  $COFFER status

Stop the server with:  kill \$(cat "$DEMO/server.pid")
EOT
exit "$found"
