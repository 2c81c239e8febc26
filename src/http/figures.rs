//! Figures and history: `GET /v1/metrics/timeliness`, `/v1/metrics/volumes`,
//! `/v1/audit/sample`, and `/v1/as-of` (the queue and timeliness as they stood then).

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, NaiveDate, Utc};
use events::schema::Agency;
use events::schema::{Channel, Outcome, SourceCode};
use projections::facts::ContactFacts;
use projections::figures::practice::Practice;
use projections::figures::timeliness::Timeliness;
use projections::figures::trends::Trends;
use projections::figures::volumes::Volumes;
use projections::locality::Localities;
use projections::model::{Queue, ReadModel};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::Caller;
use super::problem::{FigureReadErrors, LiveReadErrors};
use super::queue::require_current;
use super::state::AppState;
use crate::auth::{self, ReadKind};
use crate::validate::FieldError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(timeliness))
        .routes(routes!(volumes))
        .routes(routes!(practice))
        .routes(routes!(trends))
        .routes(routes!(audit_sample))
        .routes(routes!(as_of))
}

/// Whether a sampled contact's first decision and acceptance were recorded late.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleRecordedLate {
    pub decision: bool,
    pub acceptance: bool,
}

/// One contact of the audit sample.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleContact {
    pub contact_id: Ulid,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    pub source: SourceCode,
    #[schema(required = true)]
    pub outcome: Option<Outcome>,
    #[schema(required = true)]
    pub first_decision_at: Option<DateTime<Utc>>,
    #[schema(required = true, minimum = 1, maximum = 4)]
    pub level_of_need: Option<u8>,
    pub revisions: u32,
    pub closed: bool,
    pub recorded_late: SampleRecordedLate,
}

/// `200` from `GET /v1/audit/sample`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditSample {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub n: usize,
    pub seed: u64,
    /// Whether the sample was drawn only from the contacts recorded late.
    pub recorded_late: bool,
    /// In order of receipt.
    pub contacts: Vec<SampleContact>,
}

/// `200` from `GET /v1/as-of`: what the log held at a past moment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AsOf {
    /// The position folded up to.
    pub as_of_position: u64,
    /// The moment the queue and the figures are judged at: `at`, or the time the event at
    /// `position` was recorded.
    pub as_of_time: DateTime<Utc>,
    /// The duty queue as it stood then (overdue as it was then).
    pub queue: Queue<'static>,
    /// The contacts received in the 28 days up to `as_of_time`, undecided ones judged then.
    pub timeliness: Timeliness,
}

/// The contacts a figure counts: every one, or one locality's.
/// What a figure counts: the contacts of the locality asked for (all of them without one), and
/// the professional consultations of that locality.
struct Counted<'a> {
    facts: Box<dyn Iterator<Item = &'a ContactFacts> + 'a>,
    consultations: Vec<&'a projections::model::Consultation>,
}

/// The shared path of the figure endpoints: role, readiness, period and locality, then
/// `figures` over the live model's facts (of the locality asked for).
async fn period_figures<T>(
    app: &AppState,
    caller: &eventlog::Actor,
    q: &FiguresQuery,
    figures: impl FnOnce(Counted<'_>, NaiveDate, NaiveDate, Option<String>) -> T,
) -> Result<Json<T>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::Metrics) {
        return Err(ApiError::Forbidden(format!("a {} may not read the figures", caller.role)));
    }
    require_current(app).await?;
    let (from, to) = q.period().resolve()?;
    let localities = &app.config().localities;
    let locality = locality(localities, q.locality.as_deref())?;
    let model = app.live().model();
    let counted = Counted {
        facts: Box::new(localities.filter(model.facts(), locality)),
        consultations: localities.filter_consultations(model.consultations(Some(from), Some(to)), locality).collect(),
    };
    Ok(Json(figures(counted, from, to, locality.map(str::to_owned))))
}

/// The locality asked for by `?locality=` (`None`: every contact), one of the configured
/// localities, `other` or `unknown`; any other name is a 422 naming `locality`.
pub(crate) fn locality<'a>(localities: &'a Localities, asked: Option<&str>) -> Result<Option<&'a str>, ApiError> {
    let Some(asked) = asked else { return Ok(None) };
    localities.find(asked).map(Some).ok_or_else(|| {
        let names: Vec<&str> = localities.names().collect();
        let message = format!("must be one of the localities: {}", names.join(", "));
        ApiError::fields(format!("locality: {message}"), vec![FieldError::new("locality", message)])
    })
}

