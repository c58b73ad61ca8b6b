#!/usr/bin/env bash
# The main job: build, start a local Postfix + Dovecot, send one
# authenticated message over STARTTLS with the Rust API, print the SMTP
# transcript and the message as delivered, then stop the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/testbed/install.sh
cargo build --quiet -p smtp-core --example send

bed=$(mktemp -d "${TMPDIR:-/tmp}/smtp-demo.XXXXXX")
trap 'bash tests/testbed/stop.sh "$bed" >/dev/null 2>&1 || true' EXIT
bash tests/testbed/start.sh "$bed" >/dev/null
# shellcheck disable=SC1091
source "$bed/testbed.env"

# The user name and password go into the URL percent-encoded.
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
url="smtp://$(enc "$SMTP_TESTBED_USER"):$(enc "$SMTP_TESTBED_PASSWORD")@localhost:$SMTP_TESTBED_PORT_SUBMISSION"
marker="demo-$$-$(date +%s)"

echo "== SMTP transcript (STARTTLS on port $SMTP_TESTBED_PORT_SUBMISSION, CA $SMTP_TESTBED_CA_FILE)"
SMTP_URL="$url" SMTP_CA_FILE="$SMTP_TESTBED_CA_FILE" \
  target/debug/examples/send "sender@$SMTP_TESTBED_DOMAIN" "someone@$SMTP_TESTBED_DOMAIN" \
  "Hello from smtp-core ($marker)" "This message went through STARTTLS and SMTP AUTH."

echo
echo "== delivered message"
for _ in $(seq 1 100); do
  file=$(grep -rl "$marker" "$SMTP_TESTBED_MAILDIR/new" 2>/dev/null | head -n 1 || true)
  [ -n "$file" ] && break
  sleep 0.1
done
if [ -z "${file:-}" ]; then
  echo "the message did not arrive; Postfix log tail:" >&2
  tail -n 20 "$SMTP_TESTBED_LOG" >&2
  exit 1
fi
cat "$file"
