//! Rebuilds the binary when a migration is added: `sqlx::migrate!` embeds the files of
//! `src/store/migrations/` at compile time, and cargo does not watch a new file there.
fn main() {
    println!("cargo:rerun-if-changed=src/store/migrations");
}
