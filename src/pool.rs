//! A small scoped thread pool: `f` over a list on up to N threads, results in order. The
//! estimates of a run, `check`'s clients and a mass restore's DLEs share it.

use std::sync::Mutex;

/// `f` over `items` on up to `n` threads, results in order (estimates).
pub fn par_map<T: Sync, R: Send>(items: &[T], n: u32, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..(n as usize).clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = items.get(k) else { break };
                    let r = f(item);
                    out.lock().unwrap()[k] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}
