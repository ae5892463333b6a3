//! The contract every [`Store`] adapter passes. Each case takes a store (shared tables
//! are fine: every case writes only to partitions of its own) and panics on a breach.
//!
//! Adapters run the whole suite with [`store_contract_tests!`](crate::store_contract_tests).

use crate::{Condition, Cursor, Item, Key, Query, Store, StoreError, Update, Value, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A partition name no other case (or earlier run against the same table) uses.
pub fn fresh_partition(case: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{case}#{}#{nanos}#{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn item(pk: &str, sk: &str, n: i64) -> Item {
    Item::new(Key::new(pk, sk)).with("n", Value::N(n)).with("data", Value::S(format!("item {sk}")))
}

async fn must<T>(what: &str, result: Result<T, StoreError>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

pub async fn put_then_get_round_trips_every_value_type(store: &dyn Store) {
    let pk = fresh_partition("roundtrip");
    let written = Item::new(Key::new(&pk, "a"))
        .with("s", Value::S("héllo \"world\"".into()))
        .with("n", Value::N(-42))
        .with("big", Value::N(i64::MAX))
        .with("t", Value::Bool(true))
        .with("f", Value::Bool(false))
        .with("b", Value::B(vec![0, 1, 2, 255]));
    must("put", store.put(written.clone(), Condition::None).await).await;
    let read = must("get", store.get(&written.key).await).await;
    assert_eq!(read, Some(written));
}

pub async fn get_of_a_missing_item_is_none(store: &dyn Store) {
    let pk = fresh_partition("missing");
    assert_eq!(must("get", store.get(&Key::new(pk, "nothing")).await).await, None);
}

pub async fn put_if_absent_refuses_an_existing_item(store: &dyn Store) {
    let pk = fresh_partition("absent");
    must("first put", store.put(item(&pk, "a", 1), Condition::NotExists).await).await;
    let second = store.put(item(&pk, "a", 2), Condition::NotExists).await;
    assert_eq!(second, Err(StoreError::ConditionFailed { index: None }));
    let kept = must("get", store.get(&Key::new(&pk, "a")).await).await;
    assert_eq!(kept.and_then(|i| i.num("n")), Some(1), "a refused put must change nothing");
    let must_exist = store.put(item(&pk, "b", 1), Condition::Exists).await;
    assert_eq!(must_exist, Err(StoreError::ConditionFailed { index: None }));
    assert_eq!(must("get", store.get(&Key::new(&pk, "b")).await).await, None);
}

pub async fn a_version_guard_admits_only_the_expected_version(store: &dyn Store) {
    let pk = fresh_partition("version");
    let v1 = item(&pk, "a", 1).with("version", Value::N(1));
    must("put v1", store.put(v1, Condition::NotExists).await).await;
    let stale = item(&pk, "a", 99).with("version", Value::N(2));
    assert_eq!(store.put(stale, Condition::version(7)).await, Err(StoreError::ConditionFailed { index: None }));
    let fresh = item(&pk, "a", 2).with("version", Value::N(2));
    must("put v2", store.put(fresh, Condition::version(1)).await).await;
    let read = must("get", store.get(&Key::new(&pk, "a")).await).await;
    assert_eq!(read.as_ref().and_then(|i| i.num("version")), Some(2));
    assert_eq!(read.and_then(|i| i.num("n")), Some(2));
    // A guard on an absent item fails: there is no version to match.
    let absent = store.put(item(&pk, "b", 1), Condition::version(1)).await;
    assert_eq!(absent, Err(StoreError::ConditionFailed { index: None }));
}

pub async fn update_creates_sets_removes_and_adds(store: &dyn Store) {
    let pk = fresh_partition("update");
    let key = Key::new(&pk, "counter");
    let created = must(
        "create by update",
        store.update(Update::new(key.clone()).set("name", Value::S("x".into())).add("hits", 5)).await,
    )
    .await;
    assert_eq!(created.num("hits"), Some(5));
    assert_eq!(created.str("name"), Some("x"));
    let changed = must(
        "update",
        store
            .update(
                Update::new(key.clone())
                    .add("hits", 2)
                    .remove("name")
                    .when(Condition::Equals("hits".into(), Value::N(5))),
            )
            .await,
    )
    .await;
    assert_eq!(changed.num("hits"), Some(7));
    assert_eq!(changed.get("name"), None);
    assert_eq!(must("get", store.get(&key).await).await, Some(changed.clone()));
    let refused =
        store.update(Update::new(key.clone()).add("hits", 1).when(Condition::Equals("hits".into(), Value::N(5)))).await;
    assert_eq!(refused, Err(StoreError::ConditionFailed { index: None }));
    assert_eq!(must("get", store.get(&key).await).await, Some(changed), "a refused update must change nothing");
    let on_absent = store.update(Update::new(Key::new(&pk, "none")).add("hits", 1).when(Condition::Exists)).await;
    assert_eq!(on_absent, Err(StoreError::ConditionFailed { index: None }));
    assert_eq!(must("get", store.get(&Key::new(&pk, "none")).await).await, None);
}

pub async fn delete_honours_its_condition(store: &dyn Store) {
    let pk = fresh_partition("delete");
    must("put", store.put(item(&pk, "a", 1).with("version", Value::N(3)), Condition::None).await).await;
    let refused = store.delete(&Key::new(&pk, "a"), Condition::version(2)).await;
    assert_eq!(refused, Err(StoreError::ConditionFailed { index: None }));
    assert!(must("get", store.get(&Key::new(&pk, "a")).await).await.is_some());
    must("delete", store.delete(&Key::new(&pk, "a"), Condition::version(3)).await).await;
    assert_eq!(must("get", store.get(&Key::new(&pk, "a")).await).await, None);
    // Deleting what is not there is fine, unless the condition needs it.
    must("delete absent", store.delete(&Key::new(&pk, "a"), Condition::None).await).await;
    let needs_it = store.delete(&Key::new(&pk, "a"), Condition::Exists).await;
    assert_eq!(needs_it, Err(StoreError::ConditionFailed { index: None }));
}

pub async fn a_transaction_lands_whole(store: &dyn Store) {
    let pk = fresh_partition("txn-ok");
    must("seed", store.put(item(&pk, "gone", 0), Condition::None).await).await;
    must("seed", store.put(item(&pk, "checked", 0).with("version", Value::N(4)), Condition::None).await).await;
    let writes = vec![
        Write::Put { item: item(&pk, "new", 1), condition: Condition::NotExists },
        Write::Update(Update::new(Key::new(&pk, "counter")).add("n", 3)),
        Write::Delete { key: Key::new(&pk, "gone"), condition: Condition::Exists },
        Write::Check { key: Key::new(&pk, "checked"), condition: Condition::version(4) },
    ];
    must("transact", store.transact(writes).await).await;
    assert!(must("get", store.get(&Key::new(&pk, "new")).await).await.is_some());
    assert_eq!(must("get", store.get(&Key::new(&pk, "counter")).await).await.and_then(|i| i.num("n")), Some(3));
    assert_eq!(must("get", store.get(&Key::new(&pk, "gone")).await).await, None);
}

pub async fn a_transaction_with_one_failing_condition_writes_nothing(store: &dyn Store) {
    let pk = fresh_partition("txn-fail");
    must("seed", store.put(item(&pk, "guarded", 0).with("version", Value::N(1)), Condition::None).await).await;
    let writes = vec![
        Write::Put { item: item(&pk, "new", 1), condition: Condition::NotExists },
        Write::Update(Update::new(Key::new(&pk, "counter")).add("n", 3)),
        Write::Delete { key: Key::new(&pk, "guarded"), condition: Condition::None },
        Write::Check { key: Key::new(&pk, "other"), condition: Condition::Exists },
    ];
    assert_eq!(store.transact(writes).await, Err(StoreError::ConditionFailed { index: Some(3) }));
    assert_eq!(must("get", store.get(&Key::new(&pk, "new")).await).await, None);
    assert_eq!(must("get", store.get(&Key::new(&pk, "counter")).await).await, None);
    assert!(must("get", store.get(&Key::new(&pk, "guarded")).await).await.is_some());
}

pub async fn transactions_keep_dynamodb_limits(store: &dyn Store) {
    let pk = fresh_partition("txn-limits");
    let hundred: Vec<_> = (0..100)
        .map(|i| Write::Put { item: item(&pk, &format!("{i:03}"), i), condition: Condition::NotExists })
        .collect();
    must("100 writes", store.transact(hundred).await).await;
    let too_many: Vec<_> =
        (0..101).map(|i| Write::Put { item: item(&pk, &format!("x{i:03}"), i), condition: Condition::None }).collect();
    assert!(matches!(store.transact(too_many).await, Err(StoreError::Invalid(_))));
    let twice = vec![
        Write::Put { item: item(&pk, "dup", 1), condition: Condition::None },
        Write::Update(Update::new(Key::new(&pk, "dup")).add("n", 1)),
    ];
    assert!(matches!(store.transact(twice).await, Err(StoreError::Invalid(_))));
    assert_eq!(must("get", store.get(&Key::new(&pk, "dup")).await).await, None);
    assert_eq!(must("get", store.get(&Key::new(&pk, "x000")).await).await, None);
}

pub async fn items_over_the_size_limit_or_with_reserved_names_are_refused(store: &dyn Store) {
    let pk = fresh_partition("limits");
    let huge = Item::new(Key::new(&pk, "huge")).with("data", Value::S("x".repeat(401 * 1024)));
    assert!(matches!(store.put(huge, Condition::None).await, Err(StoreError::Invalid(_))));
    let reserved = Item::new(Key::new(&pk, "r")).with("pk", Value::S("other".into()));
    assert!(matches!(store.put(reserved, Condition::None).await, Err(StoreError::Invalid(_))));
    let empty_sk = Item::new(Key::new(&pk, ""));
    assert!(matches!(store.put(empty_sk, Condition::None).await, Err(StoreError::Invalid(_))));
    assert_eq!(must("query", store.query(Query::partition(&pk)).await).await.items, vec![]);
}

async fn seed_partition(store: &dyn Store, pk: &str, sks: &[&str]) {
    let writes = sks
        .iter()
        .enumerate()
        .map(|(i, sk)| Write::Put { item: item(pk, sk, i as i64), condition: Condition::None })
        .collect();
    must("seed", store.transact(writes).await).await;
}

fn sort_keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.sk.as_str()).collect()
}

