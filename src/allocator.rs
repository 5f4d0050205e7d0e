//! The server's allocator, mimalloc (see the note in Cargo.toml), told to give freed memory
//! back to the system at once.
//!
//! By default it keeps freed memory for a second before giving it back, gives back what has
//! waited only when the thread that freed it allocates again, and commits its first arena
//! eagerly. An idle server's threads hardly allocate, so it kept what a burst had freed:
//! 44–55 MiB RSS idle with the demo data, of it 20–30 MiB heap with 6 MiB in use. Both
//! settings are needed (each alone changed nothing measurable), and the arena's must be made
//! before the first allocation — hence a constructor, run by the loader before `main` and
//! before anything allocates. Figures: docs/webhooks.md, "Memory".

use std::ffi::{c_char, c_int, c_long, CStr};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The C library that `mimalloc` links, and the C library's `getenv`: the crate's bindings for
// the option calls need a dependency this build does not have, and std is not for use before
// `main`.
extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
    fn getenv(name: *const c_char) -> *const c_char;
}

/// An option of mimalloc 3's `mi_option_t` (libmimalloc-sys 0.1.49): its number, its
/// default (how it is recognised before it is changed), the environment variable an operator
/// may set it with, and the value wanted here.
struct Setting {
    number: c_int,
    default: c_long,
    variable: &'static CStr,
    wanted: c_long,
}

const SETTINGS: [Setting; 2] = [
    Setting {
        number: 4, // mi_option_arena_eager_commit
        default: 2,
        variable: c"MIMALLOC_ARENA_EAGER_COMMIT",
        wanted: 0,
    },
    Setting {
        number: 15, // mi_option_purge_delay (ms)
        default: 1000,
        variable: c"MIMALLOC_PURGE_DELAY",
        wanted: 0,
    },
];

/// Sets [`SETTINGS`] — each unless the operator set its variable, or the linked mimalloc
/// numbers its options differently (its value is not the expected default): then it is left.
extern "C" fn give_back_at_once() {
    for o in SETTINGS {
        // SAFETY: C calls with a NUL-terminated name and plain numbers; no Rust runtime needed.
        unsafe {
            if getenv(o.variable.as_ptr()).is_null() && mi_option_get(o.number) == o.default {
                mi_option_set(o.number, o.wanted);
            }
        }
    }
}

/// Run by the loader before `main` (ELF's `.init_array`), before the first allocation.
#[used]
#[link_section = ".init_array"]
static GIVE_BACK_AT_ONCE: extern "C" fn() = give_back_at_once;
