//! The outbox in the PostgreSQL store: notifications recorded once, their deliveries per channel,
//! and the log channel's position.

use super::*;
use crate::store::Outbox;

impl Outbox for PgStore {
    fn record(&mut self, outgoing: &[Outgoing<'_>]) -> Result<Vec<bool>, StoreError> {
        if outgoing.is_empty() {
            return Ok(Vec::new());
        }
        self.atomically("recording notifications", |store| {
            let ids: Vec<&str> = outgoing.iter().map(|o| o.notification.id.as_str()).collect();
            let at: Vec<i64> = outgoing.iter().map(|o| o.notification.at.as_millisecond()).collect();
            let gemeente: Vec<&str> = outgoing.iter().map(|o| o.notification.gemeente.as_str()).collect();
            let case: Vec<&str> = outgoing.iter().map(|o| o.notification.case.as_str()).collect();
            let workflow: Vec<&str> = outgoing.iter().map(|o| o.notification.workflow.as_str()).collect();
            let due: Vec<Option<String>> = outgoing.iter().map(|o| o.notification.due.map(|d| d.to_string())).collect();
            let record: Vec<&str> = outgoing.iter().map(|o| o.record.as_str()).collect();
            let new: std::collections::HashSet<String> = store
                .query(
                    "recording notifications",
                    "INSERT INTO notifications (id, at_ms, gemeente, case_id, workflow, due, record)
                     SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                     ON CONFLICT (id) DO NOTHING RETURNING id",
                    &[&ids, &at, &gemeente, &case, &workflow, &due, &record],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect();
            // A notification recorded before keeps the deliveries it had.
            let mut routes: (Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
            for o in outgoing.iter().filter(|o| new.contains(&o.notification.id)) {
                for route in &o.channels {
                    routes.0.push(&o.notification.id);
                    routes.1.push(&route.channel);
                    routes.2.push(route.not_before.as_millisecond());
                }
            }
            if !routes.0.is_empty() {
                store.execute(
                    "recording deliveries",
                    "INSERT INTO deliveries (notification_id, channel, next_try_ms)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING",
                    &[&routes.0, &routes.1, &routes.2],
                )?;
            }
            // Two notifications with one id in one call: the first is new, as in SQLite.
            let mut seen = std::collections::HashSet::new();
            Ok(ids
                .iter()
                .map(|id| new.contains(*id) && seen.insert(*id))
                .collect())
        })
    }

    fn notifications(&self, filter: &Filter) -> Result<Vec<OutboxRow>, StoreError> {
        let (clause, values) = crate::store::rows::where_clause(filter, "due");
        let sql = format!(
            "SELECT record, status,
                    (SELECT coalesce(json_agg(json_build_object('channel', channel, 'status', status, 'attempts', attempts, 'last_error', last_error,
                                                                 'next_try_ms', CASE WHEN status = 'pending' THEN next_try_ms END) ORDER BY channel), '[]')::text
                     FROM deliveries d WHERE d.notification_id = n.id),
                    id
             FROM notification_status n {}
             ORDER BY at_ms, id LIMIT {} OFFSET {}",
            numbered(&clause, 1),
            filter.limit,
            filter.offset
        );
        let rows = self.query("listing notifications", &sql, &texts(&values))?;
        let rows = rows
            .iter()
            .map(|row| {
                let (id, record, status, deliveries): (String, &str, &str, &str) =
                    (row.get(3), row.get(0), row.get(1), row.get(2));
                crate::store::rows::outbox_row(&id, record, status, deliveries)
            })
            .collect();
        crate::store::rows::readable(rows, "notifications")
    }

    fn due(&self, channel: &str, now: Timestamp, limit: u32) -> Result<DueBatch, StoreError> {
        // What another leader claimed is not offered while its claim lasts.
        let rows = self.query(
            "reading the outbox",
            "SELECT d.notification_id, n.record, d.attempts FROM deliveries d JOIN notifications n ON n.id = d.notification_id
             WHERE d.channel = $1 AND d.status = 'pending' AND d.next_try_ms <= $2
               AND (d.claimed_until_ms IS NULL OR d.claimed_epoch IS NOT DISTINCT FROM $4
                    OR d.claimed_until_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
             ORDER BY d.next_try_ms, d.notification_id LIMIT $3",
            &[&channel, &now.as_millisecond(), &i64::from(limit), &self.epoch()],
        )?;
        let mut batch = DueBatch::default();
        for row in rows {
            let id: String = row.get(0);
            let attempts: i64 = row.get(2);
            match crate::store::rows::notification_from(&id, row.get(1)) {
                Ok(record) => batch.due.push(Due {
                    id,
                    record,
                    attempts: attempts as u32,
                }),
                Err(_) => batch.unreadable.push(id),
            }
        }
        Ok(batch)
    }

    fn delivered(&mut self, id: &str, channel: &str, at: Timestamp) -> Result<(), StoreError> {
        self.execute(
            "recording a delivery",
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $3, last_error = NULL,
                    claimed_epoch = NULL, claimed_until_ms = NULL
             WHERE notification_id = $1 AND channel = $2 AND status = 'pending'",
            &[&id, &channel, &at.to_string()],
        )?;
        Ok(())
    }

    fn delivered_all(
        &mut self,
        channel: &str,
        done: &[(String, Timestamp)],
    ) -> Result<(), StoreError> {
        if done.is_empty() {
            return Ok(());
        }
        // One statement: the log channel marks thousands of lines at once, and a round trip
        // each held a leader's ingest at a fifth of its speed.
        let ids: Vec<&str> = done.iter().map(|(id, _)| id.as_str()).collect();
        let at: Vec<String> = done.iter().map(|(_, at)| at.to_string()).collect();
        self.execute(
            "recording deliveries",
            "UPDATE deliveries d SET status = 'delivered', attempts = d.attempts + 1, delivered_at = u.at,
                    last_error = NULL, claimed_epoch = NULL, claimed_until_ms = NULL
             FROM unnest($1::text[], $2::text[]) AS u(id, at)
             WHERE d.notification_id = u.id AND d.channel = $3 AND d.status = 'pending'",
            &[&ids, &at, &channel],
        )?;
        Ok(())
    }

    fn failed(
        &mut self,
        id: &str,
        channel: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        match retry_at {
            Some(at) => self.execute(
                "recording a failed delivery",
                "UPDATE deliveries SET attempts = attempts + 1, last_error = $3, next_try_ms = $4,
                        claimed_epoch = NULL, claimed_until_ms = NULL
                 WHERE notification_id = $1 AND channel = $2",
                &[&id, &channel, &error, &at.as_millisecond()],
            )?,
            None => self.execute(
                "recording a failed delivery",
                "UPDATE deliveries SET attempts = attempts + 1, last_error = $3, status = 'dead',
                        claimed_epoch = NULL, claimed_until_ms = NULL
                 WHERE notification_id = $1 AND channel = $2",
                &[&id, &channel, &error],
            )?,
        };
        Ok(())
    }

    fn next_due(&self, channel: &str) -> Result<Option<Timestamp>, StoreError> {
        self.moment(
            "reading the outbox",
            "SELECT min(next_try_ms) FROM deliveries WHERE channel = $1 AND status = 'pending'",
            &[&channel],
        )
    }

    fn delivery_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let rows = self.query(
            "counting deliveries",
            "SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status ORDER BY channel, status",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get::<_, i64>(2) as u64))
            .collect())
    }

    fn send_again(
        &mut self,
        id: &str,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let gemeenten: Vec<&str> = scope.iter().collect();
        let rows = self.query(
            "sending a dead letter again",
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_try_ms = $2,
                    claimed_epoch = NULL, claimed_until_ms = NULL
             WHERE notification_id = $1 AND status = 'dead'
               AND notification_id IN (SELECT id FROM notifications WHERE id = $1 AND gemeente = ANY($3))
             RETURNING channel",
            &[&id, &now.as_millisecond(), &gemeenten],
        )?;
        let mut channels: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        channels.sort();
        Ok(channels)
    }

    fn log_position(&self) -> Result<Option<(String, u64)>, StoreError> {
        let rows = self.query(
            "reading the log position",
            "SELECT path, bytes FROM log_positions WHERE daemon = $1",
            &[&self.daemon],
        )?;
        Ok(rows
            .first()
            .map(|row| (row.get(0), row.get::<_, i64>(1) as u64)))
    }

    fn set_log_position(&mut self, path: &str, bytes: u64) -> Result<(), StoreError> {
        self.execute(
            "storing the log position",
            "INSERT INTO log_positions (daemon, path, bytes) VALUES ($1, $2, $3)
             ON CONFLICT (daemon) DO UPDATE SET path = excluded.path, bytes = excluded.bytes",
            &[&self.daemon, &path, &(bytes as i64)],
        )?;
        Ok(())
    }

    fn claim_deliveries(
        &mut self,
        channel: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let Some(lease) = &self.lease else {
            return Ok(ids.to_vec());
        };
        let Some(epoch) = lease.epoch() else {
            return Ok(Vec::new());
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Fenced: only while the lease of this epoch is this daemon's in the database's eyes.
        let rows = self.query(
            "claiming deliveries",
            "UPDATE deliveries SET claimed_epoch = $3,
                    claimed_until_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $5
             WHERE channel = $1 AND notification_id = ANY($2) AND status = 'pending'
               AND (claimed_until_ms IS NULL OR claimed_epoch = $3
                    OR claimed_until_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
               AND EXISTS (SELECT 1 FROM leader WHERE slot = 1 AND epoch = $3 AND holder = $4 AND expires > clock_timestamp())
             RETURNING notification_id",
            &[&channel, &ids, &epoch, &lease.me(), &CLAIM_MS],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}
