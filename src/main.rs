fn main() -> std::process::ExitCode {
    parley::cli::main()
}
