//! The importer's limits and options. Every limit has its unit in its name; the defaults fit
//! the largest public specifications (GitHub's, Stripe's) with room to spare while keeping a
//! hostile document's cost small.

/// Resource limits of one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest single file, in bytes. Default 16 MiB.
    pub max_file_bytes: usize,
    /// Largest sum of all files read by one import, in bytes. Default 64 MiB.
    pub max_total_bytes: usize,
    /// Most files read by one import (the root document and every file a `$ref` names, or the
    /// `.json`/`.yaml`/`.yml` files of an imported folder). Default 256.
    pub max_files: usize,
    /// Deepest nesting of objects and arrays in a document, in levels. Default 100 (JSON
    /// parsing stops at 128 levels in any case).
    pub max_depth: usize,
    /// Most YAML alias uses (`*name`) in one file. Default 10,000.
    pub max_yaml_aliases: usize,
    /// Most YAML events replayed by alias expansion in one file: what stops "billion laughs"
    /// documents after a few milliseconds and a little memory. Default 100,000.
    pub max_yaml_alias_events: usize,
    /// Most operations in one import (webhooks included); more fails the import. Default
    /// 20,000.
    pub max_operations: usize,
    /// Longest chain of `$ref`s followed to reach one object (`A` → `B` → … ), in hops.
    /// Default 64.
    pub max_ref_depth: usize,
    /// Most problems recorded in [`crate::Spec::problems`]; further ones are only counted in
    /// [`crate::Spec::problems_dropped`]. Default 1,000.
    pub max_problems: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 16 << 20,
            max_total_bytes: 64 << 20,
            max_files: 256,
            max_depth: 100,
            max_yaml_aliases: 10_000,
            max_yaml_alias_events: 100_000,
            max_operations: 20_000,
            max_ref_depth: 64,
            max_problems: 1_000,
        }
    }
}

/// How to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Resource limits.
    pub limits: Limits,
    /// Host for servers that name none (2.0 without `host`, 3.x relative server URLs); `None`
    /// leaves them host-less, which the matcher treats as "any host".
    pub default_host: Option<String>,
    /// Folder that `$ref`s to other files must stay inside, for [`crate::import_path`] on a
    /// single file; `None` means the file's own folder. Ignored when importing a folder (the
    /// folder is the root) and by [`crate::import_bytes`].
    pub root_dir: Option<std::path::PathBuf>,
}
