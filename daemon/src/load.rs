//! `waakvlam load`: posts events to a running daemon and measures how fast it acknowledges
//! them, for the daemon benchmarks (bench/daemon.py). Open loop when a rate is given: each
//! request is timed from the moment it was due to be sent, so a daemon that falls behind
//! shows it in the latency instead of hiding it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

pub struct LoadOptions<'a> {
    pub url: &'a str,
    pub token: &'a str,
    pub events: &'a Path,
    pub batch: usize,
    pub connections: usize,
    /// Events per second; `None`: as fast as the daemon takes them.
    pub rate: Option<f64>,
}

#[derive(Debug, serde::Serialize)]
pub struct LoadReport {
    pub events: usize,
    pub requests: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub failed_requests: usize,
}

pub async fn run(options: LoadOptions<'_>) -> anyhow::Result<LoadReport> {
    let text = std::fs::read_to_string(options.events)
        .with_context(|| format!("reading {}", options.events.display()))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let bodies: Arc<Vec<String>> = Arc::new(
        lines
            .chunks(options.batch.max(1))
            .map(|chunk| format!("[{}]", chunk.join(",")))
            .collect(),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let url = format!("{}/v1/events", options.url.trim_end_matches('/'));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..options.connections.max(1) {
        let (client, bodies, next, url) =
            (client.clone(), bodies.clone(), next.clone(), url.clone());
        let (token, batch, rate) = (options.token.to_string(), options.batch, options.rate);
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let due = match rate {
                    Some(rate) => start + Duration::from_secs_f64((i * batch) as f64 / rate),
                    None => Instant::now(),
                };
                tokio::time::sleep_until(due.into()).await;
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => failed += 1,
                }
                latencies.push(due.elapsed().as_secs_f64() * 1000.0);
            }
            (latencies, failed)
        });
    }
    let mut latencies = Vec::new();
    let mut failed_requests = 0;
    while let Some(joined) = tasks.join_next().await {
        let (mut l, f) = joined?;
        latencies.append(&mut l);
        failed_requests += f;
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(LoadReport {
        events: lines.len(),
        requests: bodies.len(),
        seconds,
        events_per_second: lines.len() as f64 / seconds,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        failed_requests,
    })
}