pub async fn queries_read_a_prefix_in_order_both_ways(store: &dyn Store) {
    let pk = fresh_partition("prefix");
    let other = fresh_partition("prefix-other");
    seed_partition(store, &pk, &["U#03", "A", "U#01", "C#01", "U#02", "U", "V"]).await;
    seed_partition(store, &other, &["U#00"]).await;
    let up = must("query", store.query(Query::partition(&pk).prefix("U#")).await).await;
    assert_eq!(sort_keys(&up.items), vec!["U#01", "U#02", "U#03"]);
    assert_eq!(up.next, None);
    let down = must("query", store.query(Query::partition(&pk).prefix("U#").descending()).await).await;
    assert_eq!(sort_keys(&down.items), vec!["U#03", "U#02", "U#01"]);
    let all = must("query", store.query(Query::partition(&pk)).await).await;
    assert_eq!(sort_keys(&all.items), vec!["A", "C#01", "U", "U#01", "U#02", "U#03", "V"]);
    assert_eq!(all.items[0], item(&pk, "A", 1));
}

pub async fn queries_read_an_inclusive_range(store: &dyn Store) {
    let pk = fresh_partition("range");
    seed_partition(store, &pk, &["2024-01-01", "2024-01-15", "2024-02-01", "2024-02-29", "2024-03-01"]).await;
    let feb = must("query", store.query(Query::partition(&pk).between("2024-01-15", "2024-02-29")).await).await;
    assert_eq!(sort_keys(&feb.items), vec!["2024-01-15", "2024-02-01", "2024-02-29"]);
    let newest = must(
        "query",
        store.query(Query::partition(&pk).between("2024-01-15", "2024-02-29").descending().limit(1)).await,
    )
    .await;
    assert_eq!(sort_keys(&newest.items), vec!["2024-02-29"]);
    assert!(newest.next.is_some());
}

