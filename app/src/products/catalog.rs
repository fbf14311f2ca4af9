//! The product catalog: one JSON file per product in `catalog/`, compiled in, parsed and checked
//! at start (a bad file stops the server with the file and the fault named; a test runs the same
//! check). A product is versioned and lists its artifacts in the order they are made.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The files of the built-in catalog, in the order the Products page lists them.
const FILES: [(&str, &str); 6] = [
    ("eloquent.json", include_str!("catalog/eloquent.json")),
    ("aafya.json", include_str!("catalog/aafya.json")),
    ("done.json", include_str!("catalog/done.json")),
    ("fahim.json", include_str!("catalog/fahim.json")),
    ("shop_assist.json", include_str!("catalog/shop_assist.json")),
    ("crm.json", include_str!("catalog/crm.json")),
];

/// The column types an entity may use (what current PostgreSQL and its Citus extension both
/// handle plainly).
pub const COLUMN_TYPES: [&str; 9] = [
    "uuid",
    "text",
    "integer",
    "bigint",
    "numeric",
    "boolean",
    "date",
    "timestamptz",
    "jsonb",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// The key (`crm`), as organizations and runs name it.
    pub product: String,
    pub name: String,
    pub description: String,
    pub version: i32,
    pub artifacts: Vec<Artifact>,
}

/// One thing a product makes in an org. Its JSON is also its definition: a step whose artifact
/// is already there with the same definition is skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Artifact {
    /// A table in the org's dedicated schema.
    Entity(Entity),
    Skill {
        name: String,
        description: String,
        #[serde(default)]
        definition: Value,
    },
    /// An agent created for the org and assigned to it (within its plan's agent allowance).
    Agent {
        name: String,
        model: String,
    },
    Guardrail {
        name: String,
        policy_kind: String,
        params: Value,
    },
    Knowledge {
        name: String,
        title: String,
        body: String,
        #[serde(default)]
        tags: Vec<String>,
    },
    Config {
        name: String,
        value: Value,
    },
    /// The org's own resource in a data store (`redis`, `nats`, `clickhouse`): only the
    /// built-in [`resources`] product has these.
    Store {
        name: String,
    },
}

/// The key of the product every org gets when it is made: its resources in the data stores.
/// Not in the catalog (nobody installs or removes it by hand); its runs go through the same
/// engine, so provisioning has the same plan, lease, resume and progress as an install.
pub const RESOURCES: &str = "resources";

/// The built-in [`RESOURCES`] product.
pub fn resources() -> Product {
    Product {
        product: RESOURCES.to_string(),
        name: "Isolated resources".to_string(),
        description: "The organization's own Redis key space, NATS stream and ClickHouse database."
            .to_string(),
        version: 1,
        artifacts: crate::stores::provision::RESOURCES
            .iter()
            .map(|store| Artifact::Store {
                name: store.to_string(),
            })
            .collect(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    pub name: String,
    pub columns: Vec<Column>,
    /// Column sets that must be unique.
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
    /// Column sets to index.
    #[serde(default)]
    pub indexes: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default)]
    pub required: bool,
    /// `"gen_random_uuid()"`, `"now()"`, or a JSON literal.
    #[serde(default)]
    pub default: Option<Value>,
    /// Another entity of the same product (its primary key).
    #[serde(default)]
    pub references: Option<String>,
}

impl Artifact {
    pub fn kind(&self) -> &'static str {
        match self {
            Artifact::Entity(_) => "entity",
            Artifact::Skill { .. } => "skill",
            Artifact::Agent { .. } => "agent",
            Artifact::Guardrail { .. } => "guardrail",
            Artifact::Knowledge { .. } => "knowledge",
            Artifact::Config { .. } => "config",
            Artifact::Store { .. } => "store",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Artifact::Entity(e) => &e.name,
            Artifact::Skill { name, .. }
            | Artifact::Agent { name, .. }
            | Artifact::Guardrail { name, .. }
            | Artifact::Knowledge { name, .. }
            | Artifact::Config { name, .. }
            | Artifact::Store { name } => name,
        }
    }

    /// The definition stored with the step and the ledger.
    pub fn definition(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The products there are to install.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    products: Vec<Product>,
}

