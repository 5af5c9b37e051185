"""The service's tables, as SQLAlchemy Core metadata.

One schema serves SQLite and PostgreSQL; Alembic migrations in
`leadq/store/migrations` create and change it. Times are int64
microseconds since the epoch (UTC), the unit the compiled query compares.
JSON documents (attributes, properties, payloads) are stored as text, so
both databases read and write them the same way. The service also creates
tables of bound event columns, one per model layout, outside the
migrations (leadq.service.event_bindings).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# Tables whose columns a model decides, created by the service at run time.
BINDING_TABLE_PREFIX = "event_bindings_"


def migrated(name: str | None, type_: str, parent_names: dict) -> bool:
    """Return whether the migrations own a name, as Alembic's include_name: all but binding tables."""
    return not (type_ == "table" and name is not None and name.startswith(BINDING_TABLE_PREFIX))


def _id() -> Column:
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


def _lead_ref(nullable: bool = False) -> Column:
    return Column("lead_id", BigInteger, ForeignKey("leads.id"), nullable=nullable, index=True)


model_versions = Table(
    "model_versions",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("body", Text, nullable=False),
    # SHA-256 of `body`, in hex.
    Column("digest", String(64), nullable=False),
    # SHA-256 of the predictive artefact's model.joblib when the version was
    # stored; NULL without a `predictive` section and in older rows.
    Column("artefact_sha256", String(64)),
    Column("created_at", BigInteger, nullable=False),
    Column("activated_at", BigInteger),
    Column("is_active", Boolean, nullable=False, default=False),
)

