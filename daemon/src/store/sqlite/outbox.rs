//! The outbox in the SQLite store: notifications recorded once, their deliveries per channel,
//! and the log channel's position.

use super::*;
use crate::store::Outbox;

impl Outbox for SqliteStore {
    fn record(&mut self, outgoing: &[Outgoing<'_>]) -> Result<Vec<bool>, StoreError> {
        self.atomically(|connection| insert_notifications(connection, outgoing))
            .map_err(StoreError::sqlite("recording notifications"))
    }

    fn notifications(&self, filter: &Filter) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = doing("listing notifications", || {
            let (clause, values) = where_clause(filter, "due");
            let sql = format!(
            "SELECT record, status,
                    (SELECT json_group_array(json_object('channel', channel, 'status', status, 'attempts', attempts, 'last_error', last_error, 'next_try_ms', CASE WHEN status = 'pending' THEN next_try_ms END))
                     FROM (SELECT * FROM deliveries d WHERE d.notification_id = n.id ORDER BY channel)),
                    id
             FROM notification_status n {clause}
             ORDER BY at_ms, id LIMIT {} OFFSET {}",
            filter.limit, filter.offset
        );
            let mut statement = self.connection.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(values), |row| {
                let (id, record, status, deliveries): (String, String, String, String) =
                    (row.get(3)?, row.get(0)?, row.get(1)?, row.get(2)?);
                Ok(rows::outbox_row(&id, &record, &status, &deliveries))
            })?;
            rows.collect::<rusqlite::Result<Vec<Result<OutboxRow, String>>>>()
        })?;
        readable(rows, "notifications")
    }

    fn due(&self, channel: &str, now: Timestamp, limit: u32) -> Result<DueBatch, StoreError> {
        doing("reading the outbox", || {
            let mut statement = self.connection.prepare_cached(
            "SELECT d.notification_id, n.record, d.attempts FROM deliveries d JOIN notifications n ON n.id = d.notification_id
             WHERE d.channel = ?1 AND d.status = 'pending' AND d.next_try_ms <= ?2
             ORDER BY d.next_try_ms, d.notification_id LIMIT ?3",
        )?;
            let rows =
                statement.query_map(params![channel, now.as_millisecond(), limit], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get(2)?,
                    ))
                })?;
            let mut batch = DueBatch::default();
            for row in rows {
                let (id, record, attempts) = row?;
                match rows::notification_from(&id, &record) {
                    Ok(record) => batch.due.push(Due {
                        id,
                        record,
                        attempts,
                    }),
                    Err(_) => batch.unreadable.push(id),
                }
            }
            Ok(batch)
        })
    }

    fn delivered(&mut self, id: &str, channel: &str, at: Timestamp) -> Result<(), StoreError> {
        doing("recording a delivery", || {
            self.connection.prepare_cached(
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?3, last_error = NULL
             WHERE notification_id = ?1 AND channel = ?2 AND status = 'pending'",
        )?
        .execute(params![id, channel, at.to_string()])?;
            Ok(())
        })
    }

    fn failed(
        &mut self,
        id: &str,
        channel: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        doing("recording a failed delivery", || {
            match retry_at {
            Some(at) => self.connection.prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?3, next_try_ms = ?4 WHERE notification_id = ?1 AND channel = ?2",
            )?.execute(params![id, channel, error, at.as_millisecond()])?,
            None => self.connection.prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?3, status = 'dead' WHERE notification_id = ?1 AND channel = ?2",
            )?.execute(params![id, channel, error])?,
        };
            Ok(())
        })
    }

    fn next_due(&self, channel: &str) -> Result<Option<Timestamp>, StoreError> {
        doing("reading the outbox", || {
            let ms: Option<i64> = self
            .connection
            .prepare_cached(
                "SELECT min(next_try_ms) FROM deliveries WHERE channel = ?1 AND status = 'pending'",
            )?
            .query_row(params![channel], |row| row.get(0))?;
            Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
        })
    }

    fn delivery_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        doing("counting deliveries", || {
            let mut statement =
            self.connection.prepare_cached("SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status ORDER BY channel, status")?;
            let rows =
                statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect::<Result<_, _>>()
        })
    }

    fn send_again(
        &mut self,
        id: &str,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        doing("sending a dead letter again", || {
            let marks = vec!["?"; scope.iter().len()].join(", ");
            let mut values = vec![id.to_string(), now.as_millisecond().to_string()];
            values.extend(scope.iter().map(str::to_string));
            let sql = format!(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_try_ms = CAST(?2 AS INTEGER)
                 WHERE notification_id = ?1 AND status = 'dead'
                   AND notification_id IN (SELECT id FROM notifications WHERE id = ?1 AND gemeente IN ({marks}))
                 RETURNING channel"
            );
            let mut statement = self.connection.prepare(&sql)?;
            let channels = statement.query_map(params_from_iter(values), |row| row.get(0))?;
            let mut channels: Vec<String> = channels.collect::<rusqlite::Result<_>>()?;
            channels.sort();
            Ok(channels)
        })
    }

    fn log_position(&self) -> Result<Option<(String, u64)>, StoreError> {
        doing("reading the log position", || {
            let mut statement = self
                .connection
                .prepare_cached("SELECT path, bytes FROM log_position")?;
            let mut rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.next().transpose()
        })
    }

    fn set_log_position(&mut self, path: &str, bytes: u64) -> Result<(), StoreError> {
        doing("storing the log position", || {
            self.connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO log_position (only, path, bytes) VALUES (1, ?1, ?2)",
                )?
                .execute(params![path, bytes])?;
            Ok(())
        })
    }
}
