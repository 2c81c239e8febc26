//! The problem types the API answers with ([`PROBLEMS`], one per [`ApiError`] variant, each
//! with an example rendered by [`ApiError`] itself), and the error responses each operation
//! declares in the OpenAPI document (`CreateContactErrors`, ...).

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::IntoResponses;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::response::{Response as OaResponse, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};

use super::error::{ApiError, PROBLEM_JSON};
use crate::validate::FieldError;

/// A problem type the API answers with: one per [`ApiError`] variant.
#[derive(Debug)]
pub struct ProblemType {
    /// `type` is `/docs#problem-<slug>`.
    pub slug: &'static str,
    /// When it happens and what to do about it.
    pub explanation: &'static str,
    /// An error of this type, for the example.
    pub example: fn() -> ApiError,
}

/// Every problem type, in status order.
pub const PROBLEMS: &[ProblemType] = &[
    ProblemType {
        slug: "bad-request",
        explanation: "The request is not well-formed: the body is not JSON (or not a JSON object), a query \
            parameter has a bad value, or the Idempotency-Key header is malformed or repeated. `errors` names \
            the parameter when there is one. Fix the request; repeating it unchanged will fail again.",
        example: || ApiError::bad_param("limit", format!("must be 1 to {}", super::extract::MAX_LIMIT)),
    },
    ProblemType {
        slug: "unauthenticated",
        explanation: "No token was sent, the Authorization header is not `Bearer <token>`, or the token is \
            unknown or revoked. The response carries `WWW-Authenticate: Bearer`. Ask an administrator for a token.",
        example: || ApiError::Unauthenticated("unknown or revoked token".into()),
    },
    ProblemType {
        slug: "forbidden",
        explanation: "The token is valid, but its role may not do this: for example a referrer reading a contact, \
            a practitioner recording a decision, or a partner returning checks for another agency. The roles \
            allowed are listed with each endpoint.",
        example: || ApiError::Forbidden("a practitioner may not append decision_made".into()),
    },
    ProblemType {
        slug: "not-found",
        explanation: "No contact has this id (ids are ULIDs: 26 characters of Crockford base32), or no endpoint \
            has this path.",
        example: || ApiError::NotFound("no contact 01J00000000000000000000000".into()),
    },
    ProblemType {
        slug: "method-not-allowed",
        explanation: "The path exists but does not take this method; the `Allow` header lists those it takes.",
        example: || ApiError::MethodNotAllowed,
    },
    ProblemType {
        slug: "request-timeout",
        explanation: "The request body did not arrive whole within the body timeout (30 s unless the service is \
            configured otherwise, counted from the end of the headers). Nothing was written and the connection is \
            closed. Send the body at once; a client on a slow link should retry.",
        example: || ApiError::RequestTimeout("the request body did not arrive whole within 30 s".into()),
    },
    ProblemType {
        slug: "version-conflict",
        explanation: "`expected_version` did not match the contact's version: someone else recorded something on \
            the contact since you read it. Nothing was written. `current_version` gives the version now: read the \
            contact again, check the new events still allow what you meant to record, and retry with it.",
        example: || ApiError::Conflict { expected: 3, current_version: 4 },
    },
    ProblemType {
        slug: "not-a-standby",
        explanation: "A promotion (`POST /v1/admin/promote`) was asked of a node that is not a standby: it is \
            already the primary, is being promoted, is still comparing its log with the replicated stream, or \
            runs without `[replication]`. Nothing changed. Ask the standby you mean to promote.",
        example: || ApiError::NotStandby("node-a is not a standby: it is already the primary".into()),
    },
    ProblemType {
        slug: "payload-too-large",
        explanation: "The body is over the limit (64 KiB unless the service is configured otherwise). Nothing \
            was written. Long text belongs in a case management system, not the front door log.",
        example: || ApiError::PayloadTooLarge { limit: 65_536 },
    },
    ProblemType {
        slug: "unsupported-media-type",
        explanation: "The body was sent with a Content-Type that is not JSON. Send \
            `Content-Type: application/json` (or leave it out).",
        example: || {
            ApiError::UnsupportedMediaType("send JSON with Content-Type: application/json (got \"text/plain\")".into())
        },
    },
    ProblemType {
        slug: "validation",
        explanation: "The body is JSON but its fields are wrong: unknown, missing, of the wrong type, an unknown \
            value, too long, out of range, or against a field rule (an NHS number's check digit, a consent \
            override without a reason). A name (a child's, the referrer's, a discussion participant's) may not \
            hold a bidirectional override or isolate character (U+202A to U+202E, U+2066 to U+2069), which would \
            show it otherwise than it is stored, and must have a visible character, not only invisible ones such \
            as zero-width spaces. `errors` lists every field at fault by path, so all can be fixed at once.",
        example: || {
            ApiError::fields(
                "children[0].nhs_number: not a valid NHS number (check digit)",
                vec![FieldError::new("children[0].nhs_number", "not a valid NHS number (check digit)")],
            )
        },
    },
    ProblemType {
        slug: "case-rule",
        explanation: "The event is well-formed but the case flow does not allow it now: for example a handover \
            before a decision, or closing a contact whose handover is pending. `rule` names the rule (listed \
            below); nothing was written.",
        example: || ApiError::RuleBroken { rule: "needs-decision", detail: "a handover needs a decision first".into() },
    },
    ProblemType {
        slug: "idempotency-key-reused",
        explanation: "This Idempotency-Key was used before, by the same caller on the same resource, with a \
            different body. Nothing was written. Use a new key for a new request; repeat a request only with \
            its exact body.",
        example: || ApiError::IdempotencyMismatch,
    },
    ProblemType {
        slug: "internal",
        explanation: "Something failed inside the service. The cause is logged, never shown; quote the \
            `x-request-id` response header when reporting it.",
        example: || ApiError::Internal("example".into()),
    },
    ProblemType {
        slug: "unavailable",
        explanation: "The log cannot take writes just now (the disk is full, a write could not be made durable, \
            or the service is shutting down). Nothing was written; reads keep working. Retry later, with the \
            same Idempotency-Key.",
        example: || ApiError::Unavailable("the service is shutting down".into()),
    },
];

