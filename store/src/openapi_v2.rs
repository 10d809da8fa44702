//! `GET /openapi/v2`: an OpenAPI v2 document without definitions, in the protobuf form kubectl
//! asks for (gnostic's `openapi_v2.Document`).
//!
//! Why it exists: strata's schemas are served as OpenAPI v3 (`openapi.rs`), which is what kubectl
//! uses — except for a file of `kind: List` (what `kubectl get -o yaml` writes): no v3 document
//! names `v1/List`, so kubectl falls back to validating it on the client with the v2 document, and
//! fails with "the server could not find the requested resource" when there is none. Given a v2
//! document that names no kinds, kubectl skips its client-side checks for the items, as it does
//! for any kind v2 does not know, and the server validates each item as it is created. The
//! document is constant: swagger "2.0", an info block and empty paths.

use crate::protobuf::length_delimited;

/// The media type of the answer: kubectl asks for `...spec.v2@v1.0+protobuf`, but parses the
/// answer's Content-Type as a MIME type, where `@` is not allowed; kube-apiserver answers with
/// this spelling.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The document, encoded.
pub fn document() -> Vec<u8> {
    let mut info = Vec::new();
    length_delimited(1, b"strata", &mut info); // title
    length_delimited(2, b"v1alpha1", &mut info); // version
    let mut doc = Vec::new();
    length_delimited(1, b"2.0", &mut doc); // swagger
    length_delimited(2, &info, &mut doc); // info
    length_delimited(8, &[], &mut doc); // paths, empty
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_swagger_2_with_an_info_block_and_no_paths() {
        let doc = document();
        assert_eq!(&doc[..5], b"\x0a\x032.0", "field 1: swagger 2.0");
        assert_eq!(doc[5], 0x12, "field 2: info");
        let info_len = usize::from(doc[6]);
        let info = &doc[7..7 + info_len];
        assert_eq!(&info[..8], b"\x0a\x06strata");
        assert_eq!(&doc[7 + info_len..], b"\x42\x00", "field 8: empty paths");
    }
}
