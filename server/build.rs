//! `sqlx::migrate!` embeds the migrations at compile time; without this, adding or editing only
//! a migration would leave a build that never applies it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
