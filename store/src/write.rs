//! The write verbs: create, update, patch (merge, JSON, strategic, apply) and delete, for the HTTP
//! handlers and for the built-in controllers alike.
//!
//! Each write reads the current object, computes the new one (admission), and commits it with a
//! compare-and-swap on the revision it read. Writes without a resourceVersion precondition (patches,
//! unconditional updates) retry when a concurrent writer won the race.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::admission::{self, FieldValidation, meta, meta_str};
use crate::apply;
use crate::errors::{ApiError, ApiResult};
use crate::patch;
use crate::registry::Resource;
use crate::request::Query;
use crate::server::ApiServer;
use crate::storage::{CommitError, Committed, Expect, MAX_OBJECT, ObjectKey, Op, StoredObject};
use crate::strata_validation;

const MAX_RETRIES: usize = 16;

/// A check that depends on who writes (the agent restriction): it sees the stored object (`None`
/// when the write creates one) and the object about to be stored. It runs inside the
/// compare-and-swap loop, so it judges exactly what is committed.
pub type Admit<'a> = &'a (dyn Fn(Option<&Value>, &Value) -> ApiResult<()> + Sync);

/// The answer to a write: status code, object, and warnings for the `Warning` header.
pub struct Written {
    pub code: StatusCode,
    pub object: Answer,
    pub warnings: Vec<String>,
}

/// The object a write answers with: one never stored (a dry run, an unchanged object), or the
/// stored one, whose serialized form is sent as it is rather than parsed and written again.
pub enum Answer {
    Value(Value),
    Stored(Arc<StoredObject>),
}

impl Answer {
    pub fn into_value(self) -> Value {
        match self {
            Answer::Value(v) => v,
            Answer::Stored(o) => o.value(),
        }
    }

    /// The object as JSON text.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Answer::Value(v) => Bytes::from(v.to_string()),
            Answer::Stored(o) => o.json.clone(),
        }
    }
}

/// How a patch body is to be read (`Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str, res: &Resource) -> ApiResult<PatchType> {
        let accepted = if res.builtin {
            "application/json-patch+json, application/merge-patch+json, \
             application/strategic-merge-patch+json, application/apply-patch+yaml"
        } else {
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        };
        match ct {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" if res.builtin => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            other => Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 {accepted} (got {other:?})"
            ))),
        }
    }
}

/// Options from a DeleteOptions body and the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

impl DeleteOptions {
    pub fn parse(q: &Query, body: Option<&Value>) -> ApiResult<DeleteOptions> {
        let mut o = DeleteOptions {
            propagation: q.propagation_policy.clone(),
            dry_run: q.dry_run,
            ..Default::default()
        };
        if let Some(b) = body {
            if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
                o.propagation = Some(p.to_string());
            }
            if b.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                o.propagation = Some("Orphan".into());
            }
            if let Some(d) = b.get("dryRun").and_then(Value::as_array) {
                o.dry_run |= d.iter().any(|v| v == "All");
            }
            if let Some(p) = b.get("preconditions") {
                o.precondition_uid = p.get("uid").and_then(Value::as_str).map(String::from);
                o.precondition_rv = p
                    .get("resourceVersion")
                    .and_then(Value::as_str)
                    .map(String::from);
            }
        }
        match o.propagation.as_deref() {
            None | Some("Background" | "Foreground" | "Orphan") => Ok(o),
            Some(other) => Err(ApiError::bad_request(format!(
                "propagationPolicy must be Background, Foreground or Orphan, not {other:?}"
            ))),
        }
    }
}

fn commit_error(res: &Resource, name: &str, e: CommitError) -> ApiError {
    match e {
        CommitError::AlreadyExists(_) => ApiError::already_exists(&res.group, &res.plural, name),
        CommitError::NotFound(_) => ApiError::not_found(&res.group, &res.plural, name),
        CommitError::Conflict { .. } => ApiError::conflict(&res.group, &res.plural, name),
        CommitError::TooLarge { size, .. } => object_too_large(size),
        CommitError::Storage(e) => ApiError::internal("storage failure", e),
    }
}

fn parse_rv(s: &str) -> ApiResult<u64> {
    s.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resourceVersion {s:?}: resource versions are opaque numbers returned by this server"
        ))
    })
}

