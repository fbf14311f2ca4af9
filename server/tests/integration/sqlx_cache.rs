//! `.sqlx/`, the committed offline cache that lets `query!` compile without a database, must
//! match the migrations. Fails when a cached query's shape (columns, types, parameters,
//! nullability) differs from what the migrated database reports now, or when no source file
//! uses a cached query any more. The fix is `scripts/sqlx-prepare`.
//!
//! A query missing from the cache needs no test: offline builds refuse to compile it.

use std::{
    fs,
    path::{Path, PathBuf},
};

use serde_json::Value;
use server::{db, testing::TestDb};
use sqlx::{ConnectOptions, Executor};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_sources(dir: &Path, out: &mut String) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&fs::read_to_string(&path).unwrap());
        }
    }
}

#[tokio::test]
async fn the_offline_query_cache_matches_the_migrated_schema() {
    let root = workspace_root();
    let mut sources = String::new();
    for crate_dir in ["app", "server"] {
        rust_sources(&root.join(crate_dir), &mut sources);
    }

    let test_db = TestDb::new().await;
    // `cargo sqlx prepare` describes the queries as the owner role; so do we.
    let mut conn = test_db.options(db::OWNER_ROLE).connect().await.unwrap();

    let mut cached_files: Vec<PathBuf> = fs::read_dir(root.join(".sqlx"))
        .expect(".sqlx/ is committed")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    cached_files.sort();
    assert!(!cached_files.is_empty(), ".sqlx/ holds the cached queries");

    let mut problems = Vec::new();
    for file in &cached_files {
        let name = file.file_name().unwrap().to_string_lossy();
        let cached: Value = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
        let query = cached["query"].as_str().unwrap();
        if !sources.contains(query) {
            problems.push(format!("{name}: no source file uses this query any more"));
            continue;
        }
        match conn.describe(query).await {
            Err(err) => problems.push(format!("{name}: no longer prepares: {err}")),
            Ok(now) => {
                let now = serde_json::to_value(&now).unwrap();
                if now != cached["describe"] {
                    problems.push(format!(
                        "{name}: the database now describes it as\n{now:#}\nbut the cache says\n{:#}",
                        cached["describe"]
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        ".sqlx/ is out of date; run scripts/sqlx-prepare and commit the result:\n{}",
        problems.join("\n")
    );
}
