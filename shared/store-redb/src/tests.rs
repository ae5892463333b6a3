use super::*;
use std::sync::Arc;

async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("open: {e}"));
    (Arc::new(store), dir)
}

beacon_store::store_contract_tests!(fresh());

fn change(n: i64) -> Item {
    Item::new(Key::new(format!("CHANGE#{n:04}"), "CHANGE"))
        .with(FEED_ATTRIBUTE, Value::Bool(true))
        .with("n", Value::N(n))
}

#[tokio::test]
async fn the_feed_delivers_committed_change_records_in_order_from_a_durable_cursor() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    {
        let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("open: {e}"));
        for n in 1..=3 {
            let other = Item::new(Key::new("OTHER", format!("{n}"))).with("n", Value::N(n));
            let writes = vec![
                Write::Put { item: change(n), condition: Condition::NotExists },
                Write::Put { item: other, condition: Condition::None },
            ];
            store.transact(writes).await.unwrap_or_else(|e| panic!("transact: {e}"));
        }
        // A refused transaction leaves no change record behind.
        let refused = store.transact(vec![Write::Put { item: change(1), condition: Condition::NotExists }]).await;
        assert!(refused.is_err());
        let first = store.read("publisher", 2).await.unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(first.iter().map(|e| e.item.num("n")).collect::<Vec<_>>(), vec![Some(1), Some(2)]);
        store.ack("publisher", first[1].position).await.unwrap_or_else(|e| panic!("ack: {e}"));
        // Not acknowledged: after a "crash" the third must come again.
        let third = store.read("publisher", 10).await.unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(third.len(), 1);
    }
    let reopened = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("reopen: {e}"));
    let again = reopened.read("publisher", 10).await.unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(again.iter().map(|e| e.item.num("n")).collect::<Vec<_>>(), vec![Some(3)]);
    // Each consumer has its own cursor.
    assert_eq!(reopened.read("notifier", 10).await.map(|e| e.len()), Ok(3));
    // Acknowledging an older position does not move the cursor back.
    reopened.ack("publisher", again[0].position).await.unwrap_or_else(|e| panic!("ack: {e}"));
    reopened.ack("publisher", 1).await.unwrap_or_else(|e| panic!("ack: {e}"));
    assert_eq!(reopened.read("publisher", 10).await.map(|e| e.len()), Ok(0));
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_folder() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let _first = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("open: {e}"));
    match RedbStore::open(dir.path()) {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("already open"), "{message}"),
        other => panic!("expected a clear refusal, got {other:?}"),
    }
}

#[test]
fn prefix_ends_are_exact() {
    assert_eq!(prefix_end(b"ab".to_vec()), Some(b"ac".to_vec()));
    assert_eq!(prefix_end(vec![b'a', 0xFF]), Some(vec![b'b']));
    assert_eq!(prefix_end(vec![0xFF, 0xFF]), None);
}
