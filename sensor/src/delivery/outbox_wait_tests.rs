//! Outbox tests around waiting: back-pressure, shutdown, and a stalled disk.

use super::*;

fn waiting(requests: u64) -> Sealed {
    Sealed {
        requests,
        can_wait: true,
        ..Default::default()
    }
}

/// A file's batch waits for an acknowledgement to make room instead of dropping the
/// oldest; a network source's batch in the same spot drops the oldest.
#[test]
fn a_batch_that_can_wait_waits_for_room_and_drops_nothing() {
    let stats = Arc::new(SensorStats::default());
    let o = Arc::new(Outbox::new(2, stats.clone(), 1, None, Vec::new()));
    o.push(waiting(1));
    o.push(waiting(2));
    let pusher = {
        let o = o.clone();
        std::thread::spawn(move || o.push(waiting(3)))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !pusher.is_finished(),
        "the third batch waits while the outbox is full"
    );
    assert_eq!(o.len(), 2);
    let released = o.commit_through(1);
    assert_eq!(released.seqs, vec![1]);
    assert_eq!(pusher.join().unwrap(), 3);
    assert_eq!(o.len(), 2);
    assert_eq!(stats.batches_dropped.load(Relaxed), 0);
    assert_eq!(stats.outbox_waits.load(Relaxed), 1);
    // Without a waiting source, the oldest goes.
    o.push(Sealed {
        requests: 4,
        ..Default::default()
    });
    assert_eq!(stats.batches_dropped.load(Relaxed), 1);
    assert_eq!(stats.requests_dropped.load(Relaxed), 2);
}

/// At shutdown a waiting push gives up waiting, so the sensor can stop, and drops
/// nothing: the spool keeps both batches for the next run.
#[test]
fn closing_releases_a_waiting_push_and_drops_nothing() {
    let stats = Arc::new(SensorStats::default());
    let o = Arc::new(Outbox::new(1, stats.clone(), 1, None, Vec::new()));
    o.push(waiting(1));
    let pusher = {
        let o = o.clone();
        std::thread::spawn(move || o.push(waiting(2)))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pusher.is_finished());
    o.close();
    assert_eq!(pusher.join().unwrap(), 2);
    assert_eq!(stats.batches_dropped.load(Relaxed), 0);
    assert_eq!(o.len(), 2);
}

/// A spool write stalled on the disk does not stop delivery: sends, acknowledgements and
/// spool deletes go on while the push waits. The stall is a FIFO at the batch's temporary
/// path, whose open blocks until someone reads it.
#[test]
fn a_stalled_spool_write_does_not_block_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
    let stats = Arc::new(SensorStats::default());
    let o = Arc::new(Outbox::new(8, stats.clone(), 1, Some(spool), Vec::new()));
    assert_eq!(o.push(waiting(1)), 1);
    let fifo = dir.path().join(format!("{:020}-{:020}.tmp", 1, 2));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let pusher = {
        let o = o.clone();
        std::thread::spawn(move || o.push(waiting(2)))
    };
    while o.next_seq() != 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Delivery, on another thread, must get through while the write is stalled.
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let o = o.clone();
        std::thread::spawn(move || {
            let sendable: Vec<u64> = o.after(0, 10).iter().map(|p| p.seq).collect();
            let released = o.commit_through(1);
            o.unspool(&released.seqs);
            let _ = tx.send((sendable, released.seqs, o.len()));
        });
    }
    let (sendable, released, left) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("delivery blocked behind a stalled spool write");
    // The stalled batch is not sendable before it is durable.
    assert_eq!((sendable, released, left), (vec![1], vec![1], 0));
    assert!(!pusher.is_finished());
    // The disk comes back: the push completes (where a FIFO cannot be fsynced, as a counted
    // spool error; the batch stays deliverable from memory either way).
    let mut r = std::fs::File::open(&fifo).unwrap();
    let mut sink = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut sink).unwrap();
    assert_eq!(pusher.join().unwrap(), 2);
    assert_eq!(
        o.after(0, 10).iter().map(|p| p.seq).collect::<Vec<_>>(),
        [2]
    );
}