impl ProblemType {
    /// The problem type's `type` member.
    pub fn type_uri(&self) -> String {
        format!("/docs#problem-{}", self.slug)
    }

    pub fn status(&self) -> u16 {
        (self.example)().status().as_u16()
    }

    pub fn title(&self) -> &'static str {
        (self.example)().title()
    }

    /// The body the API sends for [`ProblemType::example`].
    pub fn example_body(&self) -> Value {
        serde_json::to_value((self.example)().problem()).unwrap_or_default()
    }

    pub fn by_slug(slug: &str) -> Option<&'static ProblemType> {
        PROBLEMS.iter().find(|p| p.slug == slug)
    }
}

/// The error responses of one operation: `(status, description, problem slugs)`.
type ErrorTable<'a> = &'a [(u16, &'static str, &'static [&'static str])];

fn problem_responses(table: ErrorTable<'_>) -> BTreeMap<String, RefOr<OaResponse>> {
    table
        .iter()
        .map(|(status, description, slugs)| {
            let examples = slugs.iter().filter_map(|slug| ProblemType::by_slug(slug)).map(|p| {
                (p.slug.to_owned(), ExampleBuilder::new().summary(p.title()).value(Some(p.example_body())).build())
            });
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .examples_from_iter(examples)
                .build();
            let mut response = ResponseBuilder::new().description(*description).content(PROBLEM_JSON, content);
            if *status == 401 {
                let challenge = HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("`Bearer`"))
                    .build();
                response = response.header("WWW-Authenticate", challenge);
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

const BAD_BODY: (u16, &str, &[&str]) = (
    400,
    "Malformed JSON, a body that is not a JSON object, or a malformed or repeated Idempotency-Key header.",
    &["bad-request"],
);
const NO_TOKEN: (u16, &str, &[&str]) = (401, "No token, or an unknown one.", &["unauthenticated"]);
const TOO_LARGE: (u16, &str, &[&str]) =
    (413, "The body is over the limit (64 KiB by default).", &["payload-too-large"]);
const TOO_SLOW: (u16, &str, &[&str]) = (
    408,
    "The body did not arrive whole within the body timeout (30 s by default); nothing was written.",
    &["request-timeout"],
);
const NOT_JSON: (u16, &str, &[&str]) = (415, "The Content-Type is not JSON.", &["unsupported-media-type"]);
const INTERNAL: (u16, &str, &[&str]) = (500, "Something failed inside the service; it is logged.", &["internal"]);
const UNAVAILABLE: (u16, &str, &[&str]) = (
    503,
    "The log cannot take writes just now; nothing was written. Retry with the same Idempotency-Key.",
    &["unavailable"],
);

const UNRECORDABLE: (u16, &str, &[&str]) = (
    503,
    "The read cannot be recorded in the access log just now (the disk refuses writes), so it is not served; \
     nothing was read. Retry later.",
    &["unavailable"],
);

/// Errors of `POST /v1/contacts`.
#[derive(Debug)]
pub struct CreateContactErrors;

impl IntoResponses for CreateContactErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            BAD_BODY,
            NO_TOKEN,
            (403, "The role may not create contacts.", &["forbidden"]),
            TOO_SLOW,
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "A field is invalid, unknown or missing (`errors` lists them all), or the Idempotency-Key was \
                 used before with another body.",
                &["validation", "idempotency-key-reused"],
            ),
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

/// Errors of `POST /v1/duty-debriefs`.
#[derive(Debug)]
pub struct CreateDutyDebriefErrors;

impl IntoResponses for CreateDutyDebriefErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        create_stream_responses("Only practitioners, decision makers and admins record duty debriefs.")
    }
}

/// Errors of `POST /v1/consultations`.
#[derive(Debug)]
pub struct CreateConsultationErrors;

impl IntoResponses for CreateConsultationErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        create_stream_responses("Only practitioners, decision makers and admins record consultations.")
    }
}

/// The errors of an endpoint that opens a stream of its own; `forbidden` says who may.
fn create_stream_responses(forbidden: &'static str) -> BTreeMap<String, RefOr<OaResponse>> {
    problem_responses(&[
        BAD_BODY,
        NO_TOKEN,
        (403, forbidden, &["forbidden"]),
        TOO_SLOW,
        TOO_LARGE,
        NOT_JSON,
        (
            422,
            "A field is invalid, unknown or missing (`errors` lists them all), a time rule is broken, or the \
             Idempotency-Key was used before with another body.",
            &["validation", "case-rule", "idempotency-key-reused"],
        ),
        INTERNAL,
        UNAVAILABLE,
    ])
}

/// Errors of `GET /v1/consultations/{id}`.
#[derive(Debug)]
pub struct ReadConsultationErrors;

impl IntoResponses for ReadConsultationErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            NO_TOKEN,
            (
                403,
                "The role may not read consultations (referrers, receiving teams, partners, monitors).",
                &["forbidden"],
            ),
            (404, "No such consultation.", &["not-found"]),
            INTERNAL,
            UNRECORDABLE,
        ])
    }
}

