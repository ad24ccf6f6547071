//! The calendar feeds in the PostgreSQL store.

use super::*;
use crate::store::Feeds;
use crate::store::rows::readable;

impl Feeds for PgStore {
    fn add_feed(&mut self, token_sha256: &str, feed: &Feed) -> Result<i64, StoreError> {
        let gemeenten: Vec<&str> = feed.gemeenten.iter().collect();
        let rows = self.query(
            "storing a calendar feed",
            "INSERT INTO feeds (token_sha256, name, made_by, on_behalf_of, gemeenten, roles, created, maker_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &token_sha256,
                &feed.name,
                &feed.made_by,
                &feed.on_behalf_of,
                &serde_json::to_string(&gemeenten).expect("a list of strings serialises"),
                &serde_json::to_string(&feed.roles).expect("a list of strings serialises"),
                &feed.created,
                &feed.maker_sha256,
            ],
        )?;
        Ok(rows[0].get(0))
    }

    fn feeds(&self, scope: &Scope) -> Result<Vec<Feed>, StoreError> {
        let rows = self.query(
            "listing calendar feeds",
            &format!("SELECT {FEED_COLUMNS} FROM feeds WHERE revoked IS NULL ORDER BY id DESC"),
            &[],
        )?;
        let feeds = readable(rows.iter().map(feed_row).collect(), "calendar feeds")?;
        Ok(feeds
            .into_iter()
            .filter(|feed| feed.gemeenten.iter().all(|g| scope.contains(g)))
            .collect())
    }

    fn feed_of_token(&self, token_sha256: &str) -> Result<Option<Feed>, StoreError> {
        let rows = self.query(
            "finding a calendar feed",
            &format!(
                "SELECT {FEED_COLUMNS} FROM feeds WHERE token_sha256 = $1 AND revoked IS NULL"
            ),
            &[&token_sha256],
        )?;
        rows.first()
            .map(|row| readable(vec![feed_row(row)], "calendar feeds").map(|mut f| f.remove(0)))
            .transpose()
    }

    fn revoke_feed(&mut self, id: i64, scope: &Scope, at: &str) -> Result<bool, StoreError> {
        let Some(feed) = self.feeds(scope)?.into_iter().find(|f| f.id == id) else {
            return Ok(false);
        };
        let changed = self.execute(
            "revoking a calendar feed",
            "UPDATE feeds SET revoked = $2 WHERE id = $1 AND revoked IS NULL",
            &[&feed.id, &at],
        )?;
        Ok(changed == 1)
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
        let gemeenten: Vec<&str> = scope.iter().collect();
        let (workflows, names): (Vec<&str>, Vec<&str>) = deadlines
            .iter()
            .map(|(w, d)| (w.as_str(), d.as_str()))
            .unzip();
        let rows = self.query(
            "listing the deadlines of a feed",
            &format!(
                "SELECT {} FROM deadlines
                 WHERE status IN ('open', 'overdue') AND due IS NOT NULL
                   AND gemeente = ANY($1) AND (workflow, deadline) IN (SELECT * FROM unnest($2::text[], $3::text[]))
                 ORDER BY due, gemeente, case_id, instance, deadline, occurrence LIMIT {limit}",
                read::DEADLINE_COLUMNS
            ),
            &[&gemeenten, &workflows, &names],
        )?;
        readable(rows.iter().map(read::deadline_row).collect(), "deadlines")
    }
}
