#!/bin/sh
# Builds the Secrets Manager secret gatebot reads (GATEBOT_SECRET_ARN:
# {"webhook_secret", "app_id", "private_key"}) from the app.json that
# GitHub's manifest flow returns (infra/README.md, section 1):
#
#   scripts/secret-json.sh app.json > secret.json
#
# It is the documented one-liner
#
#   jq '{webhook_secret, app_id: (.id | tostring), private_key: .pem}' app.json > secret.json
#
# plus a refusal (exit 1, nothing written) when app.json lacks the App id,
# its private key or its webhook secret. Needs jq (Debian: apt-get install jq).
# tests/infra.rs runs it on tests/fixtures/manifest/app.json.
set -eu

if ! command -v jq >/dev/null 2>&1; then
    echo "secret-json.sh: jq is required (Debian: apt-get install jq)" >&2
    exit 127
fi
if [ "$#" -ne 1 ]; then
    echo "usage: scripts/secret-json.sh app.json > secret.json" >&2
    exit 2
fi

jq -e '{webhook_secret, app_id: (.id | tostring), private_key: .pem}
  | select((.webhook_secret | type) == "string" and .webhook_secret != ""
           and (.app_id | test("^[1-9][0-9]*$"))
           and (.private_key | type) == "string" and (.private_key | test("-----BEGIN [A-Z ]*PRIVATE KEY-----")))' "$1" || {
    echo "secret-json.sh: $1 lacks the App's id, pem or webhook_secret (is it the answer of POST /app-manifests/{code}/conversions?)" >&2
    exit 1
}
