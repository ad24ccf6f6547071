fn main() -> std::process::ExitCode {
    waakvlam::cli::main()
}
