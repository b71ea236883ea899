//! Facts from many real-server hosts over SSH at once: HOSTS OpenSSH servers, each in its
//! own network namespace on this machine (tests/support/netns.rs), read at PARALLELISM.
//! Needs root. `cargo bench --bench ssh -- [HOSTS] [PARALLELISM]` (default 100 and 32).

#[path = "../tests/support/netns.rs"]
mod netns;

use lvsform::host::{Host, SshHost, for_each_parallel};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let count: usize = args.next().map_or(100, |a| a.parse().expect("HOSTS"));
    let parallelism: usize = args.next().map_or(32, |a| a.parse().expect("PARALLELISM"));
    let start = Instant::now();
    let lab = netns::Lab::new(count);
    println!(
        "{count} hosts (one network namespace and sshd each) set up in {:.1}s",
        start.elapsed().as_secs_f64()
    );

    // Root's login shell on these machines sources a slow ~/.bashrc (pyenv: ~130 ms of CPU
    // per command); an account with a plain /bin/sh shows what lvsform itself costs.
    netns::ensure_test_user();
    for user in ["root", netns::TEST_USER] {
        let mut hosts: Vec<SshHost> = (0..count)
            .map(|i| {
                let mut target = lab.target(i);
                target.user = user.to_string();
                target.timeout = std::time::Duration::from_secs(60);
                SshHost::new(target)
            })
            .collect();
        let start = Instant::now();
        let results = for_each_parallel(&mut hosts, parallelism, |h| h.observe());
        let cold = start.elapsed();
        let failures: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert!(failures.is_empty(), "{failures:?}");
        let start = Instant::now();
        for_each_parallel(&mut hosts, parallelism, |h| h.observe().expect("facts"));
        let warm = start.elapsed();
        let start = Instant::now();
        for i in 0..10 {
            let mut target = lab.target(i);
            target.user = user.to_string();
            SshHost::new(target).observe().expect("facts");
        }
        let one = start.elapsed() / 10;
        println!(
            "as {user}: facts of {count} hosts at parallelism {parallelism}: {:.2}s with new sessions (goal <= 2 s), {:.2}s again on the open sessions; one host alone {:.0} ms",
            cold.as_secs_f64(),
            warm.as_secs_f64(),
            one.as_secs_f64() * 1000.0
        );
    }
}
