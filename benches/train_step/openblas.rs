//! The OpenBLAS controls the benchmark needs: thread count and the name of
//! the kernel set it picked for this CPU.
//!
//! These are OpenBLAS extensions, not part of CBLAS, so they are declared
//! here rather than taken from `cblas-sys`. The library itself is linked by
//! `distgan` (through `blas-src` with the `openblas` feature).

use std::ffi::{c_char, c_int, CStr};

extern "C" {
    fn openblas_set_num_threads(num_threads: c_int);
    fn openblas_get_num_threads() -> c_int;
    fn openblas_get_corename() -> *const c_char;
    fn openblas_get_config() -> *const c_char;
}

/// Sets the number of threads OpenBLAS uses for later calls and returns
/// the count it reports afterwards (it caps the request at its build-time
/// maximum).
pub fn set_threads(threads: usize) -> usize {
    let requested = c_int::try_from(threads).unwrap_or(c_int::MAX);
    // SAFETY: plain setter and getter of OpenBLAS's global thread count.
    unsafe {
        openblas_set_num_threads(requested);
        usize::try_from(openblas_get_num_threads()).unwrap_or(0)
    }
}

/// Returns the name of the kernel set OpenBLAS chose for this CPU, e.g.
/// `SkylakeX`.
pub fn core_name() -> String {
    // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string.
    unsafe { owned_string(openblas_get_corename()) }
}

/// Returns OpenBLAS's build description: version, DYNAMIC_ARCH, thread
/// model.
pub fn config() -> String {
    // SAFETY: as for `core_name`, a static NUL-terminated string.
    unsafe { owned_string(openblas_get_config()) }
}

/// Copies a C string, treating a null pointer as empty.
///
/// # Safety
/// `ptr` must be null or point to a NUL-terminated string.
unsafe fn owned_string(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    CStr::from_ptr(ptr).to_string_lossy().trim().to_string()
}
