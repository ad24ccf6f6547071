//! The calendar feeds in the SQLite store.

use super::*;
use crate::store::Feeds;
use crate::store::rows::readable;

impl Feeds for SqliteStore {
    fn add_feed(&mut self, token_sha256: &str, feed: &Feed) -> Result<i64, StoreError> {
        doing("storing a calendar feed", || {
            let gemeenten: Vec<&str> = feed.gemeenten.iter().collect();
            self.connection.execute(
                "INSERT INTO feeds (token_sha256, name, made_by, on_behalf_of, gemeenten, roles, created, maker_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    token_sha256,
                    feed.name,
                    feed.made_by,
                    feed.on_behalf_of,
                    serde_json::to_string(&gemeenten).expect("a list of strings serialises"),
                    serde_json::to_string(&feed.roles).expect("a list of strings serialises"),
                    feed.created,
                    feed.maker_sha256,
                ],
            )?;
            Ok(self.connection.last_insert_rowid())
        })
    }

    fn feeds(&self, scope: &Scope) -> Result<Vec<Feed>, StoreError> {
        let rows = doing("listing calendar feeds", || {
            let mut statement = self.connection.prepare(&format!(
                "SELECT {FEED_COLUMNS} FROM feeds WHERE revoked IS NULL ORDER BY id DESC"
            ))?;
            let rows = statement.query_map([], feed_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let feeds = readable(rows, "calendar feeds")?;
        Ok(feeds
            .into_iter()
            .filter(|feed| feed.gemeenten.iter().all(|g| scope.contains(g)))
            .collect())
    }

    fn feed_of_token(&self, token_sha256: &str) -> Result<Option<Feed>, StoreError> {
        let row = doing("finding a calendar feed", || {
            self.connection
                .prepare_cached(&format!(
                    "SELECT {FEED_COLUMNS} FROM feeds WHERE token_sha256 = ?1 AND revoked IS NULL"
                ))?
                .query_row(params![token_sha256], feed_row)
                .optional()
        })?;
        row.map(|row| readable(vec![row], "calendar feeds").map(|mut f| f.remove(0)))
            .transpose()
    }

    fn revoke_feed(&mut self, id: i64, scope: &Scope, at: &str) -> Result<bool, StoreError> {
        let Some(feed) = self.feeds(scope)?.into_iter().find(|f| f.id == id) else {
            return Ok(false);
        };
        doing("revoking a calendar feed", || {
            self.connection.execute(
                "UPDATE feeds SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                params![feed.id, at],
            )
        })
        .map(|changed| changed == 1)
    }

    fn feed_deadlines(
        &self,
        scope: &Scope,
        deadlines: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<DeadlineRow>, StoreError> {
        if deadlines.is_empty() {
            return Ok(Vec::new());
        }
        let rows = doing("listing the deadlines of a feed", || {
            let marks = vec!["?"; scope.iter().len()].join(", ");
            let pairs = vec!["(?, ?)"; deadlines.len()].join(", ");
            let sql = format!(
                "SELECT {DEADLINE_COLUMNS} FROM deadlines
                 WHERE status IN ('open', 'overdue') AND due IS NOT NULL
                   AND gemeente IN ({marks}) AND (workflow, deadline) IN (VALUES {pairs})
                 ORDER BY due, gemeente, case_id, instance, deadline, occurrence LIMIT {limit}"
            );
            let mut values: Vec<String> = scope.iter().map(str::to_string).collect();
            for (workflow, deadline) in deadlines {
                values.push(workflow.clone());
                values.push(deadline.clone());
            }
            let mut statement = self.connection.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(values), deadline_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        readable(rows, "deadlines")
    }
}
