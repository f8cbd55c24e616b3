//! Tests that need an outside tool (python3 with packages, Xvfb) skip when
//! it is missing, so that `cargo test` works on a bare machine. Where the
//! test script says the environment is complete (`VIGIE_TEST_ENV=complete`,
//! set by `scripts/test.sh` once it has installed everything), a missing
//! tool fails the test instead: CI never passes a test it did not run.

/// The variable `scripts/test.sh` sets.
pub const ENV: &str = "VIGIE_TEST_ENV";

/// Whether the environment claims every test dependency is installed.
pub fn complete() -> bool {
    std::env::var(ENV).is_ok_and(|v| v == "complete")
}

/// Skips `test` for `why`, or fails it when the environment is complete.
pub fn skip(test: &str, why: &str) {
    assert!(
        !complete(),
        "{test} cannot run: {why}; {ENV}=complete says this machine has every test dependency"
    );
    eprintln!("SKIPPED {test}: {why}");
}
