//! Heartbeats: renew the leases of in-flight jobs and the worker's registry row.

use std::sync::Arc;

use tokio::sync::watch;
use uuid::Uuid;

use super::runtime::Shared;
use crate::store::{jobs, workers};

/// Renews leases every third of the lease length until told to stop.
pub(crate) async fn run(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let every = s.config.lease / 3;
    loop {
        tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = beat(&s).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
    }
}

async fn beat(s: &Shared) -> crate::Result<()> {
    let (ids, tokens): (Vec<i64>, Vec<Uuid>) = s
        .in_flight
        .lock()
        .expect("poisoned")
        .iter()
        .map(|(id, t)| (*id, *t))
        .unzip();
    let mut conn = s.pool.acquire().await?;
    if !ids.is_empty() {
        jobs::heartbeat(&mut conn, &ids, &tokens, s.config.lease).await?;
    }
    workers::heartbeat(&mut conn, s.id, ids.len() as i32).await
}