impl Catalog {
    /// The built-in catalog, checked; `Err` names each file's faults.
    pub fn builtin() -> Result<Self, String> {
        let mut products = Vec::new();
        let mut faults = Vec::new();
        for (file, text) in FILES {
            match serde_json::from_str::<Product>(text) {
                Ok(product) => {
                    faults.extend(check(&product).into_iter().map(|f| format!("{file}: {f}")));
                    products.push(product);
                }
                Err(e) => faults.push(format!("{file}: {e}")),
            }
        }
        if faults.is_empty() {
            Ok(Self { products })
        } else {
            Err(faults.join("; "))
        }
    }

    /// This catalog with each product file (`*.json`) of `dir` in place of the product of its
    /// key; `Err` names the file and what is wrong with it (a key the catalog does not have, a
    /// version older than the built-in one, any fault [`check`] finds).
    pub fn with_dir(mut self, dir: &std::path::Path) -> Result<Self, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut files: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let at = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{at}: {e}"))?;
            let product: Product = serde_json::from_str(&text).map_err(|e| format!("{at}: {e}"))?;
            let faults = check(&product);
            if !faults.is_empty() {
                return Err(format!("{at}: {}", faults.join("; ")));
            }
            let Some(slot) = self
                .products
                .iter_mut()
                .find(|p| p.product == product.product)
            else {
                return Err(format!(
                    "{at}: {:?} is not a product of the catalog (a file replaces one)",
                    product.product
                ));
            };
            if product.version < slot.version {
                return Err(format!(
                    "{at}: version {} is older than the built-in {}",
                    product.version, slot.version
                ));
            }
            *slot = product;
        }
        Ok(self)
    }

    /// A catalog of `products`, each checked: the built-in one with a product's next version in
    /// place of its current one, say.
    pub fn new(products: Vec<Product>) -> Result<Self, String> {
        let faults: Vec<String> = products
            .iter()
            .flat_map(|p| check(p).into_iter().map(|f| format!("{}: {f}", p.product)))
            .collect();
        if faults.is_empty() {
            Ok(Self { products })
        } else {
            Err(faults.join("; "))
        }
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn get(&self, key: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.product == key)
    }
}

/// A name PostgreSQL takes unquoted and we can quote safely: `[a-z][a-z0-9_]*`, at most 63.
pub fn plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// What is wrong with one artifact on its own (a definition read back from a saved plan is
/// checked again before it reaches SQL).
pub fn check_artifact(a: &Artifact) -> Vec<String> {
    let lone = Product {
        // A store artifact is only ever the resources product's.
        product: match a {
            Artifact::Store { .. } => RESOURCES.to_string(),
            _ => "check".to_string(),
        },
        name: "check".to_string(),
        description: "check".to_string(),
        version: 1,
        artifacts: vec![a.clone()],
    };
    // Which entities come before a lone entity only its plan knows: its references are held
    // to being table names.
    let mut faults = check(&lone);
    faults.retain(|f| !f.contains("which is not an entity listed before it"));
    if let Artifact::Entity(e) = a {
        for c in &e.columns {
            if let Some(target) = c.references.as_ref().filter(|r| !plain_name(r)) {
                faults.push(format!(
                    "column {:?} references {target:?}, not a table name",
                    c.name
                ));
            }
        }
    }
    faults
}