/// The query of the figure endpoints: a period by receipt and, optionally, a locality.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// First London date of receipt, YYYY-MM-DD, from 1900-01-01 to 9999-12-31 (default: 27
    /// days before `to`).
    #[param(format = Date)]
    from: Option<String>,
    /// Last London date of receipt, YYYY-MM-DD, inclusive, from 1900-01-01 to 9999-12-31
    /// (default: today).
    #[param(format = Date)]
    to: Option<String>,
    /// Count only the contacts of this locality (of the first child's postcode district): a
    /// configured locality's name, `other` (a district no locality lists) or `unknown` (no
    /// postcode). Any other name is a 422 naming `locality`. Default: every contact.
    locality: Option<String>,
}

impl FiguresQuery {
    fn period(&self) -> Period {
        Period { from: self.from.clone(), to: self.to.clone() }
    }
}

#[utoipa::path(
    get,
    path = "/v1/metrics/timeliness",
    tag = "figures",
    operation_id = "metrics_timeliness",
    summary = "Decision timeliness and time to the Assessment Team",
    description = "Contacts received in the period: decided within 24 hours, within one working day and within policy, each share over the decided contacts plus the undecided ones already past that share's own deadline at the moment asked (`judged_at`: now; `undecided_past_due`), decision hours (median, p90, max), decisions and acceptances recorded late (`recorded_late`: entered more than the late-entry window after they happened, or moved back by a correction), time to the Assessment Team for referrals (immediate and other apart), by ISO week. Definitions: docs/FIGURES.md.",
    params(FiguresQuery),
    responses(
        (status = 200, description = "The figures.", content_type = "application/json", body = Timeliness),
        FigureReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/metrics/timeliness?from=&to=` (dates, by receipt; definitions in docs/FIGURES.md)
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn timeliness(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<FiguresQuery>,
) -> Result<Json<Timeliness>, ApiError> {
    period_figures(&app, &caller, &q, |counted, from, to, locality| Timeliness {
        locality,
        ..projections::figures::timeliness(counted.facts, from, to, app.live().policy(), Utc::now())
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/metrics/volumes",
    tag = "figures",
    operation_id = "metrics_volumes",
    summary = "Weekly volumes",
    description = "Per ISO week and in total: contacts by channel, CIN source code and weekday, outcomes, referrals, conversion rate, the threshold met (`threshold_met_share`: referrals over decided contacts, `not_accepted` included), the level 3-4 share (`level_3_or_4_share`), re-contacts within 12 months; each week's and the period's outcomes, consent and conversion by referral source (`by_referral_source`); the period's contacts and outcomes by locality (`by_locality`: each configured locality, then `other` and `unknown`). With `locality`, only that locality's contacts are counted. Definitions: docs/FIGURES.md.",
    params(FiguresQuery),
    responses(
        (status = 200, description = "The figures.", content_type = "application/json", body = Volumes),
        FigureReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/metrics/volumes?from=&to=`
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn volumes(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<FiguresQuery>,
) -> Result<Json<Volumes>, ApiError> {
    period_figures(&app, &caller, &q, |counted, from, to, locality| Volumes {
        locality,
        ..projections::figures::volumes(counted.facts, counted.consultations, from, to, &app.config().localities)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/metrics/practice",
    tag = "figures",
    operation_id = "metrics_practice",
    summary = "Practice figures",
    description = "Consent recorded, referrer informed within one working day, decisions by level of need and outcome, action plans and their actions done on time, late or overdue (judged now), revised decisions. Definitions: docs/FIGURES.md.",
    params(FiguresQuery),
    responses(
        (status = 200, description = "The figures.", content_type = "application/json", body = Practice),
        FigureReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/metrics/practice?from=&to=`: consent, informing referrers, threshold consistency,
/// action plans, revised decisions.
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn practice(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<FiguresQuery>,
) -> Result<Json<Practice>, ApiError> {
    period_figures(&app, &caller, &q, |counted, from, to, locality| Practice {
        locality,
        ..projections::figures::practice(counted.facts, from, to, &app.live().policy().calendar, Utc::now())
    })
    .await
}

/// `GET /v1/metrics/trends`'s query: a period and, for roles other than a partner, an agency.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendsQuery {
    /// First London date of receipt, YYYY-MM-DD, from 1900-01-01 to 9999-12-31 (default: 27
    /// days before `to`).
    #[param(format = Date)]
    from: Option<String>,
    /// Last London date of receipt, YYYY-MM-DD, inclusive, from 1900-01-01 to 9999-12-31
    /// (default: today).
    #[param(format = Date)]
    to: Option<String>,
    /// The agency whose own sources `own` covers (`police`, `health`, `education`, ...). A
    /// partner always reads its own agency's; naming another is a 403.
    agency: Option<String>,
    /// Count only the contacts of this locality, as on the other figures (a configured
    /// locality, `other` or `unknown`; any other name is a 422). Counts from 1 to 4 stay
    /// suppressed within a locality.
    locality: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/metrics/trends",
    tag = "figures",
    operation_id = "metrics_trends",
    summary = "Trends partners may read",
    description = "Contacts, outcomes (decision in force) and concern categories by CIN referral source and ISO week, for the agency's own sources (`own`: a partner's own agency, or the `agency` asked for) and for every source (`overall`). No child-level data; every count from 1 to 4 is `null` (suppressed). Definitions: docs/FIGURES.md, \"Partner trends\".",
    params(TrendsQuery),
    responses(
        (status = 200, description = "The figures.", content_type = "application/json", body = Trends),
        FigureReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/metrics/trends?from=&to=&agency=`
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn trends(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<TrendsQuery>,
) -> Result<Json<Trends>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::Trends) {
        return Err(ApiError::Forbidden(format!("a {} may not read the trends", caller.role)));
    }
    let asked = q
        .agency
        .as_deref()
        .map(|a| a.parse::<Agency>().map_err(|_| ApiError::bad_param("agency", "must be an agency, e.g. police")))
        .transpose()?;
    let agency = if caller.role == eventlog::Role::Partner {
        if asked.is_some_and(|a| a != caller.agency) {
            return Err(ApiError::Forbidden("a partner reads its own agency's trends".into()));
        }
        Some(caller.agency)
    } else {
        asked
    };
    require_current(&app).await?;
    let (from, to) = Period { from: q.from, to: q.to }.resolve()?;
    let localities = &app.config().localities;
    let locality = locality(localities, q.locality.as_deref())?;
    let model = app.live().model();
    let trends = projections::figures::trends(localities.filter(model.facts(), locality), from, to, agency);
    Ok(Json(Trends { locality: locality.map(str::to_owned), ..trends }))
}

#[derive(Debug, Deserialize)]
pub struct SampleQuery {
    from: Option<String>,
    to: Option<String>,
    n: Option<String>,
    seed: Option<String>,
    recorded_late: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/audit/sample",
    tag = "figures",
    operation_id = "audit_sample",
    summary = "A reproducible case-audit sample",
    description = "A random sample of decided contacts received in the period: the same period, `n`, `seed` and `recorded_late` always draw the same contacts (SplitMix64 and Fisher-Yates, documented in docs/FIGURES.md). With `recorded_late=true`, only from the contacts whose first decision or acceptance by the Assessment Team was recorded late. The draw is recorded in the access log as one entry naming the contacts sampled, which each of their audit trails shows (`audit_sample`).",
    params(
        ("from" = Option<String>, Query, format = Date, description = "First London date of receipt, YYYY-MM-DD, from 1900-01-01 to 9999-12-31 (default: 27 days before `to`)."),
        ("to" = Option<String>, Query, format = Date, description = "Last London date of receipt, YYYY-MM-DD, inclusive, from 1900-01-01 to 9999-12-31 (default: today)."),
        ("n" = Option<u32>, Query, description = "How many contacts: 1 to 500, default 10."),
        ("seed" = u64, Query, description = "The seed of the draw (required)."),
        ("recorded_late" = Option<bool>, Query, description = "`true`: draw only from the contacts whose first decision or acceptance by the Assessment Team was recorded late (more than the late-entry window after it happened) or moved back by a correction; `false` (the default): from all decided contacts."),
    ),
    responses(
        (status = 200, description = "`{from, to, n, seed, recorded_late, contacts: [...]}`.", content_type = "application/json", body = AuditSample),
        LiveReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/audit/sample?from=&to=&n=&seed=`: a reproducible random sample of decided
/// contacts for case audit: the same seed always draws the same contacts.
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn audit_sample(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<SampleQuery>,
) -> Result<Json<AuditSample>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::AuditSample) {
        return Err(ApiError::Forbidden(format!("a {} may not draw audit samples", caller.role)));
    }
    require_current(&app).await?;
    let (from, to) = Period { from: q.from, to: q.to }.resolve()?;
    let n = match q.n.as_deref() {
        None => 10,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::bad_param("n", "must be 1 to 500"))?,
    };
    let seed = match q.seed.as_deref() {
        None => {
            return Err(ApiError::bad_param("seed", "give a seed (a whole number) so the sample can be drawn again"));
        }
        Some(v) => v.parse::<u64>().map_err(|_| ApiError::bad_param("seed", "must be a whole number"))?,
    };
    let only_late = match q.recorded_late.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_param("recorded_late", "must be true or false")),
    };
    let contacts = {
        let model = app.live().model();
        let policy = app.live().policy();
        let ids = projections::figures::audit_sample_of(model.facts(), from, to, n, seed, |f| {
            !only_late || projections::figures::timeliness::is_recorded_late(f, policy)
        });
        ids.iter()
            .filter_map(|id| model.contact_facts(*id))
            .map(|f| {
                let (decision, acceptance) = projections::figures::timeliness::recorded_late(f, policy);
                SampleContact {
                    contact_id: f.contact_id,
                    received_at: f.received_at,
                    channel: f.channel,
                    source: f.source,
                    outcome: f.outcome,
                    first_decision_at: f.first_decision_at,
                    level_of_need: f.level_of_need,
                    revisions: f.revisions,
                    closed: f.closed_at.is_some(),
                    recorded_late: SampleRecordedLate { decision, acceptance },
                }
            })
            .collect::<Vec<SampleContact>>()
    };
    // One access entry naming every contact sampled, indexed under each of them, so each
    // one's audit trail shows it was sampled; durable before the sample is sent.
    let sampled = contacts.iter().map(|c| c.contact_id).collect();
    app.front_door()
        .record_bulk_read(
            &caller,
            "audit_sample",
            "/v1/audit/sample",
            Utc::now(),
            eventlog::AccessScope::contacts(sampled),
        )
        .await?;
    Ok(Json(AuditSample { from, to, n, seed, recorded_late: only_late, contacts }))
}

/// A period by receipt date: `from` and `to` are London dates, inclusive.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// First London date of receipt, YYYY-MM-DD, from 1900-01-01 to 9999-12-31 (default: 27
    /// days before `to`).
    #[param(format = Date)]
    from: Option<String>,
    /// Last London date of receipt, YYYY-MM-DD, inclusive, from 1900-01-01 to 9999-12-31
    /// (default: today).
    #[param(format = Date)]
    to: Option<String>,
}

/// The first and last dates a period may name: far beyond any contact, and far enough from
/// the calendar's own ends (year −262143 to +262142) that no week or default-period
/// arithmetic can overflow.
pub(crate) const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date");
pub(crate) const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");

/// A date query parameter: `YYYY-MM-DD`, from [`FIRST_DATE`] to [`LAST_DATE`].
pub(crate) fn parse_date(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let date = raw.parse::<NaiveDate>().map_err(|_| ApiError::bad_param(field, "must be a date, YYYY-MM-DD"))?;
    if !(FIRST_DATE..=LAST_DATE).contains(&date) {
        return Err(ApiError::bad_param(field, format!("must be a date from {FIRST_DATE} to {LAST_DATE}")));
    }
    Ok(Some(date))
}

impl Period {
    /// The period asked for; without `from`, the 28 days up to `to`; without `to`, today.
    pub(crate) fn resolve(&self) -> Result<(NaiveDate, NaiveDate), ApiError> {
        let to = parse_date("to", self.to.as_deref())?.unwrap_or_else(|| projections::time::london_date(Utc::now()));
        let from = parse_date("from", self.from.as_deref())?.unwrap_or(to - chrono::Duration::days(27));
        if from > to {
            return Err(ApiError::bad_param("from", "must not be after `to`"));
        }
        if (to - from).num_days() > 3 * 366 {
            return Err(ApiError::bad_param("from", "a period is at most three years"));
        }
        Ok((from, to))
    }
}

#[derive(Debug, Deserialize)]
pub struct AsOfQuery {
    at: Option<String>,
    position: Option<String>,
}

/// Folds the log up to a position, or up to the last event recorded at or before a time.
/// Returns the model and the moment it describes.
fn fold_until(
    app: &AppState,
    position: Option<u64>,
    at: Option<DateTime<Utc>>,
) -> Result<(ReadModel, DateTime<Utc>), ApiError> {
    let head = app.log().head().position;
    let limit = position.unwrap_or(head).min(head);
    let mut model = ReadModel::default();
    let mut last_time = None;
    'pages: while model.position() < limit {
        let want = usize::try_from(limit - model.position()).unwrap_or(4096).min(4096);
        let page = app.log().read_all(model.position(), want)?;
        if page.is_empty() {
            break;
        }
        for env in &page {
            if at.is_some_and(|at| env.recorded_at > at) {
                break 'pages;
            }
            model.apply(env).map_err(ApiError::internal)?;
            last_time = Some(env.recorded_at);
        }
    }
    let moment = at.or(last_time).unwrap_or_else(Utc::now);
    Ok((model, moment))
}

#[utoipa::path(
    get,
    path = "/v1/as-of",
    tag = "figures",
    operation_id = "as_of",
    summary = "The queue and timeliness as they stood at a past moment",
    description = "Folds the log up to `position`, or up to the last event recorded at or before `at`, and answers with the duty queue as it stood then (overdue as it was then) and the timeliness of the 28 days before, its undecided contacts judged at that moment (`judged_at`). The read is recorded in the access log (`read_as_of`, the positions folded and the moment asked for).",
    params(
        ("at" = Option<String>, Query, format = DateTime, description = "An RFC 3339 timestamp."),
        ("position" = Option<u64>, Query, description = "A log position (give one of `at` and `position`)."),
    ),
    responses(
        (status = 200, description = "The queue and timeliness as they stood then.", content_type = "application/json", body = AsOf),
        LiveReadErrors,
    ),
    security(("bearer" = []))
)]
/// `GET /v1/as-of?at=<timestamp>` or `?position=<n>`: what the log held at that moment: the
/// duty queue (with overdue as it was then) and the timeliness of the 28 days before.
#[tracing::instrument(skip_all, fields(actor))]
pub(crate) async fn as_of(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<AsOfQuery>,
) -> Result<Json<AsOf>, ApiError> {
    if !auth::may_read(caller.role, ReadKind::AsOf) {
        return Err(ApiError::Forbidden(format!("a {} may not read past states", caller.role)));
    }
    require_current(&app).await?;
    let (position, at) = match (q.position.as_deref(), q.at.as_deref()) {
        (Some(_), Some(_)) => return Err(ApiError::bad_param("at", "give either `at` or `position`, not both")),
        (None, None) => return Err(ApiError::bad_param("at", "give `at` (a timestamp) or `position`")),
        (Some(p), None) => {
            (Some(p.parse::<u64>().map_err(|_| ApiError::bad_param("position", "must be a log position"))?), None)
        }
        (None, Some(a)) => {
            let at = DateTime::parse_from_rfc3339(a)
                .map_err(|_| ApiError::bad_param("at", "must be an RFC 3339 timestamp, e.g. 2026-03-02T10:15:00Z"))?
                .with_timezone(&Utc);
            (None, Some(at))
        }
    };
    let (model, moment) = tokio::task::block_in_place(|| fold_until(&app, position, at))?;
    // One access entry: the positions folded and the moment asked for.
    let scope = eventlog::AccessScope { as_of: at, ..eventlog::AccessScope::range(0, model.position()) };
    app.front_door().record_bulk_read(&caller, "read_as_of", "/v1/as-of", Utc::now(), scope).await?;
    let policy = app.live().policy();
    Ok(Json(AsOf {
        as_of_position: model.position(),
        as_of_time: moment,
        queue: Queue { as_of_position: model.position(), items: model.queue(policy, moment).into() },
        timeliness: timeliness_before(&model, moment, policy),
    }))
}

/// Timeliness of the contacts received in the 28 days up to `moment`, judged at `moment`.
fn timeliness_before(model: &ReadModel, moment: DateTime<Utc>, policy: &projections::time::DuePolicy) -> Timeliness {
    let to = projections::time::london_date(moment);
    let from = to.checked_sub_days(chrono::Days::new(27)).unwrap_or(NaiveDate::MIN);
    projections::figures::timeliness(model.facts(), from, to, policy, moment)
}
