//! Request bodies into typed events: every field checked at the edge, so the core never sees
//! raw input.

/// One problem with one field of a request body, named by its path (`children[0].name`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}
