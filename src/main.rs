use std::process::ExitCode;

fn main() -> ExitCode {
    let code = lvsform::cli::run();
    lvsform::log::debug(|| format!("peak RSS {} MiB", lvsform::log::peak_rss_mib().unwrap_or(0)));
    ExitCode::from(code)
}
