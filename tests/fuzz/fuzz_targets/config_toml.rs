#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| striae_tests::fuzz_targets::config_toml(data));
