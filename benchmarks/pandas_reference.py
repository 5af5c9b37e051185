"""The built-in default model written directly in pandas, as an analyst would.

It serves as the baseline that the benchmark compares leadq with, and as an
independent check of leadq's scores: it shares no code with leadq, only the
free webmail list (data, read from leadq's package). Every rule of
leadq/model/default.yaml is written out by hand; change both together.

Semantics, as the model and the design describe them:
- events after the as-of time are ignored; of several rows with one event id,
  the earliest (then the first in the file) counts;
- an event at time t is worth points * 0.5 ** (age / half_life), where age is
  as_of - t in days, or the step factor of its age (the boundary day counts);
- `unique_by` keeps the earliest event per lead and day, week or property
  value (trimmed and lower-cased);
- `within_days` keeps events at most that many days old;
- caps apply per rule after decay, then section totals clamp to 0..100;
- a visit is a page view at least 30 minutes after the lead's previous one,
  or the first page view of the lead.
"""

from __future__ import annotations

import json
from importlib import resources
from operator import methodcaller

import numpy as np
import pandas as pd

TIME_ZONE = "UTC"
VISIT_GAP = pd.Timedelta(minutes=30)
ENGAGEMENT_HALF_LIFE_DAYS = 45.0
PRODUCT_HALF_LIFE_DAYS = 14.0
PROPERTIES = ("url", "asset", "form", "feature")

DECISION_MAKER = (
    r"(?i)\b(?:chief|ceo|cto|cfo|coo|cmo|cro|founder|owner|president|vp"
    r"|vice president|head)\b"
)
MANAGER = r"(?i)\b(?:director|manager|lead)\b"
TARGET_INDUSTRIES = {
    "software", "saas", "internet", "financial services", "healthcare", "e-commerce",
}  # fmt: skip
CORE_COUNTRIES = {
    "united states", "canada", "united kingdom", "germany", "france",
    "netherlands", "australia",
}  # fmt: skip
COMPETITORS = {"competitor.example", "rival.example"}
CONTACT_FORMS = {"contact", "contact_sales"}
KEY_FEATURES = {"integrations", "api", "automation", "reports"}
STAGES = ["disqualified", "pql", "sql", "mql", "unqualified"]


def free_email_domains() -> set[str]:
    text = (resources.files("leadq.model") / "lists" / "free_email.txt").read_text()
    lines = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return {line for line in lines if line}


