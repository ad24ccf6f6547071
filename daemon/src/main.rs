#![forbid(unsafe_code)]

// mimalloc: the engine and the event reader allocate many small objects (event data, instance
// state, notification records); with glibc's allocator half of `simulate`'s time went to
// malloc and free. See ARCHITECTURE.md, "Dependencies".
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    waakvlam::cli::main()
}