pub async fn cursors_page_through_everything_exactly_once(store: &dyn Store) {
    let pk = fresh_partition("pages");
    let keys: Vec<String> = (0..23).map(|i| format!("E#{i:04}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    seed_partition(store, &pk, &refs).await;
    for descending in [false, true] {
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        for _ in 0..10 {
            let mut q = Query::partition(&pk).prefix("E#").limit(5).after(cursor.clone());
            q.descending = descending;
            let page = must("query page", store.query(q).await).await;
            assert!(page.items.len() <= 5);
            seen.extend(page.items.iter().map(|i| i.key.sk.clone()));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        let mut expected = keys.clone();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "descending={descending}");
    }
    let bad = store.query(Query::partition(&pk).after(Some(Cursor::from_token("%%%")))).await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))));
}

/// Fifty writers race to create the same item: exactly one wins, every other gets a
/// condition failure, and the stored item is the winner's.
pub async fn racing_creators_produce_exactly_one_winner(store: Arc<dyn Store>) {
    let pk = fresh_partition("race");
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            let pk = pk.clone();
            tokio::spawn(async move { (n, store.put(item(&pk, "one", n), Condition::NotExists).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (n, result) = task.await.unwrap_or_else(|e| panic!("task: {e}"));
        match result {
            Ok(()) => winners.push(n),
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = must("get", store.get(&Key::new(&pk, "one")).await).await;
    assert_eq!(stored.and_then(|i| i.num("n")), Some(winners[0]));
}

/// Writers increment a versioned counter by read-modify-write with a version guard,
/// retrying on conflict: no increment is lost.
pub async fn version_guarded_writers_lose_no_update(store: Arc<dyn Store>) {
    let pk = fresh_partition("counter");
    let key = Key::new(&pk, "c");
    must("seed", store.put(Item::new(key.clone()).with("version", Value::N(0)), Condition::None).await).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move {
                for _ in 0..500 {
                    let current = store.get(&key).await?.and_then(|i| i.num("version")).unwrap_or_default();
                    let next = Item::new(key.clone()).with("version", Value::N(current + 1));
                    let cond = Condition::Equals("version".into(), Value::N(current));
                    match store.transact(vec![Write::Put { item: next, condition: cond }]).await {
                        Ok(()) => return Ok(()),
                        Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                            tokio::task::yield_now().await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(StoreError::Unavailable("gave up after 500 tries".into()))
            })
        })
        .collect();
    for task in tasks {
        must("writer", task.await.unwrap_or_else(|e| panic!("task: {e}"))).await;
    }
    let stored = must("get", store.get(&key).await).await;
    assert_eq!(stored.and_then(|i| i.num("version")), Some(20));
}

/// Runs every contract case as its own test. `$make` is an async expression that
/// yields `Arc<dyn Store>` (plus anything that must live as long, as a tuple's second
/// element, e.g. a temporary folder).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@borrowed $make;
            put_then_get_round_trips_every_value_type,
            get_of_a_missing_item_is_none,
            put_if_absent_refuses_an_existing_item,
            a_version_guard_admits_only_the_expected_version,
            update_creates_sets_removes_and_adds,
            delete_honours_its_condition,
            a_transaction_lands_whole,
            a_transaction_with_one_failing_condition_writes_nothing,
            transactions_keep_dynamodb_limits,
            items_over_the_size_limit_or_with_reserved_names_are_refused,
            queries_read_a_prefix_in_order_both_ways,
            queries_read_an_inclusive_range,
            cursors_page_through_everything_exactly_once
        );
        $crate::store_contract_tests!(@shared $make;
            racing_creators_produce_exactly_one_winner,
            version_guarded_writers_lose_no_update
        );
    };
    (@borrowed $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, _guard) = $make.await;
                $crate::contract::$case(store.as_ref()).await;
            }
        )*
    };
    (@shared $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, _guard) = $make.await;
                $crate::contract::$case(store).await;
            }
        )*
    };
}