accounts = Table(
    "accounts",
    metadata,
    _id(),
    Column("group_id", Text, nullable=False, unique=True),
    Column("traits", Text, nullable=False, default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# A lead's current scores and stage live on its row, so lists and filters
# read one table; `stage_history` and `score_snapshots` keep the past.
leads = Table(
    "leads",
    metadata,
    _id(),
    Column("lead_key", Text, nullable=False, unique=True),
    Column("email", Text, index=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id")),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False, index=True),
    # Set when the lead was merged into another: its id resolves there.
    Column("merged_into", BigInteger, ForeignKey("leads.id")),
    Column("stage", Text, index=True),
    Column("stage_rule", Text),
    Column("stage_since", BigInteger),
    Column("fit", Float),
    Column("engagement", Float),
    Column("product", Float),
    Column("total", Float, index=True),
    Column("grade", Text, index=True),
    Column("reasons", Text),
    Column("scored_at", BigInteger),
    Column("model_version_id", BigInteger, ForeignKey("model_versions.id")),
    # Recycling sets a baseline: events at or before it never count again.
    # It decides the events whose `excluded_by_recycle` is NULL.
    Column("baseline_at", BigInteger),
    # Stages already fired for this lead since its last recycle (JSON list),
    # so a threshold crossed again after a dip fires nothing.
    Column("reached", Text, nullable=False, default="[]"),
    # JSON object: attribute name -> event time of its value in `attributes`.
    # An attribute without one (NULL in rows stored before leadq recorded
    # times) yields to any trait that has a time (leadq.service.traits).
    Column("attribute_times", Text),
    # Event time of the group call that put the lead in its account; NULL
    # for a lead put there before leadq recorded it (leadq.service.groups).
    Column("account_at", BigInteger),
    # Time of the lead's earliest event after the clock when it was noted:
    # a rescore as of then counts that event (leadq.service.future_events).
    Column("rescore_at", BigInteger),
    # SQLite would otherwise give a new lead the id of an erased one.
    sqlite_autoincrement=True,
)
# Few leads have an event ahead of the clock. The partial index contains
# only them, so updates of the other leads add no entry to it.
Index(
    "ix_leads_rescore_at",
    leads.c.rescore_at,
    postgresql_where=leads.c.rescore_at.is_not(None),
    sqlite_where=leads.c.rescore_at.is_not(None),
)
# The leads list's default order (leadq.service.lead_listing), so PostgreSQL
# reads a page from the index instead of sorting every lead. Migration 0005
# leaves out NULLS LAST on SQLite, which sorts NULL last when descending.
Index(
    "ix_leads_total_desc_id_desc",
    leads.c.total.desc().nulls_last(),
    leads.c.id.desc(),
)

identities = Table(
    "identities",
    metadata,
    _id(),
    Column("kind", String(16), nullable=False),
    Column("value", Text, nullable=False),
    _lead_ref(nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("kind", "value"),
)

# Traits of identify calls that carried only an anonymous id, one row per
# message, until a call links the anonymous id to a lead and the lead takes
# them (leadq.service.traits). `ts` is the message's event time.
visitor_traits = Table(
    "visitor_traits",
    metadata,
    _id(),
    Column("message_id", Text, nullable=False, unique=True),
    Column("anonymous_id", Text, nullable=False, index=True),
    Column("traits", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

# Group calls that carried only an anonymous id, one row per message,
# until a call links the anonymous id to a lead and the lead joins the
# account (leadq.service.groups). `ts` is the message's event time.
visitor_groups = Table(
    "visitor_groups",
    metadata,
    _id(),
    Column("message_id", Text, nullable=False, unique=True),
    Column("anonymous_id", Text, nullable=False, index=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

# Message ids of applied identify and group calls, so that a retried call
# changes nothing (leadq.service.ingest). Events keep theirs in `events`.
applied_calls = Table(
    "applied_calls",
    metadata,
    _id(),
    Column("message_id", Text, nullable=False, unique=True),
    Column("received_at", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    _id(),
    Column("message_id", Text, nullable=False, unique=True),
    _lead_ref(nullable=True),
    Column("anonymous_id", Text, index=True),
    Column("event_name", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("properties", Text, nullable=False, default="{}"),
    Column("source", String(16), nullable=False),
    # Set by a merge on the merged lead's events: TRUE when a recycle of
    # that lead left the event out, FALSE when none did. With NULL, the
    # `baseline_at` of the event's lead decides (leadq.service.recycle_baselines).
    Column("excluded_by_recycle", Boolean),
)

stage_history = Table(
    "stage_history",
    metadata,
    _id(),
    _lead_ref(),
    Column("at", BigInteger, nullable=False),
    Column("old_stage", Text),
    Column("new_stage", Text, nullable=False),
    Column("rule", Text),
    Column("model_version_id", BigInteger, ForeignKey("model_versions.id")),
    Column("cause", String(16), nullable=False),
    Column("reason", Text),
    # The qualification whose recording caused the change, if one did.
    Column("qualification_id", BigInteger, ForeignKey("qualifications.id")),
    # The `predictive` probability when the rescore changed the stage; NULL
    # without a predictive section and for changes made by hand.
    Column("probability", Float),
)

# One qualification conversation per row, never updated: a new conversation
# adds a row. The latest one with a result of passed or failed counts.
qualifications = Table(
    "qualifications",
    metadata,
    _id(),
    _lead_ref(),
    Column("framework", Text, nullable=False),
    Column("framework_version", Text, nullable=False),
    # JSON: criterion id -> {"value": ..., "note": ...}; a null value is unknown.
    Column("answers", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("result", String(16), nullable=False),
    # JSON list of sentences that explain the result.
    Column("reasons", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("model_version_id", BigInteger, ForeignKey("model_versions.id")),
    Index("ix_qualifications_lead_framework_at", "lead_id", "framework", "at"),
)

score_snapshots = Table(
    "score_snapshots",
    metadata,
    _id(),
    _lead_ref(),
    Column("at", BigInteger, nullable=False),
    Column("fit", Float, nullable=False),
    Column("engagement", Float, nullable=False),
    Column("product", Float, nullable=False),
    Column("total", Float, nullable=False),
    Column("grade", Text),
    Column("stage", Text, nullable=False),
    Column("model_version_id", BigInteger, ForeignKey("model_versions.id")),
    # The `predictive` probability as of `at`; NULL without a predictive section.
    Column("probability", Float),
)

outcomes = Table(
    "outcomes",
    metadata,
    _id(),
    _lead_ref(),
    Column("outcome", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("value", Float),
    Column("source", String(16), nullable=False),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    _id(),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("event_types", Text, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", BigInteger, nullable=False),
    # When the subscription was deleted; NULL while it is active, and for
    # one deleted before leadq recorded the time.
    Column("deleted_at", BigInteger),
)

# One row per webhook to send: a lead event for one subscription. It is
# written in the transaction that changed the lead, so neither is lost.
outbox = Table(
    "outbox",
    metadata,
    _id(),
    Column("subscription_id", BigInteger, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("delivery_id", String(36), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    _id(),
    Column("outbox_id", BigInteger, ForeignKey("outbox.id"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    Column("kind", String(8), nullable=False),
    Column("name", Text, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

# A privacy erasure: when, which internal id and how many rows of each kind
# were removed. No email, key or attribute of the erased lead stays behind.
# Each lead merged into the erased lead gets a row too, so that its id is
# known as erased. Such a row names the erased lead in `survivor_id` and
# has zero counts.
erasures = Table(
    "erasures",
    metadata,
    _id(),
    Column("at", BigInteger, nullable=False),
    Column("lead_id", BigInteger, nullable=False, index=True),
    Column("survivor_id", BigInteger),
    Column("events_removed", Integer, nullable=False),
    Column("identities_removed", Integer, nullable=False),
    # The erased lead and the leads merged into it.
    Column("leads_removed", Integer, nullable=False, server_default="0"),
    Column("stage_changes_removed", Integer, nullable=False, server_default="0"),
    Column("score_snapshots_removed", Integer, nullable=False, server_default="0"),
    Column("outcomes_removed", Integer, nullable=False, server_default="0"),
    Column("qualifications_removed", Integer, nullable=False, server_default="0"),
    # Pending webhooks are deleted. Sent or failed ones get a redacted payload.
    Column("webhooks_removed", Integer, nullable=False, server_default="0"),
    Column("webhooks_redacted", Integer, nullable=False, server_default="0"),
)

# People who sign in to the dashboard. `password_hash` is an scrypt hash in
# the `scrypt$n$r$p$salt$hash` form of leadq.dashboard.passwords.
users = Table(
    "users",
    metadata,
    _id(),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Signed-in dashboard sessions. The cookie contains a random token and the
# store keeps only its SHA-256 hash, so a copy of the database cannot be
# used to sign in.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    _id(),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
