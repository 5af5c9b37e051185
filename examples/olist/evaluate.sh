#!/usr/bin/env bash
# Train and evaluate leadq's predictive models on the Olist marketing funnel:
# weekly cut-offs, the label "won within 30 days", trained on earlier first
# contacts and tested on later ones. The last line of output is one JSON
# object with the held-out metrics of every model.
#
# Usage: examples/olist/evaluate.sh [DATA_DIR] [OUTPUT_DIR]
# DATA_DIR holds the files of "Marketing Funnel by Olist" (Kaggle, CC BY-NC-SA 4.0).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
data="$(cd "${1:-$root/../shared/data/olist-marketing-funnel}" && pwd)"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
cd "$root"
if [ ! -x .venv/bin/leadq ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[learn]"
fi

# Outcomes: every closed deal is a `won` outcome at its won_date.
.venv/bin/python - "$data" "$out/outcomes.csv" <<'PY'
import csv, sys
with open(f"{sys.argv[1]}/olist_closed_deals_dataset.csv", newline="") as deals, \
        open(sys.argv[2], "w", newline="") as outcomes:
    writer = csv.writer(outcomes)
    writer.writerow(["mql_id", "outcome", "at"])
    for row in csv.DictReader(deals):
        writer.writerow([row["mql_id"], "won", row["won_date"]])
PY

.venv/bin/leadq train "$data/olist_marketing_qualified_leads_dataset.csv" \
  --model examples/olist/model.yaml \
  --outcomes "$out/outcomes.csv" --timezone UTC \
  --created-column first_contact_date --missing-value unknown \
  --cutoff-start 2017-07-01 --cutoff-end 2018-05-31 --every 7 --horizon 30 \
  --test-from 2018-03-01 \
  --output "$out/artefact" --report "$out/report.html" --json
