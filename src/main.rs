use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(lvsform::cli::run())
}
