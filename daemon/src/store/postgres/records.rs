//! The audit log and the iJw ledger in the PostgreSQL store: written in the batch of what they
//! record, read by key or filter.

use super::*;
use crate::store::{AuditLog, IjwLedger};

impl AuditLog for PgStore {
    fn audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.pending.borrow_mut().audit.push(entry.clone());
        if !self.in_transaction {
            self.flush()?;
        }
        Ok(())
    }

    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        self.flush()?;
        read::audit_lines(&mut *self.db()?, filter)
    }

    fn forget_audit_before(&mut self, before: &str) -> Result<u64, StoreError> {
        self.execute(
            "removing old audit lines",
            "DELETE FROM audit WHERE at < $1",
            &[&before],
        )
    }
}

impl IjwLedger for PgStore {
    fn ijw_message(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.value(
            "reading the iJw messages received",
            "SELECT digest FROM ijw_messages WHERE key = $1",
            &[&key],
        )
    }

    fn set_ijw_message(&mut self, key: &str, digest: &str) -> Result<(), StoreError> {
        self.execute(
            "storing an iJw message received",
            "INSERT INTO ijw_messages (key, digest) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET digest = excluded.digest",
            &[&key, &digest],
        )?;
        Ok(())
    }

    fn ijw_product(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.value(
            "reading an iJw product",
            "SELECT event FROM ijw_products WHERE key = $1",
            &[&key],
        )
    }

    fn set_ijw_product(&mut self, key: &str, event: Option<&str>) -> Result<(), StoreError> {
        match event {
            Some(event) => self.execute(
                "storing an iJw product",
                "INSERT INTO ijw_products (key, event) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET event = excluded.event",
                &[&key, &event],
            )?,
            None => self.execute(
                "storing an iJw product",
                "DELETE FROM ijw_products WHERE key = $1",
                &[&key],
            )?,
        };
        Ok(())
    }
}
