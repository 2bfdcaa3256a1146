//! `template.yaml` agrees with the code: one function per binary, the same routes as
//! `ROUTES` (no route in code missing from the template, or the reverse), and the tables of
//! `schema::TABLES` with their keys, indexes and TTL.

use std::collections::BTreeSet;

use anyhow::{Context as _, ensure};
use memory_mcp::Function;
use memory_mcp::endpoints::ROUTES;
use memory_mcp::store::schema::TABLES;
use serde_yaml::Value;

fn template() -> anyhow::Result<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    Ok(serde_yaml::from_str(&std::fs::read_to_string(path)?)?)
}

/// The value under a CloudFormation short-form tag (`!Sub "x"` -> "x").
fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

fn str_of<'a>(value: &'a Value, what: &str) -> anyhow::Result<&'a str> {
    untag(value)
        .as_str()
        .with_context(|| format!("{what} is not a string"))
}

fn resources(t: &Value, kind: &str) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect()
}

/// API Gateway matches "/mcp/" to the "/mcp" route and refuses paths ending in "/".
fn gateway_path(path: &str) -> &str {
    if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    }
}

#[test]
fn every_function_binary_is_a_template_function_and_the_reverse() -> anyhow::Result<()> {
    let t = template()?;
    let mut binaries = BTreeSet::new();
    for (name, f) in resources(&t, "AWS::Serverless::Function") {
        ensure!(
            f["Metadata"]["BuildMethod"] == "rust-cargolambda",
            "{name}: build method"
        );
        let binary = str_of(&f["Metadata"]["BuildProperties"]["Binary"], "Binary")?.to_owned();
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../functions/{binary}"));
        ensure!(
            dir.join("src/main.rs").exists(),
            "{name}: no functions/{binary}"
        );
        ensure!(f["Properties"]["Handler"] == "bootstrap", "{name}: handler");
        binaries.insert(binary);
    }
    let code: BTreeSet<String> = Function::ALL.iter().map(|f| f.name().to_owned()).collect();
    ensure!(
        binaries == code,
        "template functions {binaries:?} != code functions {code:?}"
    );
    let globals = &t["Globals"]["Function"];
    ensure!(globals["Runtime"] == "provided.al2023", "runtime");
    ensure!(globals["Architectures"][0] == "arm64", "architecture");
    let prefix = str_of(
        &globals["Environment"]["Variables"]["TABLE_PREFIX"],
        "TABLE_PREFIX",
    )?;
    ensure!(prefix == "${AWS::StackName}-", "TABLE_PREFIX is {prefix}");
    Ok(())
}

#[test]
fn the_template_routes_are_exactly_the_code_routes() -> anyhow::Result<()> {
    let t = template()?;
    for function in Function::ALL {
        let (name, f) = resources(&t, "AWS::Serverless::Function")
            .into_iter()
            .find(|(_, f)| {
                untag(&f["Metadata"]["BuildProperties"]["Binary"]).as_str() == Some(function.name())
            })
            .with_context(|| format!("no template function for {}", function.name()))?;
        let mut declared = BTreeSet::new();
        for (event, e) in f["Properties"]["Events"].as_mapping().into_iter().flatten() {
            ensure!(
                e["Type"] == "HttpApi",
                "{name}.{event:?}: not an HttpApi event"
            );
            let method = str_of(&e["Properties"]["Method"], "Method")?.to_uppercase();
            let path = str_of(&e["Properties"]["Path"], "Path")?.to_owned();
            ensure!(
                declared.insert((method.clone(), path.clone())),
                "{name}: {method} {path} twice"
            );
        }
        let code: BTreeSet<(String, String)> = ROUTES
            .iter()
            .filter(|r| r.function == *function)
            .map(|r| (r.method.to_owned(), gateway_path(r.path).to_owned()))
            .collect();
        let missing: Vec<_> = code.difference(&declared).collect();
        let extra: Vec<_> = declared.difference(&code).collect();
        ensure!(
            missing.is_empty(),
            "{name}: routes in code but not in the template: {missing:?}"
        );
        ensure!(
            extra.is_empty(),
            "{name}: routes in the template but not in code: {extra:?}"
        );
    }
    Ok(())
}

#[test]
fn the_template_tables_match_the_schema() -> anyhow::Result<()> {
    let t = template()?;
    let tables = resources(&t, "AWS::DynamoDB::Table");
    ensure!(
        tables.len() == TABLES.len(),
        "{} tables in the template, {} in code",
        tables.len(),
        TABLES.len()
    );
    for table in TABLES {
        let want = format!("${{AWS::StackName}}-{}", table.name);
        let (res, r) = tables
            .iter()
            .find(|(_, r)| untag(&r["Properties"]["TableName"]).as_str() == Some(want.as_str()))
            .with_context(|| format!("no template table named {want}"))?;
        let p = &r["Properties"];
        ensure!(p["BillingMode"] == "PAY_PER_REQUEST", "{res}: billing");
        ensure!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] == true,
            "{res}: PITR"
        );
        ensure!(
            p["SSESpecification"]["SSEEnabled"] == true,
            "{res}: encryption"
        );
        let keys: Vec<(String, String)> = p["KeySchema"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                    k["KeyType"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let mut want_keys = vec![(table.partition.name.to_owned(), "HASH".to_owned())];
        if let Some(sort) = table.sort {
            want_keys.push((sort.name.to_owned(), "RANGE".to_owned()));
        }
        ensure!(
            keys == want_keys,
            "{res}: keys {keys:?}, want {want_keys:?}"
        );
        match table.ttl {
            Some(attr) => ensure!(
                p["TimeToLiveSpecification"]["AttributeName"] == attr
                    && p["TimeToLiveSpecification"]["Enabled"] == true,
                "{res}: TTL"
            ),
            None => ensure!(
                p.get("TimeToLiveSpecification").is_none(),
                "{res}: unexpected TTL"
            ),
        }
        let indexes: BTreeSet<(String, String)> = p["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|g| {
                (
                    g["IndexName"].as_str().unwrap_or_default().to_owned(),
                    g["KeySchema"][0]["AttributeName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        let want_indexes: BTreeSet<(String, String)> = table
            .indexes
            .iter()
            .map(|i| (i.name.to_owned(), i.partition.name.to_owned()))
            .collect();
        ensure!(
            indexes == want_indexes,
            "{res}: indexes {indexes:?}, want {want_indexes:?}"
        );
    }
    Ok(())
}

/// `sam build` runs `cargo lambda build --release --arm64 --bin <function>` at the workspace
/// root, which compiles the default members with their features unified. Only the functions
/// (and their shared crate) may be among them, or the deployed binaries would carry the
/// features of the local server and the tests and differ from what CI tests.
#[test]
fn a_root_build_compiles_only_the_deployable_functions() -> anyhow::Result<()> {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()?;
    ensure!(output.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let name_of = |id: &serde_json::Value| {
        metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["id"] == *id)
            .and_then(|p| p["name"].as_str())
            .map(str::to_owned)
    };
    let defaults: BTreeSet<String> = metadata["workspace_default_members"]
        .as_array()
        .context("no workspace_default_members")?
        .iter()
        .filter_map(name_of)
        .collect();
    let mut expected: BTreeSet<String> =
        Function::ALL.iter().map(|f| f.name().to_owned()).collect();
    expected.insert("memory-mcp".to_owned());
    ensure!(
        defaults == expected,
        "default members {defaults:?}, want {expected:?}"
    );
    Ok(())
}
