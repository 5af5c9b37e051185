#!/usr/bin/env bash
# Train and evaluate leadq's predictive models on the X Education leads with
# 5-fold stratified cross-validation. Columns that the sales team fills in
# after contacting a lead contain the outcome and are excluded. The last line
# of output is one JSON object with the held-out metrics of every model.
#
# Usage: examples/x-education/evaluate.sh [LEADS_CSV] [OUTPUT_DIR]
# LEADS_CSV is Leads.csv of the "Lead Scoring Case Study" (UpGrad with IIIT
# Bangalore), for example from the GitHub repository
# Jaidip1994/Lead-Scoring-Assignment.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
leads="$(cd "$(dirname "${1:-$root/../shared/data/x-education/Leads.csv}")" && pwd)/$(basename "${1:-Leads.csv}")"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
cd "$root"
if [ ! -x .venv/bin/leadq ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[learn]"
fi

.venv/bin/leadq train "$leads" \
  --model examples/x-education/model.yaml \
  --label-column Converted --missing-value Select \
  --exclude Tags --exclude "Lead Quality" --exclude "Lead Profile" \
  --exclude "Asymmetrique Activity Index" --exclude "Asymmetrique Profile Index" \
  --exclude "Asymmetrique Activity Score" --exclude "Asymmetrique Profile Score" \
  --exclude "Last Notable Activity" \
  --folds 5 --output "$out/artefact" --report "$out/report.html" --json
