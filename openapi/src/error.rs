//! Import errors and problems. Every error names where it happened: the file (relative to the
//! imported folder, or the name given to [`crate::import_bytes`]) and a JSON pointer into it,
//! written `file#pointer` like a `$ref`.

use std::fmt;

/// Result of the importer.
pub type Result<T, E = ImportError> = std::result::Result<T, E>;

/// Appends `token` to a pointer, escaping `~` as `~0` and `/` as `~1`.
pub(crate) fn push_escaped(out: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// A place in an imported document: file and JSON pointer (`petstore.yaml#/paths/~1pets`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// File name relative to the imported folder (`/`-separated).
    pub file: String,
    /// JSON pointer into the file (RFC 6901, `~0`/`~1` escaped); empty for the whole file.
    pub pointer: String,
}

impl Location {
    /// The whole of `file`.
    pub fn file(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            pointer: String::new(),
        }
    }

    /// This location extended by one key or index (escaped as a pointer token).
    pub fn child(&self, token: impl fmt::Display) -> Self {
        use fmt::Write;
        let mut pointer = String::with_capacity(self.pointer.len() + 16);
        pointer.push_str(&self.pointer);
        pointer.push('/');
        let mut raw = String::new();
        // Writing into a String cannot fail.
        let _ = write!(raw, "{token}");
        push_escaped(&mut pointer, &raw);
        Self {
            file: self.file.clone(),
            pointer,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.file, self.pointer)
    }
}

/// Why an import (or a part of it) failed. Messages are lowercase and say what was expected
/// and what was found; every variant that concerns a document carries its [`Location`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A file is larger than `Limits::max_file_bytes`.
    #[error("{file}: file too large: {found_bytes} bytes, expected at most {max_bytes}")]
    FileTooLarge {
        /// The file.
        file: String,
        /// Its size.
        found_bytes: u64,
        /// The limit.
        max_bytes: usize,
    },
    /// The files of one import add up to more than `Limits::max_total_bytes`.
    #[error("{file}: import too large: more than {max_bytes} bytes in all files")]
    TotalTooLarge {
        /// The file that crossed the limit.
        file: String,
        /// The limit.
        max_bytes: usize,
    },
    /// One import reads more than `Limits::max_files` files.
    #[error("{file}: too many files: expected at most {max_files}")]
    TooManyFiles {
        /// The file that crossed the limit.
        file: String,
        /// The limit.
        max_files: usize,
    },
    /// The bytes are not a JSON or YAML document (or a YAML budget was exceeded).
    #[error("{file}: invalid {format}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// `json` or `yaml`.
        format: &'static str,
        /// The parser's reason, on one line.
        reason: String,
    },
    /// The document nests deeper than `Limits::max_depth`.
    #[error("{at}: nesting deeper than {max_depth} levels")]
    TooDeep {
        /// The first node past the limit.
        at: Location,
        /// The limit.
        max_depth: usize,
    },
    /// Neither `swagger: "2.0"` nor `openapi: 3.0.x` / `3.1.x`.
    #[error(
        "{at}: unsupported version: expected swagger 2.0 or openapi 3.0.x/3.1.x, found {found}"
    )]
    UnsupportedVersion {
        /// The version field (or the document when it has none).
        at: Location,
        /// What was found (`openapi 4.0`, `no version field`).
        found: String,
    },
    /// A value of the wrong JSON type (e.g. `paths` is an array).
    #[error("{at}: expected {expected}, found {found}")]
    WrongType {
        /// The value.
        at: Location,
        /// What the specification requires there.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A value the importer cannot use (bad path template, bad server URL, unknown `in`).
    #[error("{at}: {reason}")]
    Invalid {
        /// The value.
        at: Location,
        /// What is wrong with it.
        reason: String,
    },
    /// A `$ref` whose target does not exist.
    #[error("{at}: $ref '{reference}' not found")]
    RefNotFound {
        /// Where the `$ref` is written.
        at: Location,
        /// The reference as written.
        reference: String,
    },
    /// A `$ref` to a file that could not be loaded.
    #[error("{at}: $ref '{reference}': {reason}")]
    RefUnreadable {
        /// Where the `$ref` is written.
        at: Location,
        /// The reference as written.
        reference: String,
        /// Why the file could not be loaded.
        reason: String,
    },
    /// A `$ref` leaving the imported folder (`..` above it, absolute path).
    #[error(
        "{at}: $ref '{reference}' leaves the imported folder: expected a relative path inside it"
    )]
    RefEscapes {
        /// Where the `$ref` is written.
        at: Location,
        /// The reference as written.
        reference: String,
    },
    /// A `$ref` to a URL (`http(s)://…`): never fetched.
    #[error(
        "{at}: $ref '{reference}' is remote: expected a local reference (urls are never fetched)"
    )]
    RefRemote {
        /// Where the `$ref` is written.
        at: Location,
        /// The reference as written.
        reference: String,
    },
    /// A chain of `$ref`s longer than `Limits::max_ref_depth`, or one that loops.
    #[error("{at}: $ref '{reference}': {reason}")]
    RefChain {
        /// Where the chain starts.
        at: Location,
        /// The first reference of the chain.
        reference: String,
        /// `cycle` or the depth limit.
        reason: String,
    },
    /// More operations than `Limits::max_operations`.
    #[error("{at}: too many operations: expected at most {max_operations}")]
    TooManyOperations {
        /// The operation past the limit.
        at: Location,
        /// The limit.
        max_operations: usize,
    },
    /// A folder holds no OpenAPI root document, or several.
    #[error("{folder}: expected one openapi or swagger root document, found {found}")]
    RootDocument {
        /// The folder.
        folder: String,
        /// What was found (`none`, or the candidates).
        found: String,
    },
}

impl ImportError {
    /// The JSON type name of a value, for [`ImportError::WrongType`].
    pub(crate) fn type_name(v: &serde_json::Value) -> &'static str {
        match v {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::Object(_) => "an object",
        }
    }

    /// A wrong-type error for `found` at `at`.
    pub(crate) fn wrong_type(
        at: &Location,
        expected: &'static str,
        found: &serde_json::Value,
    ) -> Self {
        Self::WrongType {
            at: at.clone(),
            expected,
            found: Self::type_name(found),
        }
    }

    /// An [`ImportError::Invalid`] at `at`.
    pub(crate) fn invalid(at: &Location, reason: impl Into<String>) -> Self {
        Self::Invalid {
            at: at.clone(),
            reason: reason.into(),
        }
    }
}

/// What the importer did about a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The operation was left out of the import.
    OperationSkipped,
    /// The operation (or server, or scheme) was kept without the faulty part.
    PartIgnored,
}

/// A fault inside a document that did not fail the whole import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, and where.
    pub error: ImportError,
    /// What the importer did about it.
    pub effect: Effect,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let effect = match self.effect {
            Effect::OperationSkipped => "operation skipped",
            Effect::PartIgnored => "ignored",
        };
        write!(f, "{} ({effect})", self.error)
    }
}