/// What is wrong with a product's definition, one sentence each.
pub fn check(p: &Product) -> Vec<String> {
    let mut faults = Vec::new();
    if !plain_name(&p.product) || p.product.len() > 40 {
        faults.push(format!(
            "product key {:?} must be lower-case letters, digits and _",
            p.product
        ));
    }
    if p.name.trim().is_empty() || p.description.trim().is_empty() {
        faults.push("a product needs a name and a description".to_string());
    }
    if p.version < 1 {
        faults.push("version must be 1 or more".to_string());
    }
    if p.artifacts.is_empty() {
        faults.push("a product makes at least one artifact".to_string());
    }
    let mut seen = BTreeSet::new();
    let mut entities = BTreeSet::new();
    for a in &p.artifacts {
        let here = format!("{} {:?}", a.kind(), a.name());
        if !seen.insert((a.kind(), a.name().to_string())) {
            faults.push(format!("{here} is listed twice"));
        }
        match a {
            Artifact::Entity(e) => {
                faults.extend(
                    check_entity(e, &entities)
                        .into_iter()
                        .map(|f| format!("{here}: {f}")),
                );
                entities.insert(e.name.clone());
            }
            Artifact::Skill { name, .. } if !plain_name(name) => faults.push(format!(
                "{here}: a skill's name is lower-case letters, digits and _"
            )),
            Artifact::Agent { name, model } => {
                if name.trim().is_empty() || name.len() > 200 {
                    faults.push(format!(
                        "{here}: an agent needs a name of at most 200 characters"
                    ));
                }
                if !crate::agents::MODELS.contains(&model.as_str()) {
                    faults.push(format!("{here}: unknown model {model:?}"));
                }
            }
            Artifact::Guardrail {
                name,
                policy_kind,
                params,
            } => {
                if name.trim().is_empty() || name.len() > 200 {
                    faults.push(format!(
                        "{here}: a policy needs a name of at most 200 characters"
                    ));
                }
                if let Err(errors) = crate::guardrails::eval::Rule::parse(
                    policy_kind,
                    params,
                    &crate::agents::MODELS,
                ) {
                    faults.push(format!("{here}: {}", errors.join(", ")));
                }
            }
            Artifact::Knowledge { title, body, .. } => {
                if title.trim().is_empty() || title.len() > 300 || body.len() > 100_000 {
                    faults.push(format!(
                        "{here}: an entry needs a title (at most 300 characters)"
                    ));
                }
            }
            Artifact::Config { name, .. } => {
                let ok = name.len() <= 100
                    && name.starts_with(|c: char| c.is_ascii_lowercase())
                    && name
                        .chars()
                        .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '.'));
                if !ok {
                    faults.push(format!(
                        "{here}: a configuration key is lower-case letters, digits, _ and ."
                    ));
                }
            }
            Artifact::Store { name } => {
                if p.product != RESOURCES {
                    faults.push(format!(
                        "{here}: only the platform's own {RESOURCES:?} product makes store resources"
                    ));
                }
                if !crate::stores::provision::RESOURCES.contains(&name.as_str()) {
                    faults.push(format!("{here}: no store is called {name:?}"));
                }
            }
            _ => {}
        }
    }
    faults
}

fn check_entity(e: &Entity, earlier: &BTreeSet<String>) -> Vec<String> {
    let mut faults = Vec::new();
    if !plain_name(&e.name) {
        faults.push("a table's name is lower-case letters, digits and _".to_string());
    }
    let mut names = BTreeSet::new();
    for c in &e.columns {
        if !plain_name(&c.name) {
            faults.push(format!(
                "column {:?}: lower-case letters, digits and _",
                c.name
            ));
        }
        if !names.insert(c.name.as_str()) {
            faults.push(format!("column {:?} is listed twice", c.name));
        }
        if !COLUMN_TYPES.contains(&c.ty.as_str()) {
            faults.push(format!(
                "column {:?}: type {:?} is not one of {}",
                c.name,
                c.ty,
                COLUMN_TYPES.join(", ")
            ));
        }
        if let Some(target) = &c.references {
            if !earlier.contains(target) {
                faults.push(format!(
                    "column {:?} references {target:?}, which is not an entity listed before it",
                    c.name
                ));
            }
        }
        if let Some(Value::String(s)) = &c.default {
            if s.ends_with("()") && !matches!(s.as_str(), "gen_random_uuid()" | "now()") {
                faults.push(format!(
                    "column {:?}: default {s:?} is not gen_random_uuid() or now()",
                    c.name
                ));
            }
        }
    }
    if e.columns.is_empty() {
        faults.push("a table needs columns".to_string());
    }
    if !e.columns.iter().any(|c| c.primary_key) {
        faults.push("a table needs a primary key".to_string());
    }
    for set in e.unique.iter().chain(&e.indexes) {
        if set.is_empty() {
            faults.push("an index or unique constraint names no column".to_string());
        }
        for c in set {
            if !names.contains(c.as_str()) {
                faults.push(format!("index on {c:?}, which is not a column"));
            }
        }
    }
    faults
}