/// What a dry run answers for an object that the store would refuse as too large (a real write
/// learns it from the commit, which reads the size off the bytes it stores).
fn check_size(object: &Value) -> ApiResult<()> {
    /// Counts what is written to it: the object's size without building its text.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let size = serde_json::to_writer(&mut count, object)
        .map(|()| count.0)
        .unwrap_or(usize::MAX);
    if size > MAX_OBJECT {
        return Err(object_too_large(size));
    }
    Ok(())
}

fn object_too_large(size: usize) -> ApiError {
    ApiError::too_large(format!(
        "the object is {size} bytes; objects may be at most {MAX_OBJECT} bytes"
    ))
}

impl ApiServer {
    pub fn key(&self, res: &Resource, namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey::new(&res.storage, namespace.unwrap_or(""), name)
    }

    /// The stored object, with apiVersion set to the requested version.
    pub fn current(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<(u64, Value)> {
        let stored = self.storage.get(&self.key(res, namespace, name))?;
        let mut v = stored.value();
        v["apiVersion"] = json!(res.api_version());
        Some((stored.revision, v))
    }

    fn check_namespace(&self, res: &Resource, namespace: Option<&str>) -> ApiResult<()> {
        let Some(ns) = namespace.filter(|_| res.namespaced) else {
            return Ok(());
        };
        let key = ObjectKey::new(&std::sync::Arc::from("/namespaces"), "", ns);
        let Some(stored) = self.storage.get(&key) else {
            return Err(ApiError::not_found("", "namespaces", ns));
        };
        if stored.deleting {
            return Err(ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it \
                 is being terminated",
                res.qualified(),
                "",
            )));
        }
        Ok(())
    }

    async fn commit(&self, res: &Resource, name: &str, op: Op) -> ApiResult<Committed> {
        let committed = self
            .storage
            .commit_one(op)
            .await
            .map_err(|e| commit_error(res, name, e))?;
        self.after_commit(res, &committed);
        Ok(committed)
    }

    /// Keeps the registry in step with CustomResourceDefinitions, the authorizer with the RBAC
    /// objects, and revokes the tokens of a deleted ServiceAccount.
    fn after_commit(&self, res: &Resource, committed: &Committed) {
        let key = &committed.object.key;
        if res.group == "apiextensions.k8s.io" && res.plural == "customresourcedefinitions" {
            let stored = self.storage.get(key).map(|o| o.value());
            crate::crd::sync(&self.registry, &key.name, stored.as_ref());
        }
        if res.group == crate::rbac::GROUP {
            self.rbac.reload(&self.storage);
        }
        if res.group.is_empty()
            && res.plural == "serviceaccounts"
            && self.storage.get(key).is_none()
        {
            let user = crate::rbac::service_account_user(&key.namespace, &key.name);
            match self.auth.revoke_user(&user) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(%user, tokens = n, "revoked the tokens of a deleted service account")
                }
                Err(e) => {
                    tracing::error!(%user, error = %e, "cannot revoke the tokens of a deleted service account")
                }
            }
        }
    }

    /// POST: creates an object.
    pub async fn create(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        mut object: Value,
        q: &Query,
        manager: &str,
        admit: Option<Admit<'_>>,
    ) -> ApiResult<Written> {
        let mode = FieldValidation::from_query(q)?;
        admission::set_type(res, &mut object)?;
        if let Some(ns) = meta_str(&object, "namespace")
            && res.namespaced
            && namespace.is_some_and(|want| want != ns)
        {
            return Err(ApiError::bad_request(format!(
                "the namespace of the provided object ({ns}) does not match the namespace sent on \
                 the request ({})",
                namespace.unwrap_or("")
            )));
        }
        admission::generate_name(&mut object);
        let warnings = admission::prune_unknown(res, &mut object, mode)?;
        self.prepare_create(res, namespace, &mut object, admit)?;
        apply::track_update(apply::UpdateRequest {
            schema: &res.schema,
            old: None,
            new: &mut object,
            manager,
            api_version: &res.api_version(),
            subresource: None,
            now: &admission::now(),
        })
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.finish_create(res, namespace, object, q.dry_run, warnings)
            .await
    }

    /// Everything a new object needs before it is stored: metadata, status reset, built-in rules,
    /// defaults, schema validation and the rules of strata's kinds.
    fn prepare_create(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        object: &mut Value,
        admit: Option<Admit<'_>>,
    ) -> ApiResult<()> {
        self.check_namespace(res, namespace)?;
        let namespace = if res.namespaced {
            namespace.or(Some("default"))
        } else {
            None
        };
        admission::init_metadata(object, namespace);
        if res.status {
            object.as_object_mut().map(|o| o.remove("status"));
        }
        admission::builtin_rules(res, None, object)?;
        crate::crd::prepare(res, None, object)?;
        if let Some(admit) = admit {
            admit(None, object)?;
        }
        admission::validate_object(res, object, None)?;
        strata_validation::validate(res, None, object, None)
    }

    async fn finish_create(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        object: Value,
        dry_run: bool,
        warnings: Vec<String>,
    ) -> ApiResult<Written> {
        let name = meta_str(&object, "name").unwrap_or("").to_string();
        if dry_run {
            if self.storage.get(&self.key(res, namespace, &name)).is_some() {
                return Err(ApiError::already_exists(&res.group, &res.plural, &name));
            }
            check_size(&object)?;
            return Ok(Written {
                code: StatusCode::CREATED,
                object: Answer::Value(object),
                warnings,
            });
        }
        let key = self.key(res, namespace.filter(|_| res.namespaced), &name);
        let committed = self
            .commit(
                res,
                &name,
                Op::Put {
                    key,
                    object,
                    expect: Expect::Absent,
                },
            )
            .await?;
        Ok(Written {
            code: StatusCode::CREATED,
            object: Answer::Stored(committed.object),
            warnings,
        })
    }

    /// PUT: replaces an object (or its status).
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        mut object: Value,
        q: &Query,
        manager: &str,
        admit: Option<Admit<'_>>,
    ) -> ApiResult<Written> {
        let mode = FieldValidation::from_query(q)?;
        admission::set_type(res, &mut object)?;
        if let Some(body_name) = meta_str(&object, "name")
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let precondition = meta_str(&object, "resourceVersion")
            .map(parse_rv)
            .transpose()?;
        if precondition.is_none() && !res.builtin {
            return Err(admission::invalid_field(
                res,
                name,
                "metadata.resourceVersion",
                "FieldValueInvalid",
                "Invalid value: 0x0: must be specified for an update",
            ));
        }
        let warnings = admission::prune_unknown(res, &mut object, mode)?;
        for _ in 0..MAX_RETRIES {
            let (rev, old) = self
                .current(res, namespace, name)
                .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
            if precondition.is_some_and(|p| p != rev) {
                return Err(ApiError::conflict(&res.group, &res.plural, name));
            }
            let mut new = object.clone();
            admission::split_status(res, Some(&old), &mut new, subresource);
            match self
                .finish_update(
                    res,
                    namespace,
                    name,
                    subresource,
                    rev,
                    &old,
                    new,
                    manager,
                    q.dry_run,
                    None,
                    admit,
                )
                .await
            {
                Err(e) if lost_race(&e) && precondition.is_none() => continue,
                done => return with_warnings(done, warnings),
            }
        }
        Err(ApiError::conflict(&res.group, &res.plural, name))
    }

    /// The shared tail of update and patch: admission of `new` against `old`, then the commit (or
    /// the deletion, when the last finalizer of a deleted object went away).
    #[allow(clippy::too_many_arguments)]
    async fn finish_update(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        rev: u64,
        old: &Value,
        mut new: Value,
        manager: &str,
        dry_run: bool,
        applied: Option<Value>,
        admit: Option<Admit<'_>>,
    ) -> ApiResult<Written> {
        admission::carry_metadata(old, &mut new);
        admission::builtin_rules(res, Some(old), &mut new)?;
        crate::crd::prepare(res, Some(old), &mut new)?;
        if let Some(admit) = admit {
            admit(Some(old), &new)?;
        }
        let deleting = meta(old).contains_key("deletionTimestamp");
        let old_finalizers = admission::finalizers(old);
        let new_finalizers = admission::finalizers(&new);
        if deleting && new_finalizers.iter().any(|f| !old_finalizers.contains(f)) {
            return Err(admission::invalid_field(
                res,
                name,
                "metadata.finalizers",
                "FieldValueForbidden",
                "Forbidden: no new finalizers can be added if the object is being deleted",
            ));
        }
        if applied.is_none() {
            apply::track_update(apply::UpdateRequest {
                schema: &res.schema,
                old: Some(old),
                new: &mut new,
                manager,
                api_version: &res.api_version(),
                subresource,
                now: &admission::now(),
            })
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        admission::validate_object(res, &mut new, Some(old))?;
        admission::next_generation(res, old, &mut new);
        strata_validation::validate(res, Some(old), &new, subresource)?;
        let key = self.key(res, namespace, name);
        if deleting && new_finalizers.is_empty() {
            if dry_run {
                return Ok(Written {
                    code: StatusCode::OK,
                    object: Answer::Value(new),
                    warnings: vec![],
                });
            }
            let committed = self
                .commit(
                    res,
                    name,
                    Op::Delete {
                        key,
                        expect: Expect::Revision(rev),
                    },
                )
                .await?;
            return Ok(Written {
                code: StatusCode::OK,
                object: Answer::Stored(committed.object),
                warnings: vec![],
            });
        }
        if dry_run {
            check_size(&new)?;
            return Ok(Written {
                code: StatusCode::OK,
                object: Answer::Value(new),
                warnings: vec![],
            });
        }
        // Nothing changed: answer with the stored object, as kube-apiserver does (no new revision).
        if same_but_bookkeeping(&new, old) {
            return Ok(Written {
                code: StatusCode::OK,
                object: Answer::Value(old.clone()),
                warnings: vec![],
            });
        }
        let committed = self
            .commit(
                res,
                name,
                Op::Put {
                    key,
                    object: new,
                    expect: Expect::Revision(rev),
                },
            )
            .await?;
        Ok(Written {
            code: StatusCode::OK,
            object: Answer::Stored(committed.object),
            warnings: vec![],
        })
    }

    /// PATCH with any of the four patch types.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        kind: PatchType,
        body: &Bytes,
        q: &Query,
        manager: Option<&str>,
        admit: Option<Admit<'_>>,
    ) -> ApiResult<Written> {
        let mode = FieldValidation::from_query(q)?;
        if kind != PatchType::Apply && q.force.is_some() {
            return Err(ApiError::invalid("", "", "", vec![]).with_message(
                "force: Invalid value: true: may not be specified for non-apply patch",
            ));
        }
        let patch_doc = match kind {
            PatchType::Apply => crate::body::decode_yaml(body)?,
            _ => crate::body::decode_json(body)?,
        };
        if kind == PatchType::Apply {
            let Some(manager) = q.field_manager.as_deref().filter(|m| !m.is_empty()) else {
                return Err(ApiError::invalid(
                    "",
                    "",
                    "",
                    vec![crate::errors::Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: is required for apply patch".into(),
                        field: "fieldManager".into(),
                    }],
                )
                .with_message("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
            };
            return self
                .apply_patch(
                    res,
                    namespace,
                    name,
                    subresource,
                    patch_doc,
                    q,
                    manager,
                    mode,
                    admit,
                )
                .await;
        }
        let manager = manager.unwrap_or("unknown");
        for _ in 0..MAX_RETRIES {
            let (rev, old) = self
                .current(res, namespace, name)
                .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
            let mut new = old.clone();
            match kind {
                PatchType::Merge => patch::merge::merge_patch(&mut new, &patch_doc),
                PatchType::Json => {
                    patch::json_patch::apply(&mut new, &patch_doc).map_err(patch_error)?
                }
                PatchType::Strategic => patch::strategic::apply(&mut new, &patch_doc, &res.schema)
                    .map_err(patch_error)?,
                PatchType::Apply => unreachable!("handled above"),
            }
            if !new.is_object() {
                return Err(ApiError::bad_request("the patch must leave an object"));
            }
            admission::set_type(res, &mut new)?;
            let precondition = meta_str(&new, "resourceVersion")
                .filter(|s| *s != rev.to_string())
                .map(parse_rv)
                .transpose()?;
            if precondition.is_some() {
                return Err(ApiError::conflict(&res.group, &res.plural, name));
            }
            let warnings = admission::prune_unknown(res, &mut new, mode)?;
            admission::split_status(res, Some(&old), &mut new, subresource);
            match self
                .finish_update(
                    res,
                    namespace,
                    name,
                    subresource,
                    rev,
                    &old,
                    new,
                    manager,
                    q.dry_run,
                    None,
                    admit,
                )
                .await
            {
                Err(e) if lost_race(&e) => continue,
                done => return with_warnings(done, warnings),
            }
        }
        Err(ApiError::conflict(&res.group, &res.plural, name))
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_patch(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        mut applied: Value,
        q: &Query,
        manager: &str,
        mode: FieldValidation,
        admit: Option<Admit<'_>>,
    ) -> ApiResult<Written> {
        if !applied.is_object() {
            return Err(ApiError::bad_request("an apply patch must be an object"));
        }
        for field in ["apiVersion", "kind"] {
            if applied
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::bad_request(format!(
                    "{field} must be set in an apply patch"
                )));
            }
        }
        admission::set_type(res, &mut applied)?;
        if let Some(n) = meta_str(&applied, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let warnings = admission::prune_unknown(res, &mut applied, mode)?;
        if res.status && subresource.is_none() {
            // The main resource cannot set status: do not record its applier as owning it.
            applied.as_object_mut().map(|o| o.remove("status"));
        }
        let force = q.force.unwrap_or(false);
        for _ in 0..MAX_RETRIES {
            let current = self.current(res, namespace, name);
            let result = apply::apply(apply::ApplyRequest {
                schema: &res.schema,
                live: current.as_ref().map(|(_, v)| v),
                applied: &applied,
                manager,
                force,
                api_version: &res.api_version(),
                subresource,
                now: &admission::now(),
            });
            let mut new = match result {
                Ok(v) => v,
                Err(apply::ApplyError::Conflicts(conflicts)) => {
                    let mut e = ApiError::new(
                        StatusCode::CONFLICT,
                        "Conflict",
                        apply::ApplyError::Conflicts(conflicts.clone()).to_string(),
                    )
                    .details(name, &res.group, &res.plural);
                    for c in conflicts {
                        e = e.with_cause("FieldManagerConflict", &c.path, c.to_string());
                    }
                    return Err(e);
                }
                Err(e) => return Err(ApiError::bad_request(e.to_string())),
            };
            admission::set_type(res, &mut new)?;
            let Some((rev, old)) = current else {
                if subresource.is_some() {
                    return Err(ApiError::not_found(&res.group, &res.plural, name));
                }
                meta_mut_name(&mut new, name);
                let managed = meta(&new).get("managedFields").cloned();
                self.prepare_create(res, namespace, &mut new, admit)?;
                if let Some(mf) = managed {
                    admission::meta_mut(&mut new).insert("managedFields".into(), mf);
                }
                match self
                    .finish_create(res, namespace, new, q.dry_run, warnings.clone())
                    .await
                {
                    Err(e) if e.reason == "AlreadyExists" => continue,
                    other => return other,
                }
            };
            if let Some(p) = meta_str(&applied, "resourceVersion")
                && parse_rv(p)? != rev
            {
                return Err(ApiError::conflict(&res.group, &res.plural, name));
            }
            admission::split_status(res, Some(&old), &mut new, subresource);
            let mf = meta(&new).get("managedFields").cloned();
            if let Some(mf) = mf {
                admission::meta_mut(&mut new).insert("managedFields".into(), mf);
            }
            match self
                .finish_update(
                    res,
                    namespace,
                    name,
                    subresource,
                    rev,
                    &old,
                    new,
                    manager,
                    q.dry_run,
                    Some(applied.clone()),
                    admit,
                )
                .await
            {
                Err(e) if lost_race(&e) => continue,
                done => return with_warnings(done, warnings),
            }
        }
        Err(ApiError::conflict(&res.group, &res.plural, name))
    }

    /// DELETE: removes an object, or marks it for deletion while finalizers remain.
    pub async fn delete(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Written> {
        for _ in 0..MAX_RETRIES {
            let (rev, old) = self
                .current(res, namespace, name)
                .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
            if let Some(uid) = &opts.precondition_uid
                && meta_str(&old, "uid") != Some(uid.as_str())
            {
                return Err(
                    ApiError::conflict(&res.group, &res.plural, name).with_message(format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta_str(&old, "uid").unwrap_or("")
                    )),
                );
            }
            if let Some(p) = &opts.precondition_rv
                && parse_rv(p)? != rev
            {
                return Err(ApiError::conflict(&res.group, &res.plural, name));
            }
            let mut finalizers = admission::finalizers(&old);
            let is_namespace = res.group.is_empty() && res.plural == "namespaces";
            let extra = match opts.propagation.as_deref() {
                Some("Foreground") => Some("foregroundDeletion"),
                Some("Orphan") => Some("orphan"),
                _ => None,
            };
            let already_deleting = meta(&old).contains_key("deletionTimestamp");
            if let Some(f) = extra
                && !finalizers.iter().any(|x| x == f)
            {
                finalizers.push(f.to_string());
            }
            let key = self.key(res, namespace, name);
            if finalizers.is_empty() && !is_namespace {
                if opts.dry_run {
                    return Ok(Written {
                        code: StatusCode::OK,
                        object: Answer::Value(old),
                        warnings: vec![],
                    });
                }
                match self
                    .storage
                    .commit_one(Op::Delete {
                        key,
                        expect: Expect::Revision(rev),
                    })
                    .await
                {
                    Ok(c) => {
                        self.after_commit(
                            res,
                            &Committed {
                                revision: c.revision,
                                object: c.object.clone(),
                            },
                        );
                        return Ok(Written {
                            code: StatusCode::OK,
                            object: Answer::Stored(c.object),
                            warnings: vec![],
                        });
                    }
                    Err(CommitError::Conflict { .. }) => continue,
                    Err(e) => return Err(commit_error(res, name, e)),
                }
            }
            // Graceful: mark and let the finalizers (or the namespace controller) finish.
            let mut new = old.clone();
            let m = admission::meta_mut(&mut new);
            if !already_deleting {
                m.insert("deletionTimestamp".into(), json!(admission::now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            m.insert("finalizers".into(), json!(finalizers));
            if is_namespace {
                new["status"] = json!({"phase": "Terminating"});
            }
            if opts.dry_run {
                return Ok(Written {
                    code: StatusCode::OK,
                    object: Answer::Value(new),
                    warnings: vec![],
                });
            }
            if same_but_bookkeeping(&new, &old) {
                return Ok(Written {
                    code: StatusCode::OK,
                    object: Answer::Value(old),
                    warnings: vec![],
                });
            }
            match self
                .storage
                .commit_one(Op::Put {
                    key,
                    object: new,
                    expect: Expect::Revision(rev),
                })
                .await
            {
                Ok(c) => {
                    return Ok(Written {
                        code: StatusCode::OK,
                        object: Answer::Stored(c.object),
                        warnings: vec![],
                    });
                }
                Err(CommitError::Conflict { .. }) => continue,
                Err(e) => return Err(commit_error(res, name, e)),
            }
        }
        Err(ApiError::conflict(&res.group, &res.plural, name))
    }

    /// An object body for create/update, decoded per Content-Type.
    pub fn decode(&self, headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
        crate::body::decode_object(headers, body)
    }
}

/// A 409 from the compare-and-swap: another writer got there first, so the write can be computed
/// again from the new state (not an apply conflict between field managers, which has causes).
fn lost_race(e: &ApiError) -> bool {
    e.reason == "Conflict" && e.details.causes.is_empty()
}

fn with_warnings(done: ApiResult<Written>, warnings: Vec<String>) -> ApiResult<Written> {
    done.map(|mut w| {
        w.warnings = warnings;
        w
    })
}

/// A patch that cannot be read (400) or does not apply to the object (422).
pub fn patch_error(e: patch::PatchError) -> ApiError {
    let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let reason = if code == StatusCode::BAD_REQUEST {
        "BadRequest"
    } else {
        "Invalid"
    };
    ApiError::new(code, reason, e.to_string())
}

fn meta_mut_name(object: &mut Value, name: &str) {
    admission::meta_mut(object).insert("name".into(), json!(name));
}

/// An object without the fields every write touches, to tell a no-op write.
/// Whether `a` and `b` are the same object but for bookkeeping (managedFields, resourceVersion):
/// a write that changes nothing else makes no new revision.
fn same_but_bookkeeping(a: &Value, b: &Value) -> bool {
    admission::equal_without(a, b, |k| k == "metadata")
        && admission::equal_without(
            a.get("metadata").unwrap_or(&Value::Null),
            b.get("metadata").unwrap_or(&Value::Null),
            |k| k == "managedFields" || k == "resourceVersion",
        )
}

impl ApiError {
    pub fn with_message(mut self, message: impl Into<String>) -> ApiError {
        self.message = message.into();
        self
    }
}
