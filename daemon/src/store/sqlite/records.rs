//! The audit log and the iJw ledger in the SQLite store: written in the batch of what they
//! record, read by key or filter.

use super::*;
use crate::store::{AuditLog, IjwLedger};

impl AuditLog for SqliteStore {
    fn audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        doing("writing the audit log", || {
            self.connection.prepare_cached(
                "INSERT INTO audit (at, token, on_behalf_of, action, gemeente, case_id, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?.execute(params![entry.at, entry.token, entry.on_behalf_of, entry.action, entry.gemeente, entry.case, entry.outcome])?;
            Ok(())
        })
    }

    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        audit_lines(&self.connection, filter)
    }

    fn forget_audit_before(&mut self, before: &str) -> Result<u64, StoreError> {
        doing("removing old audit lines", || {
            let removed = self
                .connection
                .execute("DELETE FROM audit WHERE at < ?1", params![before])?;
            Ok(removed as u64)
        })
    }
}

impl IjwLedger for SqliteStore {
    fn ijw_message(&self, key: &str) -> Result<Option<String>, StoreError> {
        doing("reading the iJw messages received", || {
            self.connection
                .prepare_cached("SELECT digest FROM ijw_messages WHERE key = ?1")?
                .query_row(params![key], |row| row.get(0))
                .optional()
        })
    }

    fn set_ijw_message(&mut self, key: &str, digest: &str) -> Result<(), StoreError> {
        doing("storing an iJw message received", || {
            self.connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO ijw_messages (key, digest) VALUES (?1, ?2)",
                )?
                .execute(params![key, digest])?;
            Ok(())
        })
    }

    fn ijw_product(&self, key: &str) -> Result<Option<String>, StoreError> {
        doing("reading an iJw product", || {
            self.connection
                .prepare_cached("SELECT event FROM ijw_products WHERE key = ?1")?
                .query_row(params![key], |row| row.get(0))
                .optional()
        })
    }

    fn set_ijw_product(&mut self, key: &str, event: Option<&str>) -> Result<(), StoreError> {
        doing("storing an iJw product", || {
            match event {
                Some(event) => self
                    .connection
                    .prepare_cached(
                        "INSERT OR REPLACE INTO ijw_products (key, event) VALUES (?1, ?2)",
                    )?
                    .execute(params![key, event])?,
                None => self
                    .connection
                    .prepare_cached("DELETE FROM ijw_products WHERE key = ?1")?
                    .execute(params![key])?,
            };
            Ok(())
        })
    }
}