/// The statements that make `e` in `schema`: the table, then its indexes. Names are checked
/// plain ([`plain_name`]) and quoted anyway; defaults are the two functions allowed or
/// literals.
pub fn entity_ddl(schema: &str, e: &Entity) -> Vec<String> {
    let q = quoted;
    let table = format!("{}.{}", q(schema), q(&e.name));
    let mut parts: Vec<String> = e.columns.iter().map(column_sql).collect();
    let keys: Vec<String> = e
        .columns
        .iter()
        .filter(|c| c.primary_key)
        .map(|c| q(&c.name))
        .collect();
    parts.push(format!("primary key ({})", keys.join(", ")));
    for c in &e.columns {
        if let Some(target) = &c.references {
            parts.push(format!(
                "foreign key ({}) references {}.{}",
                q(&c.name),
                q(schema),
                q(target)
            ));
        }
    }
    for set in &e.unique {
        let cols: Vec<String> = set.iter().map(|c| q(c)).collect();
        parts.push(format!("unique ({})", cols.join(", ")));
    }
    let mut statements = vec![format!("create table {table} ({})", parts.join(", "))];
    for set in &e.indexes {
        let cols: Vec<String> = set.iter().map(|c| q(c)).collect();
        statements.push(format!("create index on {table} ({})", cols.join(", ")));
    }
    statements
}

/// An identifier, quoted.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A column's definition in `create table` or `add column`.
fn column_sql(c: &Column) -> String {
    let mut col = format!("{} {}", quoted(&c.name), c.ty);
    if c.required || c.primary_key {
        col.push_str(" not null");
    }
    if let Some(default) = &c.default {
        col.push_str(&format!(" default {}", literal(default, &c.ty)));
    }
    col
}

/// The statements that turn the table of `old` into that of `new` in an upgrade: it adds
/// columns, unique sets, indexes and references. It never drops or changes what holds data:
/// a column removed or changed, a key column added, or a required column added without a
/// default (the rows already there could not have it) is refused, saying which.
pub fn entity_alter_ddl(schema: &str, old: &Entity, new: &Entity) -> Result<Vec<String>, String> {
    let q = quoted;
    let table = format!("{}.{}", q(schema), q(&new.name));
    let mut statements = Vec::new();
    for c in &old.columns {
        match new.columns.iter().find(|n| n.name == c.name) {
            None => {
                return Err(format!(
                    "column {:?} is gone from the new version; an upgrade never drops a column",
                    c.name
                ))
            }
            Some(n) if n != c => {
                return Err(format!(
                    "column {:?} changes in the new version; an upgrade only adds columns",
                    c.name
                ))
            }
            Some(_) => {}
        }
    }
    for c in new
        .columns
        .iter()
        .filter(|n| !old.columns.iter().any(|o| o.name == n.name))
    {
        if c.primary_key {
            return Err(format!(
                "column {:?} would join the primary key; an upgrade cannot change a key",
                c.name
            ));
        }
        if c.required && c.default.is_none() {
            return Err(format!(
                "column {:?} is required and has no default, so the rows already there could not have it",
                c.name
            ));
        }
        statements.push(format!("alter table {table} add column {}", column_sql(c)));
        if let Some(target) = &c.references {
            statements.push(format!(
                "alter table {table} add foreign key ({}) references {}.{}",
                q(&c.name),
                q(schema),
                q(target)
            ));
        }
    }
    let cols = |set: &Vec<String>| set.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    for (what, old_sets, new_sets) in [
        ("unique set", &old.unique, &new.unique),
        ("index", &old.indexes, &new.indexes),
    ] {
        if let Some(gone) = old_sets.iter().find(|s| !new_sets.contains(s)) {
            return Err(format!(
                "the {what} on {gone:?} is gone from the new version; an upgrade only adds them"
            ));
        }
        for set in new_sets.iter().filter(|s| !old_sets.contains(s)) {
            statements.push(if what == "index" {
                format!("create index on {table} ({})", cols(set))
            } else {
                format!("alter table {table} add unique ({})", cols(set))
            });
        }
    }
    Ok(statements)
}

