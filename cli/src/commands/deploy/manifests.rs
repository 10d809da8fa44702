//! The objects `strata deploy -f` applies, read as `kubectl apply -f` reads them: YAML (one or
//! more documents) or JSON files, `-` for stdin, a directory's *.yaml, *.yml and *.json files in
//! name order, and the items of a `kind: List`.
//!
//! Why it exists: users keep the manifests they `kubectl apply`; deploying the same files with
//! strata must find the same objects. Reading is separate from applying so that a file with a
//! mistake is reported (with its name and document) before anything is applied.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

/// One object to apply, and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// "FILE" or "FILE (document N)", for messages.
    pub source: String,
    pub object: Value,
}

/// The objects in `paths`, in order.
pub fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for path in paths {
        for file in files(path)? {
            let (name, text) = if file == Path::new("-") {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .context("reading the manifests on stdin")?;
                ("stdin".to_string(), text)
            } else {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                (file.display().to_string(), text)
            };
            out.extend(parse(&name, &text)?);
        }
    }
    if out.is_empty() {
        bail!(
            "no objects to apply in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(out)
}

/// The files `path` names: itself, or a directory's manifests in name order.
fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path == Path::new("-") || !path.is_dir() {
        if path != Path::new("-") && !path.exists() {
            bail!("{} does not exist", path.display());
        }
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The objects in the text of file `name`: JSON (one value or several) or YAML documents.
pub fn parse(name: &str, text: &str) -> anyhow::Result<Vec<Manifest>> {
    let values: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
        serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .with_context(|| format!("{name} is not valid JSON"))?
    } else {
        serde_saphyr::from_multiple::<Value>(text)
            .with_context(|| format!("{name} is not valid YAML"))?
    };
    let several = values.len() > 1;
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let source = if several {
            format!("{name} (document {})", i + 1)
        } else {
            name.to_string()
        };
        flatten(&source, value, &mut out)?;
    }
    Ok(out)
}

/// Adds `value` to `out`: nothing for an empty document, each item of a List, or the object.
fn flatten(source: &str, value: Value, out: &mut Vec<Manifest>) -> anyhow::Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                flatten(source, item, out)?;
            }
            Ok(())
        }
        Value::Object(ref map)
            if map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array) =>
        {
            let Value::Object(mut map) = value else {
                unreachable!()
            };
            for item in map.remove("items").into_iter() {
                flatten(source, item, out)?;
            }
            Ok(())
        }
        Value::Object(ref map) => {
            let field = |f: &str| map.get(f).and_then(Value::as_str).filter(|s| !s.is_empty());
            if field("apiVersion").is_none() || field("kind").is_none() {
                bail!("{source}: an object needs apiVersion and kind");
            }
            let name = map
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if name.is_none() {
                bail!(
                    "{source}: the {} needs metadata.name (strata deploy does not generate names)",
                    field("kind").unwrap_or_default()
                );
            }
            out.push(Manifest {
                source: source.to_string(),
                object: value,
            });
            Ok(())
        }
        other => bail!("{source}: expected an object, found {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(manifests: &[Manifest]) -> Vec<String> {
        manifests
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m.object["kind"].as_str().unwrap(),
                    m.object["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn yaml_documents_json_and_lists_are_all_objects() {
        let yaml = "---\napiVersion: strata.io/v1alpha1\nkind: App\nmetadata: {name: web}\n\
                    spec: {cmd: sleep 1, cpus: 0.5}\n---\n---\napiVersion: v1\nkind: ConfigMap\n\
                    metadata: {name: conf}\n";
        let got = parse("a.yaml", yaml).unwrap();
        assert_eq!(names(&got), ["App/web", "ConfigMap/conf"]);
        assert_eq!(got[0].object["spec"]["cpus"], 0.5);
        assert_eq!(got[1].source, "a.yaml (document 2)");

        let json = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"strata.io/v1alpha1","kind":"App","metadata":{"name":"a"}},
            {"apiVersion":"strata.io/v1alpha1","kind":"App","metadata":{"name":"b"}}]}"#;
        assert_eq!(names(&parse("l.json", json).unwrap()), ["App/a", "App/b"]);
    }

    #[test]
    fn mistakes_name_the_file_and_document() {
        let e = parse("a.yaml", "kind: App\nmetadata: {name: web}\n").unwrap_err();
        assert_eq!(e.to_string(), "a.yaml: an object needs apiVersion and kind");
        let e = parse(
            "b.yaml",
            "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("b.yaml (document 1): the ConfigMap needs metadata.name"),
            "{e}"
        );
        let e = parse("c.yaml", "a: [unclosed\n").unwrap_err();
        assert!(e.to_string().starts_with("c.yaml is not valid YAML"), "{e}");
    }

    #[test]
    fn a_directory_is_its_manifests_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let object = |kind: &str, name: &str| {
            format!("apiVersion: v1\nkind: {kind}\nmetadata: {{name: {name}}}\n")
        };
        std::fs::write(dir.path().join("b.yml"), object("ConfigMap", "b")).unwrap();
        std::fs::write(dir.path().join("a.yaml"), object("ConfigMap", "a")).unwrap();
        std::fs::write(
            dir.path().join("c.json"),
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"c"}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "# not a manifest").unwrap();
        let got = read(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(names(&got), ["ConfigMap/a", "ConfigMap/b", "Secret/c"]);
        let e = read(&[dir.path().join("missing.yaml")]).unwrap_err();
        assert!(
            e.to_string().ends_with("missing.yaml does not exist"),
            "{e}"
        );
    }
}