/// Errors of `POST /v1/contacts/{id}/events`.
#[derive(Debug)]
pub struct AppendEventErrors;

impl IntoResponses for AppendEventErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            BAD_BODY,
            NO_TOKEN,
            (
                403,
                "The role may not append this type of event (or any), or a partner returned checks for another \
                 agency.",
                &["forbidden"],
            ),
            (404, "No such contact.", &["not-found"]),
            (
                409,
                "`expected_version` is not the contact's version; `current_version` says what it is. Nothing \
                 was written.",
                &["version-conflict"],
            ),
            TOO_SLOW,
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "A field is invalid, unknown or missing (`errors`), a case rule forbids the event now (`rule`), \
                 or the Idempotency-Key was used before with another body.",
                &["validation", "case-rule", "idempotency-key-reused"],
            ),
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

/// Errors of the reads of one contact.
#[derive(Debug)]
pub struct ReadContactErrors;

impl IntoResponses for ReadContactErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            NO_TOKEN,
            (403, "The role may not read this.", &["forbidden"]),
            (404, "No such contact.", &["not-found"]),
            INTERNAL,
            UNRECORDABLE,
        ])
    }
}

const CHILD_READ_FORBIDDEN: (u16, &str, &[&str]) =
    (403, "The role may not read children's records (referrers, receiving teams).", &["forbidden"]);
const CHILD_READ_UNAVAILABLE: (u16, &str, &[&str]) = (
    503,
    "The read models are still being rebuilt from the log after a start, or the read cannot be recorded in the \
     access log.",
    &["unavailable"],
);

/// Errors of `GET /v1/children`.
#[derive(Debug)]
pub struct ChildSearchErrors;

impl IntoResponses for ChildSearchErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (
                400,
                "A query parameter is malformed (a date not YYYY-MM-DD, a term over 200 characters, an NHS number \
                 with other than digits and spaces) or nothing was given to search by; `errors` names the parameter.",
                &["bad-request"],
            ),
            NO_TOKEN,
            CHILD_READ_FORBIDDEN,
            CHILD_READ_UNAVAILABLE,
            INTERNAL,
        ])
    }
}

/// Errors of `GET /v1/adults`.
#[derive(Debug)]
pub struct AdultSearchErrors;

