use std::process::ExitCode;

// mimalloc: plans of tens of thousands of real servers are allocation-bound, and it
// allocates and frees faster than glibc's malloc (measured with bench/apply.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let code = lvsform::log::timed("lvsform ran", lvsform::cli::run);
    lvsform::log::debug(|| format!("peak RSS {} MiB", lvsform::log::peak_rss_mib().unwrap_or(0)));
    ExitCode::from(code)
}
