#!/usr/bin/env bash
# Deploy the functions whose bundle changed. Reads the lines `mhi package` prints:
#   name <TAB> function id <TAB> runtime <TAB> entry point <TAB> content hash <TAB> folder
# A function is redeployed only when its `mhi-bundle` label differs from the bundle's hash.
# Only code changes here: size, triggers, service account and environment stay as terraform
# set them (gcloud keeps every setting a deploy does not name).
#
# Environment: PROJECT, REGION, ENV_ACRONYM (may be empty).
set -euo pipefail

manifest="${1:?usage: deploy_functions.sh BUNDLES.tsv}"
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}"
suffix="${ENV_ACRONYM:+-$ENV_ACRONYM}"
logs="$(mktemp -d)"
pids=()
names=()

deploy() {
  local fn="$1" runtime="$2" entry="$3" hash="$4" folder="$5"
  gcloud functions deploy "$fn" --gen2 --project="$PROJECT" --region="$REGION" \
    --source="$folder" --runtime="$runtime" --entry-point="$entry" \
    --update-labels="mhi-bundle=$hash" --quiet
}

while IFS=$'\t' read -r name base runtime entry hash folder; do
  [ -n "$name" ] || continue
  fn="$base$suffix"
  deployed="$(gcloud functions describe "$fn" --project="$PROJECT" --region="$REGION" \
    --format='value(labels.mhi-bundle)' 2>/dev/null || true)"
  if [ "$deployed" = "$hash" ]; then
    echo "$fn: unchanged ($hash)"
    continue
  fi
  echo "$fn: deploying bundle $hash (deployed: ${deployed:-none})"
  deploy "$fn" "$runtime" "$entry" "$hash" "$folder" >"$logs/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
done <"$manifest"

failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "${names[$i]}: deployed"
  else
    failed=1
    echo "${names[$i]}: FAILED" >&2
    cat "$logs/${names[$i]}.log" >&2
  fi
done
exit "$failed"
