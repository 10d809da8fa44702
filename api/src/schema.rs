//! Small adjustments to the JSON schemas schemars generates, where kube's structural rewrite
//! would otherwise lose information.
//!
//! Why it exists: the CRD descriptions are what `kubectl explain` shows, and for an
//! `Option<Enum>` field kube-core's `OptionalEnum` transform hoists the enum's own schema over
//! the field's, so the enum type's doc comment replaces the field's. Private to the crate.

use schemars::Schema;

/// Field-level transform for `Option<Enum>` fields: drops the descriptions inside the
/// `anyOf` schemars generates, so the field's own description survives.
pub(crate) fn keep_field_description(schema: &mut Schema) {
    if let Some(any_of) = schema.get_mut("anyOf").and_then(|v| v.as_array_mut()) {
        for branch in any_of {
            if let Some(obj) = branch.as_object_mut() {
                obj.remove("description");
            }
        }
    }
}
