//! Process-wide settings a binary applies once at start: the OpenBLAS
//! thread count and glibc's allocator thresholds.

/// Sets the number of OpenBLAS threads for the whole process.
pub fn set_blas_threads(threads: usize) {
    extern "C" {
        fn openblas_set_num_threads(threads: std::os::raw::c_int);
    }
    let threads = threads.clamp(1, std::os::raw::c_int::MAX as usize) as std::os::raw::c_int;
    // SAFETY: the function takes a plain int and touches only OpenBLAS's
    // own thread-pool settings; the binaries call it before BLAS work.
    unsafe { openblas_set_num_threads(threads) };
}

/// Keeps freed memory in the process instead of returning it to the kernel.
///
/// Every training step allocates and frees activation and gradient arrays
/// of up to 5.8 MB. With glibc's defaults such arrays are mapped and
/// unmapped with mmap, or trimmed from the heap, on every step. Each step
/// then pays page faults on fresh zeroed pages, up to 16% of an iteration
/// in a perf profile of the training-step benchmark. Raising the mmap
/// threshold to its 64-bit maximum (32 MiB) and the trim threshold to 1 GiB
/// lets the heap reuse the pages. Returns false where the allocator is not
/// glibc's or refused a setting.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::os::raw::c_int, value: std::os::raw::c_int) -> std::os::raw::c_int;
        }
        // Values of M_TRIM_THRESHOLD and M_MMAP_THRESHOLD in glibc's malloc.h.
        const M_TRIM_THRESHOLD: std::os::raw::c_int = -1;
        const M_MMAP_THRESHOLD: std::os::raw::c_int = -3;
        // SAFETY: mallopt only changes allocator thresholds, and it is called
        // before the threads that allocate heavily start.
        unsafe { mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
