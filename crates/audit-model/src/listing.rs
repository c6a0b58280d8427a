//! What `GET /audit/` listed, element by element: one malformed element
//! (a missing field, a bad timestamp) must not hide the rest of the
//! listing, so it is set aside with the reason and the sync goes on.

use serde::Serialize;

use crate::AuditEntry;

/// A listing element that could not be read as an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedListing {
    /// Its position in the listed array.
    pub index: usize,
    /// Why it was skipped (never its content: that is untrusted text).
    pub reason: String,
}

/// The readable entries of a listing and the elements skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// Entries read, in listing order, entry ids in lower case.
    pub entries: Vec<AuditEntry>,
    /// Elements skipped, for the sync summary.
    pub malformed: Vec<MalformedListing>,
}

impl Listing {
    /// A listing with nothing malformed (in-memory sources, tests).
    pub fn of(entries: Vec<AuditEntry>) -> Listing {
        Listing {
            entries,
            malformed: Vec::new(),
        }
    }
}

impl AuditEntry {
    /// The entry with its id in the one canonical form (lower-case
    /// hyphenated), as every store key and lake folder uses it. Upstream
    /// derives ids with Python's `uuid5`, which prints lower case; a
    /// listing in upper case is the same entry, not a new one.
    pub fn normalised(mut self) -> AuditEntry {
        self.entry_id.make_ascii_lowercase();
        self
    }
}
