//! libFuzzer entry for `codec_head`; the checks live in `edgeward_fuzz::codec_head` so stable replay runs them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeward_fuzz::codec_head(data));