impl IntoResponses for AdultSearchErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (
                400,
                "A query parameter is malformed (a date not YYYY-MM-DD, a term over 200 characters) or nothing was \
                 given to search by; `errors` names the parameter.",
                &["bad-request"],
            ),
            NO_TOKEN,
            CHILD_READ_FORBIDDEN,
            CHILD_READ_UNAVAILABLE,
            INTERNAL,
        ])
    }
}

/// Errors of `GET /v1/children/{child_id}`.
#[derive(Debug)]
pub struct ChildReadErrors;

impl IntoResponses for ChildReadErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "The child id is not 1 to 20 letters and digits; `errors` names `child_id`.", &["bad-request"]),
            NO_TOKEN,
            CHILD_READ_FORBIDDEN,
            (404, "No such child.", &["not-found"]),
            CHILD_READ_UNAVAILABLE,
            INTERNAL,
        ])
    }
}

/// Errors of `GET /v1/contacts?made_by=me`.
#[derive(Debug)]
pub struct OwnContactsErrors;

impl IntoResponses for OwnContactsErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "`made_by` is missing or not `me`; `errors` names it.", &["bad-request"]),
            NO_TOKEN,
            (403, "Only referrers have a list of their own contacts.", &["forbidden"]),
            (
                503,
                "The read models are still being rebuilt from the log after a start (see /readyz), or the reads \
                 cannot be recorded in the access log just now, so nothing is served.",
                &["unavailable"],
            ),
            INTERNAL,
        ])
    }
}

/// Errors of `GET /v1/events`.
#[derive(Debug)]
pub struct ReadLogErrors;

/// Errors of `GET /v1/access`.
#[derive(Debug)]
pub struct ReadAccessErrors;

impl IntoResponses for ReadAccessErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "`after` or `limit` is not a number in range.", &["bad-request"]),
            NO_TOKEN,
            (403, "Only auditors and admins may read the access log.", &["forbidden"]),
            INTERNAL,
            UNRECORDABLE,
        ])
    }
}

impl IntoResponses for ReadLogErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "`after` or `limit` is not a number in range.", &["bad-request"]),
            NO_TOKEN,
            (403, "The role may not read the global log.", &["forbidden"]),
            INTERNAL,
            UNRECORDABLE,
        ])
    }
}

/// Errors of the read models' endpoints (queue, streams, figures, as-of).
#[derive(Debug)]
pub struct LiveReadErrors;

impl IntoResponses for LiveReadErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "A query parameter or `Last-Event-ID` is malformed; `errors` names it.", &["bad-request"]),
            NO_TOKEN,
            (403, "The role may not read this.", &["forbidden"]),
            (
                503,
                "The read models are still being rebuilt from the log after a start (see /readyz).",
                &["unavailable"],
            ),
            INTERNAL,
        ])
    }
}

/// Errors of the figure endpoints (timeliness, volumes, practice, trends): those of the read
/// models', and a 422 for a `locality` the service does not know.
#[derive(Debug)]
pub struct FigureReadErrors;

impl IntoResponses for FigureReadErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            (400, "A query parameter is malformed; `errors` names it.", &["bad-request"]),
            NO_TOKEN,
            (403, "The role may not read this.", &["forbidden"]),
            (
                422,
                "`locality` is not one of the configured localities, `other` or `unknown`; `errors` names it.",
                &["validation"],
            ),
            (
                503,
                "The read models are still being rebuilt from the log after a start (see /readyz).",
                &["unavailable"],
            ),
            INTERNAL,
        ])
    }
}

/// Errors of `GET /metrics`.
#[derive(Debug)]
pub struct MetricsErrors;

impl IntoResponses for MetricsErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            NO_TOKEN,
            (403, "Only `monitor` and `admin` tokens read the metrics.", &["forbidden"]),
            INTERNAL,
        ])
    }
}

/// Errors of `POST /v1/admin/promote`.
#[derive(Debug)]
pub struct PromoteErrors;

impl IntoResponses for PromoteErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[
            NO_TOKEN,
            (403, "Only `admin` tokens promote a standby.", &["forbidden"]),
            (409, "This node is not a standby (or runs without `[replication]`); nothing changed.", &["not-a-standby"]),
            INTERNAL,
            (
                503,
                "The promotion failed: the replicated stream stayed unreachable, or a record in it does not continue \
                 this node's log. The node is still a standby, following the stream.",
                &["unavailable"],
            ),
        ])
    }
}

/// Errors any endpoint can answer with.
#[derive(Debug)]
pub struct InternalErrors;

impl IntoResponses for InternalErrors {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        problem_responses(&[INTERNAL])
    }
}
