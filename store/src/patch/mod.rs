//! The three non-apply PATCH formats kube-apiserver accepts: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902) and strategic merge patch.
//!
//! Why it exists: kubectl, kube-rs, Helm and the Python client send these bodies unmodified and
//! expect the object kube-apiserver would produce, down to quirks they depend on (a JSON patch
//! `test` of `null` against a missing path passes; strategic merge directives never reach
//! storage). Everything here is a pure function over `serde_json::Value`; the HTTP layer picks the
//! function by Content-Type and turns a [`PatchError`] into a Status.

pub mod json_patch;
pub mod merge;
pub mod strategic;

/// Whether a patch was unusable as sent or well-formed but not applicable to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchErrorKind {
    /// The patch document itself is malformed (not a list of operations, an unknown `op`, a
    /// bad pointer, a malformed directive): kube-apiserver answers 400 BadRequest.
    Malformed,
    /// The patch is well-formed but does not apply to this object (a missing path, a failed
    /// `test`, an index out of range): kube-apiserver answers 422.
    NotApplicable,
}

/// Why a patch could not be applied. The target is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PatchError {
    /// The message for the Status, worded like kube-apiserver's.
    pub message: String,
    pub kind: PatchErrorKind,
    /// For JSON patch: the index of the failing operation in the patch list.
    pub operation: Option<usize>,
    /// The JSON pointer (JSON patch) or dotted field path (strategic merge patch) involved.
    pub path: Option<String>,
}

impl PatchError {
    pub(crate) fn malformed(message: impl Into<String>) -> PatchError {
        PatchError {
            message: message.into(),
            kind: PatchErrorKind::Malformed,
            operation: None,
            path: None,
        }
    }

    pub(crate) fn not_applicable(message: impl Into<String>) -> PatchError {
        PatchError {
            message: message.into(),
            kind: PatchErrorKind::NotApplicable,
            operation: None,
            path: None,
        }
    }

    pub(crate) fn at(mut self, operation: Option<usize>, path: impl Into<String>) -> PatchError {
        self.operation = operation;
        self.path = Some(path.into());
        self
    }

    /// The HTTP status kube-apiserver answers with: 400 for a malformed patch, 422 for one that
    /// does not apply.
    pub fn status_code(&self) -> u16 {
        match self.kind {
            PatchErrorKind::Malformed => 400,
            PatchErrorKind::NotApplicable => 422,
        }
    }
}
