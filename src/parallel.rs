//! Work spread over threads: real-server hosts over SSH, and the chunks of large plans.

/// Runs `work` on every item with at most `parallelism` at once; results keep the items'
/// order, and one item's failure never hides the others' results.
pub fn for_each_parallel<T: Send, R: Send>(
    items: &mut [T],
    parallelism: usize,
    work: impl Fn(&mut T) -> R + Sync,
) -> Vec<R> {
    let queue = std::sync::Mutex::new(items.iter_mut().enumerate());
    let results = std::sync::Mutex::new(Vec::with_capacity(queue.lock().unwrap().len()));
    std::thread::scope(|scope| {
        for _ in 0..parallelism.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((index, item)) = next else { break };
                    let result = work(item);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((index, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_fan_out_keeps_order_and_bounds_concurrency() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut items: Vec<u32> = (0..40).collect();
        let results = for_each_parallel(&mut items, 4, |n| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            if *n % 7 == 0 { Err(*n) } else { Ok(*n * 2) }
        });
        assert_eq!(results.len(), 40);
        assert_eq!(results[3], Ok(6));
        assert_eq!(results[14], Err(14));
        assert!(peak.load(Ordering::SeqCst) <= 4);
        assert!(peak.load(Ordering::SeqCst) > 1, "work ran in parallel");
    }
}
