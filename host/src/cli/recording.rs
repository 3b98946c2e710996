//! Usage recording for a command's runs: the usage log, its alert watch, the
//! delivery task and the limits shared through the store with every other
//! process on it, opened together and closed in order at exit.

use super::Failure;
use llmnode::admin::run_context::RunContext;
use llmnode::alerts::deliver::DeliveryPolicy;
use llmnode::alerts::{AlertWatch, Deliveries};
use llmnode::engine::EngineOptions;
use llmnode::limits::RedisUrl;
use llmnode::store::Location;
use llmnode::usage::UsageLog;
use std::time::Duration;

/// How long an exiting command waits for alert deliveries still retrying.
const DELIVERY_GRACE: Duration = Duration::from_secs(15);

/// An open usage log and its alert deliveries.
pub struct Recording {
    log: UsageLog,
    deliveries: Deliveries,
}

impl Recording {
    /// Start recording into the store at `location` (spooling in
    /// `data_dir` what it cannot take), with limits shared through Redis at
    /// `redis` or else the store; returns the engine options for `context`.
    pub fn open(
        location: &Location,
        data_dir: Option<&std::path::Path>,
        context: RunContext,
        redis: Option<&RedisUrl>,
    ) -> Result<(Self, EngineOptions), Failure> {
        let (watch, deliveries) = AlertWatch::start(location, DeliveryPolicy::default()).map_err(Failure::input)?;
        let spool = data_dir.map(llmnode::usage::spool::Spool::in_dir);
        let log = UsageLog::open(location, Some(Box::new(watch)), spool).map_err(Failure::input)?;
        let limits = llmnode::limits::open_shared(location, redis).map_err(Failure::input)?;
        let options = context.engine_options(&log, limits);
        Ok((Recording { log, deliveries }, options))
    }

    /// Write what is queued, then wait (bounded) for alert webhooks in flight.
    pub async fn close(self) {
        self.log.close().await;
        self.deliveries.finish(DELIVERY_GRACE).await;
    }
}
