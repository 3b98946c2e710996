//! Several `RedisLimits` in one process stand for several daemons, against a
//! real `redis-server` each test starts on loopback.

use super::test_server::RedisServer;
use super::*;
use crate::limits::acquire;
use crate::store::workspaces;
use futures_util::future::join_all;
use std::time::Instant;

struct Fleet {
    redis: RedisServer,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    ws: i64,
    daemons: Vec<Arc<RedisLimits>>,
}

fn timing() -> Timing {
    Timing {
        hold_ttl: Duration::from_millis(1_000),
        beat: Duration::from_millis(200),
        daemon_ttl: Duration::from_millis(1_000),
        tick: Duration::from_millis(50),
        timeout: Duration::from_millis(200),
    }
}

impl Fleet {
    /// `n` daemons on one store and one Redis, each seeing all `n` live.
    async fn start(n: usize) -> Fleet {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmnode.db");
        let mut store = Store::open(&path).unwrap();
        let ws = store.transaction(|tx| workspaces::create(tx, "w", |_| Ok::<_, StoreError>(vec![0]))).unwrap().id;
        let url = RedisUrl::parse(&redis.url()).unwrap();
        let daemons: Vec<_> =
            (0..n).map(|_| RedisLimits::open_with(&url, &path.clone().into(), timing()).unwrap()).collect();
        let fleet = Fleet { redis, _dir: dir, path, ws, daemons };
        fleet
            .until("every daemon counts them all", || fleet.daemons.iter().all(|d| d.live_daemons() == n as u32))
            .await;
        fleet
    }

    fn key(&self) -> LimitKey {
        LimitKey { scope: self.ws, connection: "c".into() }
    }

    fn service(&self, i: usize) -> Arc<dyn LimitsService> {
        self.daemons[i % self.daemons.len()].clone()
    }

    /// Today's spend as Redis holds it.
    fn spent(&self) -> Option<i64> {
        let day = rule::day_of(now_ms());
        let field = self.redis.cli(&["HGET", &Keys::of(&self.key()).spent, &day.to_string()]);
        field.parse().ok()
    }

