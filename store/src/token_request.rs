//! TokenRequest (authentication.k8s.io/v1): `POST
//! /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`, what `kubectl create token` and kube-rs'
//! `create_token_request` send. It issues a bearer token for the ServiceAccount's user,
//! `system:serviceaccount:{ns}:{name}`, in the groups kube-apiserver gives service accounts.
//!
//! Why it exists: it is how a tenant or an agent gets credentials the same way as on a real
//! cluster, and RBAC then decides what those credentials allow. The request is authorized like any
//! other (`create` on `serviceaccounts/token`); the tokens are the authenticator's, valid for the
//! requested `expirationSeconds` (default one hour, at least ten minutes, as kube-apiserver), and
//! revoked when the ServiceAccount is deleted. Tokens bound to another object (`boundObjectRef`)
//! are not supported and are refused rather than issued unbound.

use serde_json::{Value, json};

use crate::errors::{ApiError, ApiResult, Cause};
use crate::server::ApiServer;

const DEFAULT_SECONDS: i64 = 3600;
const MIN_SECONDS: i64 = 600;
const MAX_SECONDS: i64 = 1 << 32;

fn invalid(field: &str, reason: &str, message: String) -> ApiError {
    ApiError::invalid(
        "authentication.k8s.io",
        "TokenRequest",
        "",
        vec![Cause {
            reason: reason.into(),
            message,
            field: field.into(),
        }],
    )
}

impl ApiServer {
    /// Issues a token for the ServiceAccount `namespace/name`; answers the TokenRequest.
    pub fn token_request(&self, namespace: &str, name: &str, request: Value) -> ApiResult<Value> {
        if let Some(kind) = request.get("kind").and_then(Value::as_str)
            && kind != "TokenRequest"
        {
            return Err(ApiError::bad_request(format!(
                "the body of a service account's token request must be a TokenRequest, not {kind}"
            )));
        }
        let accounts = self
            .registry
            .get("", "v1", "serviceaccounts")
            .expect("built-in");
        if self.current(&accounts, Some(namespace), name).is_none() {
            return Err(ApiError::not_found("", "serviceaccounts", name));
        }
        let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));
        let seconds = match spec.get("expirationSeconds") {
            None | Some(Value::Null) => DEFAULT_SECONDS,
            Some(v) => v.as_i64().ok_or_else(|| {
                invalid(
                    "spec.expirationSeconds",
                    "FieldValueInvalid",
                    format!("Invalid value: {v}: must be an integer number of seconds"),
                )
            })?,
        };
        if seconds < MIN_SECONDS {
            return Err(invalid(
                "spec.expirationSeconds",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            ));
        }
        if seconds > MAX_SECONDS {
            return Err(invalid(
                "spec.expirationSeconds",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"
                ),
            ));
        }
        if spec.get("boundObjectRef").is_some_and(|v| !v.is_null()) {
            return Err(invalid(
                "spec.boundObjectRef",
                "FieldValueNotSupported",
                "Unsupported value: this server does not bind tokens to objects; request a token \
                 without boundObjectRef"
                    .into(),
            ));
        }
        let expires = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + seconds)
            .map_err(|e| ApiError::internal("cannot compute the token's expiry", e))?;
        let user = crate::rbac::service_account_user(namespace, name);
        let groups = [
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
        ];
        let token = self
            .auth
            .issue(&user, &groups, Some(expires))
            .map_err(|e| ApiError::internal("cannot issue a token", e))?;
        Ok(json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
            "spec": {
                "audiences": spec.get("audiences").cloned().unwrap_or_else(|| json!([])),
                "expirationSeconds": seconds,
                "boundObjectRef": null,
            },
            "status": {"token": token, "expirationTimestamp": expires.to_string()},
        }))
    }
}
