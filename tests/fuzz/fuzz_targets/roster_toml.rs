#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| striae_tests::fuzz_targets::roster_toml(data));