/// A column default as SQL.
fn literal(value: &Value, ty: &str) -> String {
    match value {
        Value::String(s) if s == "gen_random_uuid()" || s == "now()" => s.clone(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other if ty == "jsonb" => format!("'{}'::jsonb", other.to_string().replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_is_whole_and_checked() {
        let catalog = Catalog::builtin().expect("the catalog checks");
        let keys: Vec<&str> = catalog
            .products()
            .iter()
            .map(|p| p.product.as_str())
            .collect();
        assert_eq!(
            keys,
            ["eloquent", "aafya", "done", "fahim", "shop_assist", "crm"]
        );
        let crm = catalog.get("crm").unwrap();
        let tables: Vec<&str> = crm
            .artifacts
            .iter()
            .filter(|a| a.kind() == "entity")
            .map(|a| a.name())
            .collect();
        assert_eq!(tables, ["company", "contact", "deal", "activity"]);
        assert!(catalog
            .get("aafya")
            .unwrap()
            .artifacts
            .iter()
            .any(|a| matches!(a, Artifact::Guardrail { policy_kind, .. } if policy_kind == "pii_redaction")));
        assert!(catalog
            .get("shop_assist")
            .unwrap()
            .artifacts
            .iter()
            .any(|a| a.kind() == "agent"));
    }

    #[test]
    fn every_template_names_catalog_products() {
        let catalog = Catalog::builtin().unwrap();
        for (key, label, products) in crate::products::TEMPLATES {
            assert!(plain_name(key) && !label.is_empty());
            for product in products {
                assert!(
                    catalog.get(product).is_some(),
                    "{key}: {product} is not in the catalog"
                );
            }
        }
    }

    #[test]
    fn faults_are_named() {
        let bad: Product = serde_json::from_value(serde_json::json!({
            "product": "Bad Key", "name": "x", "description": "y", "version": 0,
            "artifacts": [
                {"kind": "entity", "name": "t", "columns": [
                    {"name": "a", "type": "money"},
                    {"name": "b", "type": "uuid", "references": "later"}
                ], "indexes": [["c"]]},
                {"kind": "guardrail", "name": "g", "policy_kind": "pii_redaction", "params": {"types": ["ssn"]}},
                {"kind": "agent", "name": "A", "model": "gpt-0"}
            ]
        }))
        .unwrap();
        let faults = check(&bad).join("\n");
        for expected in [
            "product key",
            "version must be 1",
            "type \"money\"",
            "references \"later\"",
            "needs a primary key",
            "index on \"c\"",
            "\"ssn\" is not one of",
            "unknown model",
        ] {
            assert!(
                faults.contains(expected),
                "{expected} missing from:\n{faults}"
            );
        }
        // Unknown fields are refused when the file is read.
        assert!(serde_json::from_str::<Product>(
            r#"{"product":"x","name":"x","description":"x","version":1,"artifacts":[],"extra":1}"#
        )
        .is_err());
    }

    #[test]
    fn an_upgrade_adds_to_a_table_and_refuses_to_drop_or_change() {
        let Artifact::Entity(old) =
            Catalog::builtin().unwrap().get("crm").unwrap().artifacts[1].clone()
        else {
            panic!()
        };
        let mut new = old.clone();
        new.columns.push(Column {
            name: "linkedin".to_string(),
            ty: "text".to_string(),
            primary_key: false,
            required: false,
            default: None,
            references: None,
        });
        new.indexes.push(vec!["linkedin".to_string()]);
        assert_eq!(
            entity_alter_ddl("org_x", &old, &new).unwrap(),
            [
                "alter table \"org_x\".\"contact\" add column \"linkedin\" text",
                "create index on \"org_x\".\"contact\" (\"linkedin\")"
            ]
        );
        assert_eq!(
            entity_alter_ddl("org_x", &old, &old).unwrap(),
            Vec::<String>::new()
        );
        let mut required = new.clone();
        required.columns.last_mut().unwrap().required = true;
        assert!(entity_alter_ddl("org_x", &old, &required)
            .unwrap_err()
            .contains("required and has no default"));
        let mut dropped = old.clone();
        dropped.columns.pop();
        assert!(entity_alter_ddl("org_x", &old, &dropped)
            .unwrap_err()
            .contains("never drops a column"));
        let mut changed = old.clone();
        changed.columns[1].ty = "integer".to_string();
        assert!(entity_alter_ddl("org_x", &old, &changed)
            .unwrap_err()
            .contains("only adds columns"));
    }

    #[test]
    fn entity_ddl_quotes_names_and_orders_keys() {
        let e = Catalog::builtin().unwrap().get("crm").unwrap().artifacts[1].clone();
        let Artifact::Entity(e) = e else { panic!() };
        let ddl = entity_ddl("org_x", &e);
        assert!(ddl[0].starts_with("create table \"org_x\".\"contact\" (\"contact_id\" uuid not null default gen_random_uuid()"), "{}", ddl[0]);
        assert!(ddl[0].contains("foreign key (\"company_id\") references \"org_x\".\"company\""));
        assert!(ddl[0].contains("unique (\"email\")"));
        assert_eq!(
            ddl[1],
            "create index on \"org_x\".\"contact\" (\"company_id\")"
        );
    }
}