def load(leads_path, events_path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the generated Parquet files; JSON properties become columns."""
    leads = pd.read_parquet(leads_path)
    events = pd.read_parquet(events_path)
    if "url" not in events.columns and "properties" in events.columns:
        parsed = events["properties"].map(
            lambda text: json.loads(text) if isinstance(text, str) else {}
        )
        for name in PROPERTIES:
            events[name] = parsed.map(methodcaller("get", name))
    return leads, events


def score(
    leads: pd.DataFrame, events: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Score every lead: fit, grade, engagement, product, total and stage.

    Returns one row per lead, indexed by the trimmed, lower-cased email, with
    a column of points per rule (named by rule id) after the section columns.
    """
    as_of = pd.Timestamp(as_of).tz_convert("UTC")
    leads = prepare_leads(leads)
    events = prepare_events(events, as_of)

    fit = fit_rules(leads)
    engagement = engagement_rules(events, leads.index, as_of)
    product = product_rules(events, leads.index, as_of)

    result = pd.DataFrame(index=leads.index)
    result["fit"] = fit.sum(axis=1).clip(0, 100)
    result["grade"] = grades(result["fit"])
    result["engagement"] = engagement.sum(axis=1).clip(0, 100)
    result["product"] = product.sum(axis=1).clip(0, 100)
    result["total"] = result["fit"] + result["engagement"] + result["product"]
    result["stage"] = stages(leads, events, result)
    return pd.concat([result, fit, engagement, product], axis=1)


# Inputs


def prepare_leads(leads: pd.DataFrame) -> pd.DataFrame:
    leads = leads.copy()
    leads["lead"] = leads["email"].str.strip().str.lower()
    # A repeated email keeps its last row, as an import would.
    return leads.drop_duplicates("lead", keep="last").set_index("lead")


def prepare_events(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    events = events.copy()
    events["row"] = np.arange(len(events))
    events["lead"] = events["email"].str.strip().str.lower()
    events["event"] = events["event"].str.strip()
    events = events[events["timestamp"] <= as_of]
    # Keep the earliest copy of each event id; the stable sort keeps file
    # order between copies with the same time.
    events = events.sort_values("timestamp", kind="stable")
    events = events.drop_duplicates("event_id", keep="first")

    local = events["timestamp"].dt.tz_convert(TIME_ZONE).dt.tz_localize(None)
    events["day"] = local.dt.floor("D")
    events["age_days"] = (as_of - events["timestamp"]) / pd.Timedelta(days=1)
    return events


def decayed(points: float, age_days: pd.Series, half_life_days: float) -> pd.Series:
    return points * 0.5 ** (age_days / half_life_days)


def per_lead(
    values: pd.Series, leads: pd.Series, cap: float | None = None
) -> pd.Series:
    """Sum values per lead, capped at `cap` (a floor for negative caps)."""
    total = values.groupby(leads).sum()
    if cap is not None and cap > 0:
        total = total.clip(upper=cap)
    elif cap is not None:
        total = total.clip(lower=cap)
    return total


def earliest_per(events: pd.DataFrame, key) -> pd.DataFrame:
    """Keep the earliest event of each lead and key (a column or a Series).

    Events without the key's value count as one more value, as in SQL GROUP
    BY; pandas' default (dropna=True) would give them no points.
    """
    # NOTE: the design does not say whether unique_by folds case or how it
    # treats a missing value. This reference folds case, as the model's text
    # tests do, and counts a missing value as one more value.
    firsts = events.groupby(["lead", key], dropna=False)["timestamp"].min()
    return firsts.reset_index()


# Fit


def fit_rules(leads: pd.DataFrame) -> pd.DataFrame:
    title = leads["title"].str.strip()
    industry = leads["industry"].str.strip().str.lower()
    employees = pd.to_numeric(leads["company_size"], errors="coerce")
    country = leads["country"].str.strip().str.lower()
    domain = leads["email"].str.strip().str.lower().str.partition("@")[2]

    rules = {
        "title_decision_maker": title.str.contains(DECISION_MAKER, na=False) * 25,
        "title_manager": title.str.contains(MANAGER, na=False) * 15,
        "title_student": title.str.lower().str.contains(
            "student", regex=False, na=False
        )
        * -20,
        "industry_target": industry.isin(TARGET_INDUSTRIES) * 15,
        "size_sweet_spot": employees.between(50, 5000) * 25,
        "size_enterprise": (employees >= 5001) * 15,
        "size_tiny": (employees <= 9) * -10,
        "country_core_market": country.isin(CORE_COUNTRIES) * 10,
        "free_email_address": domain.isin(free_email_domains()) * -15,
        "phone_missing": is_missing(leads["phone"]) * -5,
        "company_missing": is_missing(leads["company"]) * -10,
    }
    return pd.DataFrame(rules, index=leads.index).astype(float)


def folded(values: pd.Series) -> pd.Series:
    """Trim and lower-case text, as the model's text tests do; blank is missing."""
    text = values.str.strip().str.lower()
    return text.where(text != "")


def is_missing(values: pd.Series) -> pd.Series:
    return values.isna() | (values.str.strip() == "")


def grades(fit: pd.Series) -> pd.Series:
    letters = np.select([fit >= 75, fit >= 50, fit >= 25], ["A", "B", "C"], "D")
    return pd.Series(letters, index=fit.index)


# Engagement


def engagement_rules(
    events: pd.DataFrame, leads: pd.Index, as_of: pd.Timestamp
) -> pd.DataFrame:
    half_life = ENGAGEMENT_HALF_LIFE_DAYS
    name = events["event"]
    rules = {}

    visits = visit_starts(events)
    visits = visits[visits["age_days"] <= 90]
    rules["returning_visits"] = per_lead(
        decayed(2, visits["age_days"], half_life), visits["lead"], 12
    )

    url = events["url"].str.strip().str.lower()
    pricing = events[
        (name == "page_viewed") & url.str.contains("/pricing", regex=False, na=False)
    ]
    rules["pricing_page"] = unique_points(pricing, "day", 8, half_life, as_of, 24)

    rules["email_click"] = simple_rule(events, "email_clicked", 3, half_life, 15)
    opens = events[name == "email_opened"]
    week = opens["day"].dt.to_period("W-SUN")
    rules["email_open"] = unique_points(opens, week, 1, half_life, as_of, 5)
    downloads = events[name == "content_downloaded"]
    assets = folded(downloads["asset"])
    rules["content_download"] = unique_points(
        downloads, assets, 8, half_life, as_of, 24
    )
    rules["webinar_registered"] = simple_rule(
        events, "webinar_registered", 5, half_life, 10
    )
    rules["webinar_attended"] = simple_rule(
        events, "webinar_attended", 15, half_life, 30
    )

    form = events["form"].str.strip().str.lower()
    forms = name == "form_submitted"
    contact = events[forms & form.isin(CONTACT_FORMS)]
    other = events[forms & ~is_missing(events["form"]) & ~form.isin(CONTACT_FORMS)]
    rules["contact_form"] = per_lead(
        decayed(20, contact["age_days"], half_life), contact["lead"], 20
    )
    rules["other_forms"] = per_lead(
        decayed(5, other["age_days"], half_life), other["lead"], 10
    )

    rules["newsletter"] = simple_rule(events, "newsletter_subscribed", 3, half_life, 3)
    rules["content_shared"] = simple_rule(events, "content_shared", 4, half_life, 8)
    demos = events[name == "demo_requested"]
    factor = np.select(
        [demos["age_days"] >= 90, demos["age_days"] >= 30], [0.0, 0.5], 1.0
    )
    rules["demo_request"] = per_lead(
        pd.Series(30 * factor, index=demos.index), demos["lead"], 30
    )
    rules["meeting_booked"] = simple_rule(events, "meeting_booked", 25, half_life, 25)
    rules["pricing_request"] = simple_rule(
        events, "pricing_requested", 20, half_life, 20
    )
    rules["unsubscribed"] = simple_rule(events, "unsubscribed", -20, None, None)
    rules["email_bounced"] = simple_rule(events, "email_bounced", -10, None, -10)
    return rule_table(rules, leads)


def visit_starts(events: pd.DataFrame) -> pd.DataFrame:
    views = events[events["event"] == "page_viewed"]
    views = views.sort_values(["lead", "timestamp", "row"])
    gap = views.groupby("lead")["timestamp"].diff()
    return views[gap.isna() | (gap >= VISIT_GAP)]


def simple_rule(events, event, points, half_life, cap) -> pd.Series:
    matched = events[events["event"] == event]
    if half_life is None:
        values = pd.Series(float(points), index=matched.index)
    else:
        values = decayed(points, matched["age_days"], half_life)
    return per_lead(values, matched["lead"], cap)


def unique_points(events, key, points, half_life, as_of, cap) -> pd.Series:
    """Points for the earliest event per lead and key, decayed and capped."""
    firsts = earliest_per(events, key)
    age_days = (as_of - firsts["timestamp"]) / pd.Timedelta(days=1)
    return per_lead(decayed(points, age_days, half_life), firsts["lead"], cap)


def rule_table(rules: dict[str, pd.Series], leads: pd.Index) -> pd.DataFrame:
    """Align each rule's points per lead; a lead without events gets 0."""
    table = pd.DataFrame(
        {rule: points.reindex(leads) for rule, points in rules.items()}
    )
    return table.fillna(0.0)


# Product


def product_rules(
    events: pd.DataFrame, leads: pd.Index, as_of: pd.Timestamp
) -> pd.DataFrame:
    half_life = PRODUCT_HALF_LIFE_DAYS
    name = events["event"]
    rules = {}
    rules["trial_started"] = simple_rule(events, "trial_started", 10, None, 10)

    logins = events[(name == "logged_in") & (events["age_days"] <= 30)]
    rules["active_days"] = unique_points(logins, "day", 4, half_life, as_of, 40)

    feature = events["feature"].str.strip().str.lower()
    features = events[(name == "feature_activated") & feature.isin(KEY_FEATURES)]
    rules["key_features"] = unique_points(
        features, folded(features["feature"]), 10, half_life, as_of, 30
    )
    rules["teammates"] = simple_rule(events, "teammate_invited", 10, half_life, 30)
    return rule_table(rules, leads)


# Stages


def stages(
    leads: pd.DataFrame, events: pd.DataFrame, scores: pd.DataFrame
) -> pd.Series:
    domain = leads["email"].str.strip().str.lower().str.partition("@")[2]
    student = (
        leads["title"]
        .str.strip()
        .str.lower()
        .str.contains("student", regex=False, na=False)
    )
    opted_out = count_events(
        events, ["unsubscribed", "email_bounced"], None, scores.index
    )
    sales_requests = count_events(
        events,
        ["demo_requested", "meeting_booked", "pricing_requested"],
        30,
        scores.index,
    )

    grade = scores["grade"]
    conditions = [
        domain.isin(COMPETITORS) | student | (opted_out >= 1),
        (scores["product"] >= 40) & grade.isin(["A", "B", "C"]),
        grade.isin(["A", "B"]) & (sales_requests >= 1),
        (scores["total"] >= 80)
        | (grade.isin(["A", "B"]) & (scores["engagement"] >= 30)),
    ]
    chosen = np.select([c.to_numpy() for c in conditions], STAGES[:4], STAGES[4])
    return pd.Series(chosen, index=scores.index)


def count_events(events, names, within_days, leads: pd.Index) -> pd.Series:
    matched = events[events["event"].isin(names)]
    if within_days is not None:
        matched = matched[matched["age_days"] <= within_days]
    return matched.groupby("lead").size().reindex(leads, fill_value=0)