    async fn until(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn paid(cost: Nanos) -> Used {
    Used { requests: 1, tokens: 10, cost, booked: false }
}

#[tokio::test]
async fn rpm_is_exact_across_three_daemons() {
    let fleet = Fleet::start(3).await;
    let key = fleet.key();
    let limits = Limits { rpm: Some(10), ..Default::default() };
    let tries = (0..40).map(|i| {
        let (service, key) = (fleet.service(i), key.clone());
        async move { acquire(&service, &[Scoped { key: &key, limits: &limits }], Ask { tokens: 1, cost: 0 }).await }
    });
    let results = join_all(tries).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10, "exactly the limit, never one more");
    let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(refused.message.contains("10 requests per minute"), "{refused:?}");
    assert!(refused.retry_after.is_some_and(|d| d > Duration::from_secs(55)), "{refused:?}");
    // A lowered limit bites at once; a hold settled unsent gives its request back.
    let lowered = Limits { rpm: Some(9), ..limits };
    assert!(acquire(&fleet.service(0), &[Scoped { key: &key, limits: &lowered }], Ask::default()).await.is_err());
    for hold in results.into_iter().flatten() {
        hold.settle(Used { requests: 0, ..Used::default() });
    }
    fleet
        .until("the requests are given back", || {
            fleet.redis.cli(&["HVALS", &Keys::of(&key).rpm]) == "0"
                || fleet.redis.cli(&["HLEN", &Keys::of(&key).rpm]) == "0"
        })
        .await;
    assert!(acquire(&fleet.service(1), &[Scoped { key: &key, limits: &limits }], Ask::default()).await.is_ok());
}

#[tokio::test]
async fn a_64_way_burst_over_three_daemons_never_exceeds_the_budget() {
    let fleet = Fleet::start(3).await;
    let key = fleet.key();
    let limits = Limits { daily_budget_usd: Some(0.02), tpm: Some(1_000_000), ..Default::default() };
    let ask = Ask { tokens: 100, cost: 2_000_000 }; // $0.002: ten fit
    let burst = |n| {
        join_all((0..n).map(|i| {
            let (service, key) = (fleet.service(i), key.clone());
            async move { acquire(&service, &[Scoped { key: &key, limits: &limits }], ask).await }
        }))
    };
    let held = burst(64).await;
    assert_eq!(held.iter().filter(|h| h.is_ok()).count(), 10);
    let refused = held.iter().find_map(|h| h.as_ref().err()).unwrap();
    assert_eq!(refused.class, ErrorClass::QuotaExceeded, "{refused:?}");
    assert!(refused.message.contains("daily budget of $0.02"), "{refused:?}");
    for h in held.into_iter().flatten() {
        h.settle(paid(1_000_000));
    }
    fleet.until("the real costs are booked", || fleet.spent() == Some(10_000_000)).await;
    fleet.until("the holds are released", || fleet.redis.cli(&["HLEN", &Keys::of(&key).holds]) == "0").await;
    // $0.01 spent: five more fit.
    let more = burst(64).await;
    assert_eq!(more.iter().filter(|h| h.is_ok()).count(), 5);
    // The store has what no usage writer booked (these were settled `booked: false`).
    let store = Store::open(&fleet.path).unwrap();
    let (spent, _) = limit_rows::budget(store.db(), fleet.ws, "c", rule::day_of(now_ms())).unwrap();
    assert_eq!(spent, 10_000_000);
}

#[tokio::test]
async fn a_hold_expires_once_its_owner_stops_beating_and_not_before() {
    let fleet = Fleet::start(2).await;
    let key = fleet.key();
    let limits = Limits { daily_budget_usd: Some(0.01), ..Default::default() };
    let ask = Ask { tokens: 1, cost: 10_000_000 }; // the whole budget
    let (owner, other) = (fleet.service(0), fleet.service(1));
    let live = acquire(&owner, &[Scoped { key: &key, limits: &limits }], ask).await.unwrap();
    // Three TTLs on, the owner's heartbeat still holds it.
    tokio::time::sleep(timing().hold_ttl * 3).await;
    assert!(acquire(&other, &[Scoped { key: &key, limits: &limits }], ask).await.is_err(), "a live hold expired");
    // The owner dies (no more heartbeats, no goodbye): the hold goes.
    let grant = live.grant.clone();
    fleet.daemons[0].stop_beating();
    std::mem::forget(live);
    let started = Instant::now();
    let freed = loop {
        match acquire(&other, &[Scoped { key: &key, limits: &limits }], ask).await {
            Ok(h) => break h,
            Err(_) => assert!(started.elapsed() < Duration::from_secs(5), "the dead owner's hold was never released"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(started.elapsed() <= timing().hold_ttl + Duration::from_millis(500), "{:?}", started.elapsed());
    freed.settle(paid(0));
    // The dead hold settled late (say, by a retry) still books its real cost.
    fleet.daemons[1].settle(grant, paid(3_000_000));
    fleet.until("the late cost is booked", || fleet.spent() == Some(3_000_000)).await;
}

#[tokio::test]
async fn a_hold_settled_twice_books_once() {
    let fleet = Fleet::start(1).await;
    let key = fleet.key();
    let limits = Limits { daily_budget_usd: Some(1.0), ..Default::default() };
    let hold = acquire(&fleet.service(0), &[Scoped { key: &key, limits: &limits }], Ask { tokens: 1, cost: 5_000_000 })
        .await
        .unwrap();
    let grant = hold.grant.clone();
    hold.settle(Used { booked: true, ..paid(4_000_000) });
    fleet.until("the cost is booked", || fleet.spent() == Some(4_000_000)).await;
    fleet.daemons[0].settle(grant.clone(), Used { booked: true, ..paid(4_000_000) });
    fleet.daemons[0].settle(grant, Used { booked: true, ..paid(4_000_000) });
    // A third hold settles after both repeats: once it is booked, they are done.
    let probe =
        acquire(&fleet.service(0), &[Scoped { key: &key, limits: &limits }], Ask { tokens: 1, cost: 1 }).await.unwrap();
    probe.settle(Used { booked: true, ..paid(1) });
    fleet.until("the probe is booked", || fleet.spent() == Some(4_000_001)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fleet.spent(), Some(4_000_001), "a repeated settle booked again");
}

#[tokio::test]
async fn after_flushall_one_daemon_reseeds_the_day_from_the_store() {
    let fleet = Fleet::start(3).await;
    let key = fleet.key();
    let day = rule::day_of(now_ms());
    let store = Store::open(&fleet.path).unwrap();
    limit_rows::book_spend(store.db(), fleet.ws, "c", day, 7_000_000).unwrap();
    fleet.redis.cli(&["FLUSHALL"]);
    // $0.01 budget, $0.007 spent per the store: three $0.001 calls fit, not four.
    let limits = Limits { daily_budget_usd: Some(0.01), ..Default::default() };
    let ask = Ask { tokens: 1, cost: 1_000_000 };
    let results = join_all((0..30).map(|i| {
        let (service, key) = (fleet.service(i), key.clone());
        async move { acquire(&service, &[Scoped { key: &key, limits: &limits }], ask).await }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    let reseeds: u64 = fleet.daemons.iter().map(|d| d.reseeds()).sum();
    assert_eq!(reseeds, 1, "reseeded once for the fleet, not per daemon");
    assert_eq!(fleet.spent(), Some(7_000_000));
}

#[tokio::test]
async fn a_429_on_one_daemon_rests_the_connection_on_the_others() {
    let fleet = Fleet::start(3).await;
    let key = fleet.key();
    for d in &fleet.daemons {
        assert_eq!(d.breaker(&key), Admission::Allowed);
    }
    fleet.daemons[0].record(&key, Some((ErrorClass::RateLimit, Some(Duration::from_secs(20)))));
    assert!(matches!(fleet.daemons[0].breaker(&key), Admission::Open(_)), "at once where it was recorded");
    let started = Instant::now();
    fleet
        .until("the others rest it too", || {
            fleet.daemons[1..]
                .iter()
                .all(|d| matches!(d.breaker(&key), Admission::Open(w) if w > Duration::from_secs(15)))
        })
        .await;
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    // A success (a half-open probe that worked) closes it for everyone.
    fleet.daemons[2].record(&key, None);
    fleet.until("it closes everywhere", || fleet.daemons.iter().all(|d| d.breaker(&key) == Admission::Allowed)).await;
}

#[tokio::test]
async fn without_redis_budgets_refuse_and_rpm_is_shared_out_then_recovers() {
    let mut fleet = Fleet::start(3).await;
    let key = fleet.key();
    let rpm = Limits { rpm: Some(10), ..Default::default() };
    let budget = Limits { daily_budget_usd: Some(1.0), ..Default::default() };
    let ask = Ask { tokens: 1, cost: 1_000 };
    // One call through Redis before the outage.
    acquire(&fleet.service(0), &[Scoped { key: &key, limits: &rpm }], ask).await.unwrap().settle(paid(0));
    fleet.redis.kill();
    let started = Instant::now();
    let refused = acquire(&fleet.service(0), &[Scoped { key: &key, limits: &budget }], ask).await.err().unwrap();
    assert!(refused.message.contains("budget store (Redis) is unreachable"), "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "a dead Redis stalled a call: {:?}", started.elapsed());
    // Each daemon admits floor(10 / 3) = 3 on its own, and counts them.
    for d in 0..3 {
        let service = fleet.service(d);
        let scoped = [Scoped { key: &key, limits: &rpm }];
        let tries = join_all((0..6).map(|_| acquire(&service, &scoped, ask))).await;
        assert_eq!(tries.iter().filter(|t| t.is_ok()).count(), 3, "daemon {d}");
        assert_eq!(service.fallback_admissions(), 3, "daemon {d}");
        let refused = tries.iter().find_map(|t| t.as_ref().err()).unwrap();
        assert!(refused.message.contains("1 of 3 daemons"), "{refused:?}");
        for t in tries.into_iter().flatten() {
            t.settle(paid(0));
        }
    }
    // Redis comes back (empty): every daemon recovers on its own, and what
    // the fallback admitted counts in the shared window.
    fleet.redis.restart();
    let started = Instant::now();
    for d in 0..3 {
        loop {
            if let Ok(h) = acquire(&fleet.service(d), &[Scoped { key: &key, limits: &budget }], ask).await {
                h.settle(paid(1_000));
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "daemon {d} did not recover");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    fleet
        .until("the fallback's 9 are merged", || {
            fleet.redis.cli(&["HVALS", &Keys::of(&key).rpm]).lines().map(|n| n.parse::<u64>().unwrap()).sum::<u64>()
                == 9
        })
        .await;
    let services: Vec<_> = (0..3).map(|i| fleet.service(i)).collect();
    let scoped = [Scoped { key: &key, limits: &rpm }];
    let after = join_all(services.iter().map(|s| acquire(s, &scoped, ask))).await;
    assert_eq!(after.iter().filter(|h| h.is_ok()).count(), 1, "9 of 10 were used during the outage");
}
